// Mount trees of containers beyond the private ones (ns/mnt.ts, ns/mnt-prop.ts): a tree whose
// root filesystem is an overlay (podman's layout; progs/ovlroot.c) restored on a new overlay of
// the same layers with --root, also with a cgroup namespace and a cgroup2 mount of its own; a tree whose mounts are a peer and a slave of the tool's mounts
// (`unshare -m --propagation unchanged`), dumped with --enable-external-sharing and
// --enable-external-masters and restored into the same peer groups, where mounts made on
// either side show up (or not) as they did; and the refusals without those options, the tree
// running on. The propagation of a tree's own mounts is zdtm's mnt_shared. Runs as root.
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repo, criu, crit, tmpdir, waitFile, waitGone, alive, until } from './lib.js';
import { v2Mount, removeBelow } from '../../zdtm/runner/cgroup.js';

const ovlBin = path.join(os.tmpdir(), 'criu-ts-ovlroot');

test.beforeAll(() => {
  execFileSync('gcc', ['-static', '-O1', '-Wall', '-o', ovlBin, path.join(repo, 'criu', 'test', 'progs', 'ovlroot.c')]);
});

const kill = async (pid: number): Promise<void> => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await waitGone(pid);
};
const umount = (p: string): void => {
  try {
    execFileSync('umount', ['-l', p], { stdio: 'ignore' });
  } catch {
    /* not mounted */
  }
};
const mountinfoLine = (pid: number | 'self', mp: string): string | undefined =>
  fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4] === mp)
    .at(-1);
const tag = (line: string | undefined, name: string): number | undefined => {
  const m = new RegExp(` ${name}:(\\d+)`).exec(line?.split(' - ')[0] ?? '');
  return m ? Number(m[1]) : undefined;
};
/** whether `p` (a path of pid's namespace) is a mount point other than its parent directory's filesystem */
const isMountIn = (pid: number | 'self', p: string): boolean => {
  const at = (q: string) => (pid === 'self' ? q : `/proc/${pid}/root${q}`);
  return fs.statSync(at(p)).dev !== fs.statSync(at(path.dirname(p))).dev;
};

