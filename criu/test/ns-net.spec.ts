// A tree in a network namespace of its own, empty but for lo (ns/net.ts): progs/nsnet.c moves
// into a new one (unshare(CLONE_NEWNET)), sets lo up with MTU 16000 and two addresses, changes
// net sysctls, listens on TCP and binds UDP on those addresses; it is dumped (the images checked
// with crit), restored into a new namespace, dumped and restored again, and checks everything at
// SIGTERM. Its break mode FAILs. --empty-ns net (the namespace set up by an action script),
// --join-ns net:PATH, the network-lock / network-unlock notifications at CRIU's moments with the
// namespace locked between them; a link, a route or a firewall table of its own is refused by
// name and the tree runs on, unlocked.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeImage, readSingle } from '../src/images/index.js';
import { loadImages } from '../src/restore/images.js';
import { planNamespaces } from '../src/ns/index.js';
import { repo, criu, criuBin, run, tmpdir, waitFile, waitGone, verdict, alive, fixtures } from './lib.js';
import { startProg, dumpRestore, decodeEntries } from './ns-lib.js';

const bin = path.join(os.tmpdir(), 'criu-ts-nsnet');

test.beforeAll(() => {
  execFileSync('gcc', ['-O1', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'progs', 'nsnet.c')]);
});

async function start(mode: string, brk = false): Promise<{ pid: number; out: string; dir: string }> {
  return startProg(`nsnet-${mode}`, (out, pidfile) => [bin, out, pidfile, mode, ...(brk ? ['break'] : [])]);
}

const decode = decodeEntries;
/** a command in the network namespace of task pid */
const inNs = (pid: number, cmd: string[]): string => {
  const r = spawnSync('nsenter', [`--net=/proc/${pid}/ns/net`, '--', ...cmd], { encoding: 'utf8' });
  return r.stdout + r.stderr;
};
const hostTables = (): string => spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout;
const hostLoMtu = (): string => fs.readFileSync('/sys/class/net/lo/mtu', 'utf8');
const kill = async (pid: number): Promise<void> => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await waitGone(pid);
};

