// Established TCP connections with one end outside the tree (--tcp-established, files/tcp.ts),
// the network lock (net/lock.ts) with both methods, --tcp-close, and what every failure leaves:
// a TCP line server (progs/tcp-counter.mjs, answering each line with a counter) is dumped while
// this test process holds a connection to it; the connection is locked while the tree is gone,
// and after the restore the same connection goes on with the counter. A client that connects
// while the tree is dumped is served after the restore (its SYNs are held by the lock). After
// every run, passing or failing, `iptables-save`, `ip6tables-save` and `nft list tables` are as
// before (the rules of the server's port, and every CRIU nftables table). Runs as root; needs iptables and nftables (ci/pretest.mjs installs them).
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { criu, repo, tmpdir, waitGone, sleep, alive, freePort } from './lib.js';

test.describe.configure({ mode: 'serial' });

const started: number[] = [];
test.afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/**
 * The host's netfilter rules that concern a port (other tests may add their own meanwhile), and
 * every CRIU nftables table: '' when nothing is locked.
 */
function rules(port: number): string {
  const q = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' });
    } catch (e) {
      return `${cmd}: ${(e as Error).message}`;
    }
  };
  const ipt = [q('iptables-save', []), q('ip6tables-save', [])]
    .join('\n')
    .split('\n')
    .filter((l) => !l.startsWith('#') && new RegExp(`port ${port}\\b`).test(l));
  const nft = q('nft', ['list', 'tables'])
    .split('\n')
    .filter((l) => l.includes('CRIU-'));
  return [...ipt, ...nft].join('\n');
}

async function waitLine(file: string, re: RegExp, ms = 15_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  for (;;) {
    const m = re.exec(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
    if (m) return m;
    if (Date.now() > end) throw new Error(`${file}: no ${re} within ${ms} ms`);
    await sleep(20);
  }
}

/** The counter server in a session of its own; its pid, port and output file. */
async function server(name: string, host = '127.0.0.1'): Promise<{ pid: number; port: number; dir: string; out: string }> {
  const dir = tmpdir(`tcp-${name}`);
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const c = spawn(process.execPath, [path.join(repo, 'criu', 'test', 'progs', 'tcp-counter.mjs'), host], { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  c.unref();
  started.push(c.pid!);
  const port = Number((await waitLine(out, /port (\d+)/))[1]);
  return { pid: c.pid!, port, dir, out };
}

/** A client connection that reads answers line by line. */
class Client {
  private lines: string[] = [];
  private waiters: ((l: string) => void)[] = [];
  closed = false;
  readonly sock: net.Socket;
  constructor(port: number, host = '127.0.0.1') {
    this.sock = net.connect(port, host);
    let buf = '';
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const w = this.waiters.shift();
        if (w) w(l);
        else this.lines.push(l);
      }
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => (this.closed = true));
  }
  connected(): Promise<void> {
    return new Promise((r, j) => {
      this.sock.once('connect', () => r());
      this.sock.once('error', j);
    });
  }
  /** one line sent, its answer */
  ask(ms = 15_000): Promise<string> {
    this.sock.write('x\n');
    return this.next(ms);
  }
  /** the next answer */
  next(ms = 15_000): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((r, j) => {
      const t = setTimeout(() => j(new Error(`no answer in ${ms} ms`)), ms);
      this.waiters.push((x) => {
        clearTimeout(t);
        r(x);
      });
    });
  }
  end(): void {
    this.sock.destroy();
  }
}

const logOf = (dir: string, f: string): string => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), 'utf8').slice(-4000) : '');

function dump(pid: number, img: string, args: string[], env?: NodeJS.ProcessEnv): { code: number; stderr: string } {
  const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log', ...args], env);
  return { code: d.code, stderr: `${d.stderr}\n${logOf(img, 'dump.log')}` };
}
function restore(img: string, args: string[], env?: NodeJS.ProcessEnv): { code: number; stderr: string } {
  const r = criu(['restore', '-d', '-D', img, '-v4', '-o', 'restore.log', ...args], env);
  return { code: r.code, stderr: `${r.stderr}\n${logOf(img, 'restore.log')}` };
}