/** progs/ovlroot.c in DIR (its layers there), started in cgroup `cg` when given; dumped without --ext-mount-map, restored on a new overlay of its layers */
async function ovlRoundTrip(name: string, cg?: string): Promise<{ cgLine: string; mounts: Record<string, unknown>[] }> {
  const dir = tmpdir(name);
  for (const d of ['lower', 'upper', 'work', 'merged', 'merged2', 'img', 'lower/cg', 'lower/proc']) fs.mkdirSync(path.join(dir, d));
  fs.copyFileSync(ovlBin, path.join(dir, 'lower', 'ovlroot'));
  fs.chmodSync(path.join(dir, 'lower', 'ovlroot'), 0o755);
  fs.writeFileSync(path.join(dir, 'lower', 'image'), "the image's file\n");
  const prog = [path.join(dir, 'lower', 'ovlroot'), dir, ...(cg ? ['cgroup'] : [])];
  const child = cg
    ? spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cg, ...prog], { stdio: 'ignore', detached: true })
    : spawn(prog[0], prog.slice(1), { stdio: 'ignore', detached: true });
  child.unref();
  const pid = Number((await waitFile(path.join(dir, 'upper', 'pid'))).trim());
  const merged2 = path.join(dir, 'merged2');
  try {
    expect(mountinfoLine(pid, '/')).toMatch(/ - overlay ovlroot /);
    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    const ids = JSON.parse(crit(['decode', '-i', path.join(img, `ids-${pid}.img`)]).stdout).entries[0];
    const mounts = JSON.parse(crit(['decode', '-i', path.join(img, `mountpoints-${ids.mnt_ns_id}.img`)]).stdout).entries;
    const count = Number(fs.readFileSync(path.join(dir, 'upper', 'count'), 'utf8'));
    // the runtime's part: the same layers mounted again, given as the root
    execFileSync('mount', ['-t', 'overlay', 'ovlroot', '-o', `lowerdir=${dir}/lower,upperdir=${dir}/upper,workdir=${dir}/work`, merged2]);
    const noRoot = criu(['restore', '-D', img, '-d']);
    expect(noRoot.code).not.toBe(0);
    expect(noRoot.stderr).toMatch(/the root mount of the tree's namespace, root \/, is made from --root/);
    expect(alive(pid)).toBe(false);
    const r = criu(['restore', '-D', img, '-d', '--root', merged2, '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
    expect(mountinfoLine(pid, '/')).toMatch(/ - overlay ovlroot /);
    const cgLine = mountinfoLine(pid, '/cg');
    await until('the count going on', () => Number(fs.readFileSync(path.join(dir, 'upper', 'count'), 'utf8')) > count + 3);
    process.kill(pid, 'SIGTERM');
    expect((await waitFile(path.join(dir, 'upper', 'out'))).trim()).toBe('PASS');
    expect(fs.readFileSync(path.join(dir, 'upper', 'log'), 'utf8')).toBe('started\nended\n');
    return { cgLine: cgLine ?? '', mounts };
  } finally {
    await kill(pid);
    umount(merged2);
  }
}

test('a tree whose root filesystem is an overlay is dumped and restored on a new overlay of the same layers (--root)', async () => {
  test.setTimeout(60_000);
  await ovlRoundTrip('ovlroot');
});

test("a container's cgroup2 mount in its own cgroup namespace (runc's /sys/fs/cgroup on a v2 host) is made again in the restored namespace", async () => {
  test.setTimeout(60_000);
  const cg = path.join(v2Mount(), `criu-ts-ovlroot-${process.pid}`);
  removeBelow(cg, true);
  fs.mkdirSync(cg);
  try {
    const { cgLine, mounts } = await ovlRoundTrip('ovlroot-cg', cg);
    // dumped as the tree's own (CRIU's cgroup_parse: rooted at the namespace's root), not as a bind of the tool's cgroup
    expect(mounts.find((m) => m.mountpoint === '/cg')).toMatchObject({ fstype: 23 /* cgroup2 */, root: '/', source: 'cgroup2' });
    expect(mounts.find((m) => m.mountpoint === '/cg')?.ext_key).toBeUndefined();
    // the tool sees it rooted at the test's cgroup, which is the namespace's root
    expect(cgLine).toMatch(new RegExp(`^\\S+ \\S+ \\S+ /${path.basename(cg)} /cg .* - cgroup2 cgroup2 `));
  } finally {
    removeBelow(cg, true);
  }
});

/** host mounts T/peer and T/slave (tmpfs, shared), and a sleep in a copy of the tool's namespace where T/slave is made a slave */
async function startUnchanged(dir: string): Promise<number> {
  for (const m of ['peer', 'slave']) {
    const p = path.join(dir, m);
    fs.mkdirSync(p);
    execFileSync('mount', ['-t', 'tmpfs', `prop-${m}`, p]);
    execFileSync('mount', ['--make-shared', p]);
    fs.mkdirSync(path.join(p, 'x'));
    fs.mkdirSync(path.join(p, 'y'));
  }
  const child = spawn(
    'unshare',
    ['-m', '--propagation', 'unchanged', 'sh', '-c', `mount --make-slave ${dir}/slave && echo $$ > ${dir}/pid && exec sleep 1000`],
    { stdio: 'ignore', detached: true },
  );
  child.unref();
  return Number((await waitFile(path.join(dir, 'pid'))).trim());
}

/** T/peer is a peer of the tool's, T/slave a slave of it: checked by mountinfo and by mounts made on either side */
function checkProp(pid: number, dir: string): void {
  const peer = path.join(dir, 'peer');
  const slave = path.join(dir, 'slave');
  const hostPeer = tag(mountinfoLine('self', peer), 'shared');
  const hostSlave = tag(mountinfoLine('self', slave), 'shared');
  expect(hostPeer).toBeDefined();
  expect(tag(mountinfoLine(pid, peer), 'shared')).toBe(hostPeer);
  expect(tag(mountinfoLine(pid, slave), 'shared')).toBeUndefined();
  expect(tag(mountinfoLine(pid, slave), 'master')).toBe(hostSlave);
  for (const m of [peer, slave]) {
    execFileSync('mount', ['-t', 'tmpfs', 'prop-ev', path.join(m, 'x')]);
    expect(isMountIn(pid, path.join(m, 'x')), `${m}/x mounted by the tool, seen in the tree`).toBe(true);
    umount(path.join(m, 'x'));
    execFileSync('nsenter', ['-t', String(pid), '-m', 'mount', '-t', 'tmpfs', 'prop-ev', path.join(m, 'y')]);
    expect(isMountIn('self', path.join(m, 'y')), `${m}/y mounted in the tree, seen by the tool`).toBe(m === peer);
    execFileSync('nsenter', ['-t', String(pid), '-m', 'umount', path.join(m, 'y')]);
  }
}

test('--enable-external-sharing, --enable-external-masters: the peer and the slave of the tool mounts join them again at the restore', async () => {
  test.setTimeout(60_000);
  const dir = tmpdir('mntprop-ext');
  const pid = await startUnchanged(dir);
  let restored = false;
  try {
    checkProp(pid, dir);
    const img = path.join(dir, 'img');
    const opts = ['--ext-mount-map', 'auto'];
    const d = criu(['dump', '-t', String(pid), '-D', img, ...opts, '--enable-external-sharing', '--enable-external-masters', '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    const r = criu(['restore', '-D', img, '-d', ...opts, '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
    restored = true;
    checkProp(pid, dir);
    // the tool's mount made private: the restore cannot join it again, and says so, leaving nothing behind
    await kill(pid);
    execFileSync('mount', ['--make-private', path.join(dir, 'slave')]);
    const again = criu(['restore', '-D', img, '-d', ...opts]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(
      new RegExp(`mount \\d+ at ${dir}/slave: a slave of the tool's mount at ${dir}/slave at the dump, which is private now \\(make it shared`),
    );
    expect(alive(pid)).toBe(false);
  } finally {
    if (restored || alive(pid)) await kill(pid);
    for (const m of ['peer', 'slave']) umount(path.join(dir, m));
  }
});

test('refused by name, the tree running on: an external peer without --enable-external-sharing, an external slave without --enable-external-masters', async () => {
  test.setTimeout(60_000);
  const dir = tmpdir('mntprop-refused');
  const pid = await startUnchanged(dir);
  try {
    const img = path.join(dir, 'img');
    const sharing = criu(['dump', '-t', String(pid), '-D', img, '--ext-mount-map', 'auto', '--enable-external-masters']);
    expect(sharing.code).not.toBe(0);
    expect(sharing.stderr).toMatch(
      /not supported yet: task \d+: mount \d+ at \S+: an external mount, a peer of the tool's mount at \S+ \(shared:\d+\) \(--enable-external-sharing/,
    );
    const masters = criu(['dump', '-t', String(pid), '-D', img, '--ext-mount-map', 'auto', '--enable-external-sharing']);
    expect(masters.code).not.toBe(0);
    expect(masters.stderr).toMatch(
      new RegExp(
        `not supported yet: task ${pid}: mount \\d+ at ${dir}/slave: an external mount, a slave of the tool's mount at ${dir}/slave \\(master:\\d+\\) \\(--enable-external-masters`,
      ),
    );
    expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(false);
    expect(alive(pid)).toBe(true);
    checkProp(pid, dir);
  } finally {
    await kill(pid);
    for (const m of ['peer', 'slave']) umount(path.join(dir, m));
  }
});