test('a tree in its own network namespace (lo, addresses, sysctls, TCP and UDP sockets) is dumped to CRIU images and restored, twice', async () => {
  test.setTimeout(90_000);
  const hostNet = fs.readlinkSync('/proc/self/ns/net');
  const mtu = hostLoMtu();
  const { pid, out, dir } = await start('plain');
  try {
    for (let i = 0; i < 2; i++) {
      const img = path.join(dir, `img${i}`);
      const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
      expect(d.code, d.stderr).toBe(0);
      const ids = decode(img, `ids-${pid}.img`)[0] as Record<string, number>;
      const inv = decode(img, 'inventory.img')[0] as { root_ids: Record<string, number>; network_lock_method?: number; dump_criu_run_id: string };
      expect(ids.net_ns_id).not.toBe(inv.root_ids.net_ns_id);
      const id = ids.net_ns_id;
      const lo = decode(img, `netdev-${id}.img`);
      expect(lo).toHaveLength(1);
      expect(lo[0]).toMatchObject({ type: 'LOOPBACK', ifindex: 1, mtu: 16000, name: 'lo', peer_ifindex: 1, peer_nsid: id });
      expect(Number(lo[0].flags) & 1).toBe(1); // IFF_UP
      expect((lo[0].conf4 as unknown[]).length).toBe(30);
      expect((lo[0].conf6 as unknown[]).length).toBe(42);
      const ns = decode(img, `netns-${id}.img`)[0] as Record<string, { type: string; iarg?: number; sarg?: string }[]>;
      expect(ns.unix_conf).toEqual([{ type: 'CTL_32', iarg: 77 }]);
      expect(ns.ipv4_sysctl).toEqual([{ type: 'CTL_STR', sarg: '100\t200' }]);
      expect(ns.all_conf4[15]).toEqual({ type: 'CTL_32', iarg: 1 }); // log_martians
      expect((lo[0].conf4 as { iarg?: number }[])[0].iarg).toBe(1); // accept_local
      expect((lo[0].conf6 as { iarg?: number }[])[19].iarg).toBe(33); // hop_limit
      // the raw outputs of the tools CRIU runs inside, the dump's own lock in the firewall's
      for (const n of ['ifaddr', 'route', 'route6', 'rule', 'iptables', 'ip6tables', 'nftables', 'netns-ct', 'netns-exp'])
        expect(fs.existsSync(path.join(img, `${n}-${id}.img`)), n).toBe(true);
      expect(fs.readFileSync(path.join(img, `ifaddr-${id}.img`)).includes(Buffer.from([10, 77, 0, 1]))).toBe(true);
      expect(fs.readFileSync(path.join(img, `nftables-${id}.img`), 'utf8')).toMatch(/^table inet CRIU-[0-9a-f-]+ \{[\s\S]*policy drop;/);
      expect(inv.network_lock_method).toBe(1); // NETWORK_LOCK_NFTABLES

      await waitGone(pid);
      const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
      const rlog = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
      expect(r.code, rlog).toBe(0);
      expect(rlog).toMatch(/net namespace \d+ restored: lo up mtu 16000/);
      expect(alive(pid)).toBe(true);
      expect(fs.readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(hostNet);
      // unlocked, and nothing of it in the tool's namespace
      expect(inNs(pid, ['nft', 'list', 'ruleset'])).not.toMatch(/CRIU/);
      expect(hostTables()).not.toContain(`CRIU-${inv.dump_criu_run_id}`);
      expect(hostLoMtu()).toBe(mtu);
    }
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill(pid);
  }
});

test('break mode: an MTU changed after the restore FAILs', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('plain', true);
  try {
    const img = path.join(dir, 'img');
    await dumpRestore(pid, img);
    expect(await verdict(pid, out)).toBe('FAIL');
    expect(fs.readFileSync(out, 'utf8')).toMatch(/FAIL: lo mtu 1500/);
  } finally {
    await kill(pid);
  }
});

/** an action script that logs "ACTION LOCKED" (LOCKED: whether the tree's namespace holds the dump's lock) and runs `setup` at setup-namespaces */
function script(dir: string, setup = ''): { file: string; log: string } {
  const file = path.join(dir, 'script'),
    log = path.join(dir, 'actions');
  fs.writeFileSync(
    file,
    `#!/bin/sh
n="nsenter --net=/proc/$CRTOOLS_INIT_PID/ns/net --"
l=$($n nft list tables 2>/dev/null | grep -c 'inet CRIU-')
echo "$CRTOOLS_SCRIPT_ACTION $l" >> ${log}
[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] && { ${setup || 'true'}; }
exit 0
`,
    { mode: 0o755 },
  );
  return { file, log };
}
const actions = (log: string): string[] => fs.readFileSync(log, 'utf8').trim().split('\n');

test('network-lock and network-unlock at CRIU moments: the namespace is locked between them (dump -R, dump, restore)', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('plain');
  try {
    const s = script(dir);
    const d1 = criu(['dump', '-R', '-t', String(pid), '-D', path.join(dir, 'img-r'), '--action-script', s.file]);
    expect(d1.code, d1.stderr).toBe(0);
    // -R: unlocked again before it runs on
    expect(actions(s.log)).toEqual(['pre-dump 0', 'network-lock 0', 'post-dump 1', 'network-unlock 1']);
    expect(inNs(pid, ['nft', 'list', 'tables'])).not.toMatch(/CRIU/);
    fs.unlinkSync(s.log);
    const img = path.join(dir, 'img');
    const d2 = criu(['dump', '-t', String(pid), '-D', img, '--action-script', s.file]);
    expect(d2.code, d2.stderr).toBe(0);
    expect(actions(s.log)).toEqual(['pre-dump 0', 'network-lock 0', 'post-dump 1']);
    fs.unlinkSync(s.log);
    await waitGone(pid);
    const r = criu(['restore', '-D', img, '-d', '--action-script', s.file]);
    expect(r.code, r.stderr).toBe(0);
    // the lock comes back with the firewall images (after setup-namespaces, which CRIU runs before the
    // namespaces' contents are restored) and goes right before the tree runs
    expect(actions(s.log)).toEqual([
      'pre-restore 0',
      'setup-namespaces 0',
      'post-setup-namespaces 1',
      'post-restore 1',
      'network-unlock 1',
      'pre-resume 0',
      'post-resume 0',
    ]);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill(pid);
  }
});