for (const lock of ['iptables', 'nftables'] as const) {
  test(`a connection from outside the tree goes on after a dump and a restore (--network-lock ${lock})`, async () => {
    const s = await server(`out-${lock}`);
    const c = new Client(s.port);
    await c.connected();
    expect(await c.ask()).toBe('1');
    const img = path.join(s.dir, 'img');
    const d = dump(s.pid, img, ['--tcp-established', '--network-lock', lock]);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(s.pid);
    // while the tree is gone the connection is held: locked, not reset
    const held = rules(s.port);
    expect(held).not.toBe('');
    if (lock === 'nftables') {
      const t = /table inet (CRIU-[0-9a-f-]{36})/.exec(held);
      expect(t, held).not.toBeNull();
      const body = execFileSync('nft', ['list', 'table', 'inet', t![1]], { encoding: 'utf8' });
      expect(body).toMatch(/meta mark 0x0000c114 accept/);
      expect(body).toContain(`127.0.0.1 . ${s.port}`);
    } else {
      expect(held).toMatch(/--sport \d+ --dport \d+ -j DROP/);
      expect(held).toContain('0xc114');
    }
    c.sock.write('x\n'); // sent while the server is away: retransmitted until the restore
    await sleep(300);
    expect(c.closed).toBe(false);
    // and a new client meanwhile: its SYNs are held, it is served after the restore
    const late = new Client(s.port);
    await sleep(300);
    const r = restore(img, ['--tcp-established']);
    expect(r.code, r.stderr).toBe(0);
    expect(alive(s.pid)).toBe(true);
    await late.connected();
    expect(await c.next()).toBe('2'); // the answer to the line sent while dumped
    expect(await c.ask()).toBe('3');
    expect(await late.ask()).toBe('4');
    expect(rules(s.port)).toBe('');
    c.end();
    late.end();
    process.kill(s.pid, 'SIGKILL');
  });
}

test('with -R the tree and its connection run on at once, and the lock is gone', async () => {
  const s = await server('leave-running');
  const c = new Client(s.port);
  await c.connected();
  expect(await c.ask()).toBe('1');
  for (const lock of ['iptables', 'nftables']) {
    const d = dump(s.pid, path.join(s.dir, `img-${lock}`), ['--tcp-established', '-R', '--network-lock', lock]);
    expect(d.code, d.stderr).toBe(0);
    expect(rules(s.port)).toBe('');
    expect(await c.ask()).toBe(lock === 'iptables' ? '2' : '3');
  }
  c.end();
  process.kill(s.pid, 'SIGKILL');
});

test('without --network-lock the lock is nftables where nft is installed (else iptables), kept in inventory.img for the restore', async () => {
  const s = await server('default-lock');
  const c = new Client(s.port);
  await c.connected();
  expect(await c.ask()).toBe('1');
  const img = path.join(s.dir, 'img-default');
  const d = dump(s.pid, img, ['--tcp-established', '-R', '-v4', '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  const inv = JSON.parse(
    execFileSync(process.execPath, [path.join(repo, 'criu', 'bin', 'crit.js'), 'decode', '-i', path.join(img, 'inventory.img')], { encoding: 'utf8' }),
  ) as {
    entries: { network_lock_method?: number }[];
  };
  const nft = ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].some((f) => fs.existsSync(f));
  expect(inv.entries[0].network_lock_method).toBe(nft ? 1 : 0);
  expect(fs.readFileSync(path.join(img, 'dump.log'), 'utf8')).toContain(nft ? 'nft' : 'iptables');
  expect(rules(s.port)).toBe('');
  expect(await c.ask()).toBe('2');
  c.end();
  process.kill(s.pid, 'SIGKILL');
});

test('a failed dump leaves the connection working as before and no rule behind (every fault point)', async () => {
  const s = await server('dump-faults');
  const c = new Client(s.port);
  await c.connected();
  let n = 0;
  expect(await c.ask()).toBe(String(++n));
  for (const lock of ['iptables', 'nftables']) {
    for (const fault of [1, 2, 3, 4, 5, 6, 7, 8]) {
      for (const opt of [[], ['-R']]) {
        const d = dump(s.pid, path.join(s.dir, `img-${lock}-${fault}`), ['--tcp-established', '--network-lock', lock, ...opt], { CRIU_FAULT: String(fault) });
        expect(d.code, `${lock} fault ${fault} ${opt.join(' ')}: ${d.stderr}`).toBe(1);
        expect(d.stderr).toContain(`fault injected at step ${fault}`);
        expect(rules(s.port), `${lock} fault ${fault}`).toBe('');
        expect(alive(s.pid)).toBe(true);
        expect(await c.ask(), `${lock} fault ${fault}`).toBe(String(++n));
      }
    }
  }
  c.end();
  process.kill(s.pid, 'SIGKILL');
});