const setupLo = (pid: string): string =>
  `nsenter --net=/proc/${pid}/ns/net -- sh -c 'ip link set lo up && ip addr add 10.77.0.1/24 dev lo && ip addr add fd00::77/64 dev lo nodad'`;

test('--empty-ns net: a new namespace whose images are not restored, set up by the setup-namespaces script, locked until the tree runs; a dump with --empty-ns net', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('empty');
  try {
    const img = path.join(dir, 'img');
    expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
    await waitGone(pid);
    const s = script(dir, setupLo('$CRTOOLS_INIT_PID'));
    const r = criu(['restore', '-D', img, '-d', '--empty-ns', 'net', '--action-script', s.file, '-v4', '-o', 'restore.log']);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toMatch(/net namespace \d+ made empty \(--empty-ns\)/);
    // made again between the two namespace notifications (the images were not restored)
    expect(actions(s.log)).toEqual([
      'pre-restore 0',
      'setup-namespaces 0',
      'post-setup-namespaces 1',
      'post-restore 1',
      'network-unlock 1',
      'pre-resume 0',
      'post-resume 0',
    ]);
    expect(inNs(pid, ['cat', '/proc/sys/net/unix/max_dgram_qlen']).trim()).toBe('10');
    // dumped with --empty-ns net: the namespace's images hold nothing (as CRIU writes them), restored without the option
    const img2 = path.join(dir, 'img2');
    const d2 = criu(['dump', '-t', String(pid), '-D', img2, '--empty-ns', 'net']);
    expect(d2.code, d2.stderr).toBe(0);
    const id = (decode(img2, `ids-${pid}.img`)[0] as Record<string, number>).net_ns_id;
    expect(decode(img2, `netns-${id}.img`)).toEqual([]);
    expect(decode(img2, `netdev-${id}.img`)).toEqual([]);
    expect(fs.statSync(path.join(img2, `ifaddr-${id}.img`)).size).toBe(0);
    await waitGone(pid);
    fs.unlinkSync(s.log);
    const r2 = criu(['restore', '-D', img2, '-d', '--action-script', s.file, '-v4', '-o', 'restore.log']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(fs.readFileSync(path.join(img2, 'restore.log'), 'utf8')).toMatch(/the images hold an empty network namespace \(dumped with --empty-ns net\)/);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill(pid);
  }
});