test('a failed restore kills what it made and removes the lock', async () => {
  for (const [lock, fault] of [
    ['iptables', 101],
    ['nftables', 107],
    ['iptables', 110],
  ] as const) {
    const s = await server(`rst-fault-${fault}`);
    const c = new Client(s.port);
    await c.connected();
    expect(await c.ask()).toBe('1');
    const img = path.join(s.dir, 'img');
    const d = dump(s.pid, img, ['--tcp-established', '--network-lock', lock]);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(s.pid);
    expect(rules(s.port)).not.toBe('');
    const r = restore(img, ['--tcp-established'], { CRIU_FAULT: String(fault) });
    expect(r.code, r.stderr).not.toBe(0);
    expect(r.stderr).toContain(`fault injected at step ${fault}`);
    expect(alive(s.pid)).toBe(false);
    expect(rules(s.port), `${lock} fault ${fault}`).toBe('');
    c.end();
  }
});

test('a restore of a connection without --tcp-established is refused by name, and the lock is removed', async () => {
  const s = await server('rst-refused');
  const c = new Client(s.port);
  await c.connected();
  expect(await c.ask()).toBe('1');
  const img = path.join(s.dir, 'img');
  expect(dump(s.pid, img, ['--tcp-established']).code).toBe(0);
  await waitGone(s.pid);
  const r = restore(img, []);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('a connected TCP socket in the image (ESTABLISHED)');
  expect(r.stderr).toContain('--tcp-established');
  expect(rules(s.port)).toBe(''); // a failed restore removes the lock too (the peer then resets)
  c.end();
});

test('--tcp-close: the connection is dumped without its state and restored closed; the server goes on', async () => {
  const s = await server('tcp-close');
  const c = new Client(s.port);
  await c.connected();
  expect(await c.ask()).toBe('1');
  const img = path.join(s.dir, 'img');
  const d = dump(s.pid, img, ['--tcp-close']);
  expect(d.code, d.stderr).toBe(0);
  expect(fs.readdirSync(img).filter((f) => f.startsWith('tcp-stream-'))).toEqual([]);
  await waitGone(s.pid);
  expect(rules(s.port)).toBe(''); // nothing locked (--tcp-close locks nothing, whatever the method)
  const r0 = restore(img, ['--tcp-established']);
  expect(r0.code).not.toBe(0);
  expect(r0.stderr).toContain('Need to set the --tcp-close options.');
  const r = restore(img, ['--tcp-close']);
  expect(r.code, r.stderr).toBe(0);
  // the restored server sees its connection end (end of file), and serves a new one with its counter
  await waitLine(s.out, /ended/);
  const c2 = new Client(s.port);
  await c2.connected();
  expect(await c2.ask()).toBe('2');
  c.end();
  c2.end();
  expect(rules(s.port)).toBe('');
  process.kill(s.pid, 'SIGKILL');
});

test('an IPv4 client of an IPv6 listener on :: (IPv4-mapped addresses) goes on, half-closed too', async () => {
  const s = await server('mapped', '::');
  const c = new Client(s.port, '127.0.0.1');
  await c.connected();
  expect(await c.ask()).toBe('1');
  c.sock.end(); // the server's side is in CLOSE_WAIT (the counter server allows half-open)
  await sleep(200);
  const img = path.join(s.dir, 'img');
  const d = dump(s.pid, img, ['--tcp-established', '--network-lock', 'iptables']);
  expect(d.code, d.stderr).toBe(0);
  expect(d.stderr).toContain('-> [::ffff:7f00:1]:');
  await waitGone(s.pid);
  expect(rules(s.port)).toContain('-s 127.0.0.1/32'); // locked as IPv4
  const r = restore(img, ['--tcp-established']);
  expect(r.code, r.stderr).toBe(0);
  // another client asks the server to answer everyone: the half-closed connection gets it too
  const b = new Client(s.port, '127.0.0.1');
  await b.connected();
  b.sock.write('all\n');
  expect(await b.next()).toBe('2');
  expect(await c.next()).toBe('2');
  expect(rules(s.port)).toBe('');
  c.end();
  b.end();
  process.kill(s.pid, 'SIGKILL');
});