test('--join-ns net:PATH: the restored root joins an existing namespace, whose contents are left alone', async () => {
  test.setTimeout(60_000);
  const name = `criu-ts-join-${process.pid}`;
  execFileSync('ip', ['netns', 'add', name]);
  const file = `/run/netns/${name}`;
  const { pid, out, dir } = await start('empty');
  try {
    execFileSync('ip', [
      'netns',
      'exec',
      name,
      'sh',
      '-c',
      'ip link set lo up && ip addr add 10.77.0.1/24 dev lo && ip addr add fd00::77/64 dev lo nodad && echo 55 > /proc/sys/net/unix/max_dgram_qlen',
    ]);
    const img = path.join(dir, 'img');
    expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
    await waitGone(pid);
    // bad input, refused before anything is made: not a namespace file, a kind it does not join
    expect(criu(['restore', '-D', img, '-d', '--join-ns', 'net:/etc/hostname']).stderr).toMatch(
      /--join-ns net:\/etc\/hostname: \/etc\/hostname is not a net namespace/,
    );
    expect(criu(['restore', '-D', img, '-d', '--join-ns', `mnt:${file}`]).stderr).toMatch(/not supported yet: --join-ns mnt/);
    expect(alive(pid)).toBe(false);
    const r = criu(['restore', '-D', img, '-d', '--join-ns', `net:${file}`, '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toBe(0);
    expect(fs.statSync(`/proc/${pid}/ns/net`).ino).toBe(fs.statSync(file).ino);
    expect(inNs(pid, ['cat', '/proc/sys/net/unix/max_dgram_qlen']).trim()).toBe('55');
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill(pid);
    execFileSync('ip', ['netns', 'delete', name]);
  }
});

for (const [mode, what] of [
  ['link', /not supported yet: task (\d+): its network namespace has the link criu-ts-ifb0 \(ifb, ifindex \d+\)/],
  ['route', /not supported yet: task (\d+): its network namespace has an IPv4 route 10\.88\.0\.0\/16 dev lo table 100 proto boot/],
] as const) {
  test(`a ${mode} of its own is refused by name; the tree runs on, unlocked`, async () => {
    test.setTimeout(60_000);
    const { pid, out, dir } = await start(mode);
    try {
      const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
      expect(d.code).not.toBe(0);
      expect(d.stderr).toMatch(what);
      expect(what.exec(d.stderr)![1]).toBe(String(pid));
      expect(alive(pid)).toBe(true);
      expect(inNs(pid, ['nft', 'list', 'tables'])).not.toMatch(/CRIU/);
      expect(await verdict(pid, out)).toBe('PASS');
    } finally {
      await kill(pid);
    }
  });
}

test('--tcp-established: a connection between two sockets of the tree in its own network namespace is repaired there, locked with the namespace', async () => {
  test.setTimeout(60_000);
  const dir = tmpdir('nsnet-tcp');
  const prog = path.join(dir, 'tcp.py'),
    out = path.join(dir, 'out');
  fs.writeFileSync(
    prog,
    `import socket, os, sys, time, signal, subprocess
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
if os.fork(): sys.exit(0)
os.setsid()
for f in (0, 1, 2): os.close(f); os.open("/dev/null", os.O_RDWR)
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("127.0.0.1", 7070)); l.listen(1)
c = socket.create_connection(("127.0.0.1", 7070)); a, _ = l.accept()
c.sendall(b"before")
done = []
signal.signal(signal.SIGTERM, lambda *x: done.append(1))
open("${out}.pid", "w").write("%d\\n" % os.getpid())
while not done: signal.pause()
got = a.recv(100)
c.sendall(b"after"); time.sleep(0.1); got2 = a.recv(100)
open("${out}", "w").write("PASS\\n" if got == b"before" and got2 == b"after" else "FAIL %r %r\\n" % (got, got2))
`,
  );
  execFileSync('unshare', ['--net', 'python3', prog]);
  const pid = Number((await waitFile(`${out}.pid`)).trim());
  try {
    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '--tcp-established', '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    const dlog = fs.readFileSync(path.join(img, 'dump.log'), 'utf8');
    expect(dlog).toMatch(/Locked the network namespace \/proc\/\d+\/ns\/net \(nftables\)/);
    // no lock of its own in the tool's namespace
    expect(dlog).not.toMatch(/Locked 127\.0\.0\.1:\d+ - 127\.0\.0\.1:\d+ connection/);
    await waitGone(pid);
    const r = criu(['restore', '-D', img, '-d', '--tcp-established']);
    expect(r.code, r.stderr).toBe(0);
    expect(hostTables()).not.toContain(`CRIU-${(decode(img, 'inventory.img')[0] as { dump_criu_run_id: string }).dump_criu_run_id}`);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill(pid);
  }
});

test('the plan: a root in its own network namespace is made with CLONE_NEWNET; --empty-ns reads no image, --join-ns none of that kind; bad values refused', () => {
  const dir = tmpdir('ns-net-plan');
  fs.cpSync(path.join(fixtures, 'tree'), dir, { recursive: true });
  const pids = loadImages(dir).tasks.map((t) => t.pid);
  for (const p of pids) {
    const ids = readSingle<Record<string, unknown>>(path.join(dir, `ids-${p}.img`));
    writeImage(dir, `ids-${p}.img`, [{ ...ids, net_ns_id: 12 }]);
  }
  expect(() => planNamespaces(loadImages(dir))).toThrow(/netns-12.img/);
  const empty = planNamespaces(loadImages(dir), { emptyNs: ['net'] });
  expect(empty.cloneFlags).toBe(0x40000000n);
  expect(empty.items.map((i) => [i.kind.name, i.id, i.empty])).toEqual([['net', 12, true]]);
  const joined = planNamespaces(loadImages(dir), { joinNs: ['net:/proc/self/ns/net'] });
  expect(joined.cloneFlags).toBe(0n);
  expect(joined.items).toEqual([]);
  expect(joined.join?.map((j) => [j.kind, j.path])).toEqual([['net', '/proc/self/ns/net']]);
  for (const j of joined.join ?? []) fs.closeSync(j.fd);
  expect(() => planNamespaces(loadImages(dir), { emptyNs: ['pid'] })).toThrow(/not supported yet: --empty-ns pid/);
  expect(() => planNamespaces(loadImages(dir), { joinNs: ['net'] })).toThrow(/--join-ns net: NS:PID\|PATH expected/);
  expect(() => planNamespaces(loadImages(dir), { joinNs: ['user:1,0,0'] })).toThrow(/not supported yet: --join-ns user/);
  expect(() => planNamespaces(loadImages(dir), { joinNs: [`net:${process.pid}`, `net:${process.pid}`] })).toThrow(/net namespace given twice/);
  expect(() => planNamespaces(loadImages(dir), { joinNs: ['uts:/proc/self/ns/net'] })).toThrow(/is not a uts namespace/);
});

/** a TCP connection from the tool's namespace to host:port, true once it is accepted */
async function connects(host: string, port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 3000 }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.on('timeout', () => (s.destroy(), resolve(false)));
  });
}
const ip = (args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const ipMay = (args: string[]): void => void spawnSync('ip', args);

test('a veth whose peer is outside: dumped as CRIU does (no peer_nsid), restored with the peer named by --external veth[]/--veth-pair, into a bridge with @BRIDGE', async () => {
  test.setTimeout(90_000);
  const tag = String(process.pid % 10000);
  const [h0, c0, h1, br] = ['h0', 'c0', 'h1', 'br'].map((x) => `cts${x}${tag}`);
  const cleanup = () => [h0, h1, br].forEach((l) => ipMay(['link', 'del', l]));
  cleanup();
  const { pid, out, dir } = await start('plain');
  try {
    // the peer outside, the container's end inside with an address and a default route
    ip(['link', 'add', h0, 'type', 'veth', 'peer', 'name', c0, 'mtu', '1450', 'netns', `/proc/${pid}/ns/net`]);
    ip(['addr', 'add', '10.57.0.1/24', 'dev', h0]);
    ip(['link', 'set', h0, 'up']);
    inNs(pid, ['sh', '-c', `ip addr add 10.57.0.2/24 dev ${c0} && ip link set ${c0} up && ip route add default via 10.57.0.1`]);
    ip(['route', 'add', '10.77.0.1/32', 'via', '10.57.0.2']);
    expect(await connects('10.77.0.1', 7777)).toBe(true);

    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log', '--skip-in-flight']); // the probes' connections were never accepted
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    const id = fs.readdirSync(img).find((f) => /^netdev-\d+\.img$/.test(f))!;
    const links = decode(img, id) as unknown as { type: string; name: string; mtu: number; peer_nsid?: number; address?: string }[];
    const veth = links.find((l) => l.name === c0)!;
    expect(veth).toMatchObject({ type: 'VETH', mtu: 1450 });
    expect(veth.peer_nsid).toBeUndefined();
    expect(veth.address).toBeTruthy();
    expect(fs.readFileSync(path.join(img, 'dump.log'), 'utf8')).toContain(`The ${c0} veth is in an external netns`);
    cleanup();

    // no name for the peer: refused, naming the options, and nothing is left
    let r = criu(['restore', '-D', img, '-d']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`veth ${c0}`);
    expect(r.stderr).toContain(`--external veth[${c0}]:NAME[@BRIDGE] or --veth-pair ${c0}=NAME`);
    expect(alive(pid)).toBe(false);

    // --external veth[IN]:OUT: the peer made here; with an address it serves again
    r = criu(['restore', '-D', img, '-d', '--external', `veth[${c0}]:${h1}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(inNs(pid, ['ip', '-o', 'link', 'show', c0])).toMatch(new RegExp(`${c0}@if\\d+: <[^>]*UP[^>]*> mtu 1450 `));
    ip(['addr', 'add', '10.57.0.1/24', 'dev', h1]);
    ip(['link', 'set', h1, 'up']);
    ip(['route', 'add', '10.77.0.1/32', 'via', '10.57.0.2']);
    expect(await connects('10.77.0.1', 7777)).toBe(true);
    const d2 = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img2'), '--skip-in-flight']);
    expect(d2.code, d2.stderr).toBe(0);
    await waitGone(pid);
    cleanup();

    // --veth-pair IN=OUT@BRIDGE: the peer joins the bridge and is set up
    ip(['link', 'add', br, 'type', 'bridge']);
    ip(['addr', 'add', '10.57.0.1/24', 'dev', br]);
    ip(['link', 'set', br, 'up']);
    r = criu(['restore', '-D', path.join(dir, 'img2'), '-d', '--veth-pair', `${c0}=${h1}@${br}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(ip(['-o', 'link', 'show', h1])).toMatch(new RegExp(`<[^>]*UP[^>]*>.* master ${br} `));
    ip(['route', 'add', '10.77.0.1/32', 'via', '10.57.0.2']);
    expect(await connects('10.77.0.1', 7777)).toBe(true);
    // (no verdict: the probes' connections wait in the backlog the program checks its own in)
    void out;
  } finally {
    await kill(pid);
    cleanup();
  }
});

test("a macvlan on a link outside: dumped as CRIU does (mode, no peer_nsid), restored on the tool's link --external macvlan[IN]:OUT names", async () => {
  test.setTimeout(90_000);
  const tag = String(process.pid % 10000);
  const [hv0, hv1, mv] = ['v0', 'v1', 'mv'].map((x) => `ctm${x}${tag}`);
  const cleanup = () => [hv0, mv].forEach((l) => ipMay(['link', 'del', l]));
  cleanup();
  const { pid, dir } = await start('plain');
  try {
    // the parent is one end of a veth pair of the tool's; the host reaches the macvlan through the other end
    ip(['link', 'add', hv0, 'type', 'veth', 'peer', 'name', hv1]);
    ip(['link', 'set', hv0, 'up']);
    ip(['addr', 'add', '10.58.0.1/24', 'dev', hv1]);
    ip(['link', 'set', hv1, 'up']);
    ip(['link', 'add', mv, 'link', hv0, 'type', 'macvlan', 'mode', 'bridge']);
    ip(['link', 'set', mv, 'netns', `/proc/${pid}/ns/net`]);
    inNs(pid, ['sh', '-c', `ip addr add 10.58.0.2/24 dev ${mv} && ip link set ${mv} up`]);
    ip(['route', 'add', '10.77.0.1/32', 'via', '10.58.0.2']);
    expect(await connects('10.77.0.1', 7777)).toBe(true);

    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log', '--skip-in-flight']);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    const id = fs.readdirSync(img).find((f) => /^netdev-\d+\.img$/.test(f))!;
    const links = decode(img, id) as unknown as { type: string; name: string; peer_nsid?: number; macvlan?: { mode: number } }[];
    const m = links.find((l) => l.name === mv)!;
    expect(m).toMatchObject({ type: 'MACVLAN', macvlan: { mode: 4 /* bridge */ } });
    expect(m.peer_nsid).toBeUndefined();

    // no parent named: refused, naming the option, and nothing is left
    let r = criu(['restore', '-D', img, '-d']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`a macvlan parent for ${mv} is required (name the tool's link it is made on: --external macvlan[${mv}]:LINK)`);
    expect(alive(pid)).toBe(false);

    r = criu(['restore', '-D', img, '-d', '--external', `macvlan[${mv}]:${hv0}`, '-v4', '-o', 'restore.log']);
    expect(r.code, r.stderr).toBe(0);
    expect(inNs(pid, ['ip', '-o', '-d', 'link', 'show', mv])).toMatch(new RegExp(`${mv}@if\\d+: <[^>]*UP[^>]*>.* macvlan mode bridge `));
    ip(['route', 'replace', '10.77.0.1/32', 'via', '10.58.0.2']);
    expect(await connects('10.77.0.1', 7777)).toBe(true);
  } finally {
    await kill(pid);
    cleanup();
    ipMay(['route', 'del', '10.77.0.1/32']);
  }
});

test('--external net[INO]:KEY: a network namespace of its own made by someone else (runc with a netns path) is dumped by its key only and joined at the restore from --inherit-fd fd[N]:KEY', async () => {
  test.setTimeout(60_000);
  const name = `cts-ext-${process.pid}`;
  ipMay(['netns', 'del', name]);
  ip(['netns', 'add', name]);
  const dir = tmpdir('nsnet-ext');
  let pid = 0;
  try {
    execFileSync('nsenter', [`--net=/run/netns/${name}`, 'sh', '-c', `ip link set lo up && ip addr add 10.58.0.1/24 dev lo`]);
    const pf = path.join(dir, 'pid');
    execFileSync('sh', ['-c', `nsenter --net=/run/netns/${name} setsid sh -c 'echo $$ > ${pf}; exec sleep 1000' </dev/null >/dev/null 2>&1 &`]);
    pid = Number((await waitFile(pf)).trim());
    const ino = fs.statSync(`/run/netns/${name}`).ino;
    expect(fs.statSync(`/proc/${pid}/ns/net`).ino).toBe(ino);
    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '--external', `net[${ino}]:extRootNetNS`, '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    const id = fs.readdirSync(img).find((f) => /^netns-\d+\.img$/.test(f))!;
    expect(decode(img, id)).toEqual([{ ext_key: 'extRootNetNS' }]);
    expect(decode(img, id.replace('netns', 'netdev'))).toEqual([]);
    // the namespace stays locked (the dump's lock is in it, not in the images) until the restore
    expect(execFileSync('nsenter', [`--net=/run/netns/${name}`, 'nft', 'list', 'tables'], { encoding: 'utf8' })).toMatch(/inet CRIU-/);
    let r = criu(['restore', '-D', img, '-d']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Unable to find an external netns: extRootNetNS');
    expect(r.stderr).toContain('--inherit-fd fd[N]:extRootNetNS');
    r = run('sh', ['-c', `exec ${criuBin} restore -D ${img} -d --inherit-fd 'fd[7]:extRootNetNS' 7</run/netns/${name}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(alive(pid)).toBe(true);
    expect(fs.statSync(`/proc/${pid}/ns/net`).ino).toBe(ino);
    expect(execFileSync('nsenter', [`--net=/run/netns/${name}`, 'nft', 'list', 'tables'], { encoding: 'utf8' })).not.toMatch(/CRIU/);
    expect(execFileSync('nsenter', [`--net=/run/netns/${name}`, 'ip', '-o', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' })).toContain('10.58.0.1/24');
  } finally {
    if (pid) await kill(pid);
    ipMay(['netns', 'del', name]);
  }
});