test('an IPv6 connection from outside the tree goes on (ip6tables)', async () => {
  const s = await server('v6', '::1');
  const c = new Client(s.port, '::1');
  await c.connected();
  expect(await c.ask()).toBe('1');
  const img = path.join(s.dir, 'img');
  const d = dump(s.pid, img, ['--tcp-established', '--network-lock', 'iptables']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(s.pid);
  expect(execFileSync('ip6tables-save', { encoding: 'utf8' })).toContain('0xc114');
  const r = restore(img, ['--tcp-established']);
  expect(r.code, r.stderr).toBe(0);
  expect(await c.ask()).toBe('2');
  expect(rules(s.port)).toBe('');
  c.end();
  process.kill(s.pid, 'SIGKILL');
});

test('in the host network namespace no network-lock or network-unlock notification is sent (as CRIU)', async () => {
  const s = await server('notify');
  const c = new Client(s.port);
  await c.connected();
  expect(await c.ask()).toBe('1');
  const log = path.join(s.dir, 'actions');
  const script = path.join(s.dir, 'a.sh');
  fs.writeFileSync(script, `#!/bin/sh\necho "$CRTOOLS_SCRIPT_ACTION" >> ${log}\n`, { mode: 0o755 });
  const img = path.join(s.dir, 'img');
  expect(dump(s.pid, img, ['--tcp-established', '--action-script', script]).code).toBe(0);
  await waitGone(s.pid);
  expect(restore(img, ['--tcp-established', '--action-script', script]).code).toBe(0);
  expect(await c.ask()).toBe('2');
  const actions = fs.readFileSync(log, 'utf8').trim().split('\n');
  expect(actions).toContain('post-dump');
  expect(actions).toContain('post-restore');
  expect(actions).not.toContain('network-lock');
  expect(actions).not.toContain('network-unlock');
  c.end();
  process.kill(s.pid, 'SIGKILL');
});

// Half-closed connections whose peer is this test process: the peer's ACKs (small packets with no
// other flag; a duplicate's D-SACK makes them longer than 52 bytes) are dropped by a
// rule of the test's own (not by the lock), so that the server's FIN stays unacknowledged while
// it is dumped (FIN_WAIT1, LAST_ACK); once the rule is gone the connection finishes closing.
let halfBin = '';
async function halfServer(name: string): Promise<{ pid: number; port: number; dir: string; out: string }> {
  if (!halfBin) {
    halfBin = path.join(tmpdir('tcp-halfclose-bin'), 'tcp-halfclose');
    execFileSync('gcc', ['-O1', '-Wall', '-o', halfBin, path.join(repo, 'criu', 'test', 'progs', 'tcp-halfclose.c')]);
  }
  const dir = tmpdir(`tcp-${name}`);
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const c = spawn(halfBin, [], { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  c.unref();
  started.push(c.pid!);
  const port = Number((await waitLine(out, /port (\d+)/))[1]);
  return { pid: c.pid!, port, dir, out };
}
function dropAcks(op: '-I' | '-D', from: number, to: number): void {
  execFileSync(
    'iptables',
    ['-w', op, 'INPUT', '-p', 'tcp', '-s', '127.0.0.1', '--sport', String(from), '-d', '127.0.0.1', '--dport', String(to)].concat([
      '--tcp-flags',
      'FIN,SYN,RST,ACK',
      'ACK',
      '-m',
      'length',
      '--length',
      '0:100',
      '-j',
      'DROP',
    ]),
  );
}

for (const [state, num, after] of [
  ['FIN_WAIT1', 4, 5],
  ['LAST_ACK', 9, 7],
] as const) {
  test(`a connection in ${state} with its peer outside the tree finishes closing after the restore`, async () => {
    const s = await halfServer(state.toLowerCase());
    const c = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', () => r()));
    await waitLine(s.out, /state 1\n/);
    c.write('hello\n');
    await waitLine(s.out, /data hello\n/);
    const cport = c.localPort!;
    dropAcks('-I', cport, s.port);
    let dropping = true;
    try {
      if (state === 'FIN_WAIT1') process.kill(s.pid, 'SIGUSR1');
      else c.end();
      await waitLine(s.out, new RegExp(`state ${num}\\n`));
      const img = path.join(s.dir, 'img');
      const d = dump(s.pid, img, ['--tcp-established']);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stderr).toContain(`, ${state}: in `);
      await waitGone(s.pid);
      const r = restore(img, ['--tcp-established']);
      expect(r.code, r.stderr).toBe(0);
      expect(alive(s.pid)).toBe(true);
      dropAcks('-D', cport, s.port);
      dropping = false;
      await waitLine(s.out, new RegExp(`state ${num}\\n[^]*state ${after}\\n`), 30_000);
      if (state === 'FIN_WAIT1') {
        // half-closed: the server still reads
        c.write('after\n');
        await waitLine(s.out, /data after\n/);
        c.end();
        await waitLine(s.out, /eof\n/);
      }
    } finally {
      if (dropping) dropAcks('-D', cport, s.port);
    }
    expect(rules(s.port)).toBe('');
    c.destroy();
    process.kill(s.pid, 'SIGKILL');
  });
}

test('a connection in SYN_SENT (its SYNs dropped by the test) connects after the restore once a listener answers', async () => {
  const bin = path.join(tmpdir('tcp-synsent-bin'), 'tcp-synsent');
  execFileSync('gcc', ['-O1', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'progs', 'tcp-synsent.c')]);
  const port = await freePort();
  const drop = (op: string): void =>
    void execFileSync('iptables', ['-w', op, 'INPUT', '-p', 'tcp', '-d', '127.0.0.1', '--dport', String(port), '--syn', '-j', 'DROP']);
  const dir = tmpdir('tcp-synsent');
  const out = path.join(dir, 'out');
  drop('-I');
  let dropping = true;
  let pid = 0;
  try {
    const fd = fs.openSync(out, 'w');
    const c = spawn(bin, [String(port)], { detached: true, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    c.unref();
    pid = c.pid!;
    started.push(pid);
    await waitLine(out, /state 2\n/);
    const img = path.join(dir, 'img');
    const d = dump(pid, img, ['--tcp-established']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toContain(', SYN_SENT: in ');
    await waitGone(pid);
    const r = restore(img, ['--tcp-established']);
    expect(r.code, r.stderr).toBe(0);
    expect(alive(pid)).toBe(true);
    drop('-D');
    dropping = false;
    const server = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));
    const accepted = new Promise<void>((res) => server.once('connection', () => res()));
    await accepted; // the restored client's SYN, retransmitted
    await waitLine(out, /state 2\n[^]*state 1\n/, 30_000);
    server.close();
  } finally {
    if (dropping) drop('-D');
  }
  expect(rules(port)).toBe('');
  process.kill(pid, 'SIGKILL');
});

test('a connection in CLOSING (both FINs sent, neither acknowledged) with its peer outside the tree finishes closing after the restore', async () => {
  const s = await halfServer('closing');
  const c = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
  c.on('error', () => {});
  await new Promise<void>((r) => c.once('connect', () => r()));
  await waitLine(s.out, /state 1\n/);
  const cport = c.localPort!;
  // everything the server sends is dropped: its FIN never reaches the client, so the client's FIN crosses it
  const drop = (op: string): void =>
    void execFileSync('iptables', [
      '-w',
      op,
      'INPUT',
      '-p',
      'tcp',
      '-s',
      '127.0.0.1',
      '--sport',
      String(s.port),
      '-d',
      '127.0.0.1',
      '--dport',
      String(cport),
      '-j',
      'DROP',
    ]);
  drop('-I');
  let dropping = true;
  try {
    process.kill(s.pid, 'SIGUSR1');
    await waitLine(s.out, /state 4\n/);
    c.end();
    await waitLine(s.out, /state 11\n/);
    const img = path.join(s.dir, 'img');
    const d = dump(s.pid, img, ['--tcp-established']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toContain(', CLOSING: in ');
    await waitGone(s.pid);
    const r = restore(img, ['--tcp-established']);
    expect(r.code, r.stderr).toBe(0);
    expect(alive(s.pid)).toBe(true);
    drop('-D');
    dropping = false;
    await waitLine(s.out, /state 11\n[^]*state 7\n/, 30_000);
  } finally {
    if (dropping) drop('-D');
  }
  expect(rules(s.port)).toBe('');
  c.destroy();
  process.kill(s.pid, 'SIGKILL');
});
