// Unix sockets beyond socketpairs in real dumps and restores (`native/build/criu`): a Node.js
// net.Server on a unix socket path with a client process in its tree (progs/unix_server.mjs),
// which keeps serving that client and serves new ones after the restore; a socket whose peer is
// outside the tree, refused by name without a plugin, and dumped and restored through a plugin's
// DUMP_UNIX_SK / RESTORE_UNIX_SK hooks with one. The C programs are zdtm's sk_unix_*. Runs as root.
import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { repo, criu, tmpdir, alive, waitGone, waitFile, verdict, sleep, until } from './lib.js';
import { readMessagesOf } from '../src/images/typed.js';

test.describe.configure({ mode: 'serial' });

const progs = path.join(repo, 'criu', 'test', 'progs');
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

/** a Node.js program of progs/ in a session of its own; its pid once it wrote args[1] */
async function startNode(prog: string, ...args: string[]): Promise<number> {
  const pidFile = args[1];
  // through a shell that exits: the program is nobody's child here, so it leaves no zombie behind once dumped
  spawn('/bin/sh', ['-c', 'setsid "$0" "$@" </dev/null >/dev/null 2>&1 &', process.execPath, path.join(progs, prog), ...args], { stdio: 'ignore' });
  const pid = Number((await waitFile(pidFile)).trim());
  started.push(pid);
  return pid;
}

/** one request line on a new connection to the unix socket `sock`, its answer line */
function ask(sock: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let buf = '';
    c.on('connect', () => c.write(`${line}\n`));
    c.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        c.end();
        resolve(buf.trim());
      }
    });
    c.on('error', reject);
  });
}

const logOf = (img: string, name: string): string => fs.readFileSync(path.join(img, name), 'utf8');

test('a Node.js net.Server on a unix socket path with a client in its tree: after the restore it still serves that client (its count goes on) and serves a new one', async () => {
  const dir = tmpdir('unix-node');
  const sock = path.join(dir, 'srv.sock'),
    out = path.join(dir, 'out');
  const pid = await startNode('unix_server.mjs', sock, path.join(dir, 'pid'), out);
  await sleep(100);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  // the listener and the pair of the child's connection are in the images
  const usk = readMessagesOf(path.join(img, 'files.img'), 'FILES').flatMap((e) => (e.usk ? [e.usk] : []));
  expect(usk.filter((u) => u.state === 10).map((u) => u.name.toString().replace(/\0+$/, ''))).toEqual([sock]);
  expect(usk.filter((u) => u.state === 1 && u.type === 1)).toHaveLength(2);
  expect(fs.existsSync(sock)).toBe(true); // the stale socket file, unlinked by the restore

  const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
  expect(r.code, r.stderr + logOf(img, 'restore.log')).toBe(0);
  expect(alive(pid)).toBe(true);
  const n1 = Number(await ask(sock, 'count'));
  await sleep(300);
  const n2 = Number(await ask(sock, 'count'));
  expect(n1).toBeGreaterThan(0);
  expect(n2, 'the child in the tree goes on ticking over its restored connection').toBeGreaterThan(n1);
  expect(await verdict(pid, out)).toMatch(/^PASS ticks=\d+/);
});

test('a connection not accepted yet that has sent bytes is refused by name, as CRIU refuses it, and the tree runs on', async () => {
  const dir = tmpdir('unix-icon');
  const sock = path.join(dir, 'srv.sock'),
    pidFile = path.join(dir, 'pid');
  const py = `import os, socket, signal, time
l = socket.socket(socket.AF_UNIX); l.bind(${JSON.stringify(sock)}); l.listen(2)
c = socket.socket(socket.AF_UNIX); c.connect(${JSON.stringify(sock)}); c.send(b'early')
open(${JSON.stringify(pidFile)} + '.tmp', 'w').write('%d\\n' % os.getpid()); os.rename(${JSON.stringify(pidFile)} + '.tmp', ${JSON.stringify(pidFile)})
while True: time.sleep(1)
`;
  spawn('/bin/sh', ['-c', 'setsid "$0" "$@" </dev/null >/dev/null 2>&1 &', 'python3', '-c', py], { stdio: 'ignore' });
  const pid = Number((await waitFile(pidFile)).trim());
  started.push(pid);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
  expect(d.code).toBe(1);
  expect(d.stderr).toMatch(
    new RegExp(
      `not supported yet: task ${pid} fd \\d+ \\(socket:\\[\\d+\\]\\): data sent on a connection not accepted yet \\(\\d+ bytes of send buffer in use\\)`,
    ),
  );
  expect(alive(pid)).toBe(true);
  expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0/);
});

test('messages queued on a socket with SO_PASSCRED (credentials) are refused by name, as CRIU refuses them, and the tree runs on', async () => {
  const dir = tmpdir('unix-cred');
  const pidFile = path.join(dir, 'pid');
  const py = `import os, socket, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
b.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1); a.send(b'who')
open(${JSON.stringify(pidFile)} + '.tmp', 'w').write('%d\\n' % os.getpid()); os.rename(${JSON.stringify(pidFile)} + '.tmp', ${JSON.stringify(pidFile)})
while True: time.sleep(1)
`;
  spawn('/bin/sh', ['-c', 'setsid "$0" "$@" </dev/null >/dev/null 2>&1 &', 'python3', '-c', py], { stdio: 'ignore' });
  const pid = Number((await waitFile(pidFile)).trim());
  started.push(pid);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
  expect(d.code).toBe(1);
  expect(d.stderr).toMatch(new RegExp(`not supported yet: task ${pid} fd \\d+ \\(socket:\\[\\d+\\]\\): queued credentials \\(SCM_CREDENTIALS`));
  expect(d.stderr).toContain('Control messages in queue, not supported');
  expect(alive(pid)).toBe(true);
  expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0/);
});

/** a server of the test's own on a unix path, and a Node.js program connected to it: its peer is outside its tree */
async function outsidePeer(tag: string): Promise<{ dir: string; pid: number; out: string; srv: net.Server }> {
  const dir = tmpdir(tag);
  const sock = path.join(dir, 'outside.sock');
  const srv = net.createServer((c) => c.on('error', () => {}));
  await new Promise<void>((res) => srv.listen(sock, res));
  const out = path.join(dir, 'out');
  const pid = await startNode('unix_client.mjs', sock, path.join(dir, 'pid'), out);
  return { dir, pid, out, srv };
}

/** a server of the test's own on a unix path answering "ok" to each "tick" line, and a program of progs/ connected to it */
async function talkingPeer(tag: string): Promise<{ dir: string; sock: string; pid: number; out: string; srv: net.Server; ticks: number[] }> {
  const dir = tmpdir(tag);
  const sock = path.join(dir, 'outside.sock');
  const ticks: number[] = []; // per connection, in the order they came
  const srv = net.createServer((c) => {
    const n = ticks.push(0) - 1;
    let buf = '';
    c.on('data', (d) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        if (buf.slice(0, i) === 'tick') {
          ticks[n]++;
          c.write('ok\n');
        }
        buf = buf.slice(i + 1);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((res) => srv.listen(sock, res));
  const out = path.join(dir, 'out');
  const pid = await startNode('unix_ext_client.mjs', sock, path.join(dir, 'pid'), out);
  return { dir, sock, pid, out, srv, ticks };
}

/** the lib's until with this file's 5 s */
const untilSoon = (what: string, cond: () => boolean): Promise<true> => until(what, cond, 5000);

test("a unix socket whose peer is outside the tree: refused naming --ext-unix-sk (the tree runs on); a stream one is let go only by its inode (--external unix[INO]); restored with --ext-unix-sk it connects to the peer's name again and keeps talking", async () => {
  const t = await talkingPeer('unix-ext');
  try {
    await untilSoon('the first ticks', () => (t.ticks[0] ?? 0) > 2);
    const img = path.join(t.dir, 'img');
    const d = criu(['dump', '-t', String(t.pid), '-D', img]);
    expect(d.code).toBe(1);
    const m = new RegExp(
      `task ${t.pid} fd \\d+ \\(socket:\\[(\\d+)\\]\\): its peer socket:\\[\\d+\\] \\(${t.sock}\\) is outside the dumped tree: External socket is used`,
    ).exec(d.stderr);
    expect(m, d.stderr).not.toBeNull();
    expect(d.stderr).toContain('--ext-unix-sk');
    const ino = Number(m![1]);
    expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(false);
    expect(alive(t.pid)).toBe(true);
    // CRIU's legacy --ext-unix-sk lets only datagram sockets go
    const x = criu(['dump', '-t', String(t.pid), '-D', img, '--ext-unix-sk']);
    expect(x.code).toBe(1);
    expect(x.stderr).toContain("Can't dump half of stream unix connection");
    // other external resources are not handled yet
    const file = criu(['dump', '-t', String(t.pid), '-D', img, '--external', 'dev[1/3]:null']);
    expect(file.code).toBe(1);
    expect(file.stderr).toContain('not supported yet: --external dev[...]');
    const before = t.ticks[0];
    await untilSoon('ticks after the refusals', () => t.ticks[0] > before + 2);
    expect(t.ticks).toHaveLength(1);

    const ok = criu(['dump', '-t', String(t.pid), '-D', img, '--external', `unix[${ino}]`, '-v4', '-o', 'dump.log']);
    expect(ok.code, ok.stderr + logOf(img, 'dump.log')).toBe(0);
    await waitGone(t.pid);
    const usk = readMessagesOf(path.join(img, 'files.img'), 'FILES').flatMap((e) => (e.usk ? [e.usk] : []));
    const ext = usk.find((u) => u.uflags === 1); // USK_EXTERN, written as CRIU writes it
    expect(ext && { type: ext.type, state: ext.state, name: ext.name.toString().replace(/\0+$/, '') }).toEqual({ type: 2, state: 10, name: t.sock });
    expect(usk.find((u) => u.ino === ino)?.peer).toBe(ext!.ino);

    const bare = criu(['restore', '-D', img, '-d', '-v4', '-o', 'bare.log']);
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('External socket found in image');
    expect(bare.stderr).toContain('--ext-unix-sk');
    expect(alive(t.pid)).toBe(false);

    const r = criu(['restore', '-D', img, '-d', '--ext-unix-sk', '-v4', '-o', 'restore.log']);
    expect(r.code, r.stderr + logOf(img, 'restore.log')).toBe(0);
    expect(alive(t.pid)).toBe(true);
    await untilSoon('a new connection from the restored client that keeps ticking', () => t.ticks.length === 2 && t.ticks[1] > 5);
    const v = await verdict(t.pid, t.out);
    expect(v).toMatch(/^PASS answers=\d+/);
  } finally {
    t.srv.close();
  }
});

test("a datagram socket connected to a named receiver outside the tree goes with plain --ext-unix-sk (CRIU's legacy case) and sends to it again after the restore", async () => {
  const dir = tmpdir('unix-ext-dgram');
  const sock = path.join(dir, 'recv.sock'),
    count = path.join(dir, 'count'),
    pidFile = path.join(dir, 'pid');
  // the receiver: outside the tree, it counts the datagrams it gets
  const recv = `import os, socket
r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); r.bind(${JSON.stringify(sock)}); n = 0
open(${JSON.stringify(count)}, 'w').write('0\\n')
while True:
    r.recv(64); n += 1; open(${JSON.stringify(count)} + '.tmp', 'w').write('%d\\n' % n); os.rename(${JSON.stringify(count)} + '.tmp', ${JSON.stringify(count)})
`;
  const rp = spawn('python3', ['-c', recv], { stdio: 'ignore', detached: true });
  await waitFile(count);
  const send = `import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(${JSON.stringify(sock)})
open(${JSON.stringify(pidFile)} + '.tmp', 'w').write('%d\\n' % os.getpid()); os.rename(${JSON.stringify(pidFile)} + '.tmp', ${JSON.stringify(pidFile)})
while True: s.send(b'tick'); time.sleep(0.02)
`;
  spawn('/bin/sh', ['-c', 'setsid "$0" "$@" </dev/null >/dev/null 2>&1 &', 'python3', '-c', send], { stdio: 'ignore' });
  const pid = Number((await waitFile(pidFile)).trim());
  started.push(pid);
  const got = (): number => Number(fs.readFileSync(count, 'utf8').trim() || 0);
  try {
    await untilSoon('datagrams', () => got() > 2);
    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '--ext-unix-sk', '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr + logOf(img, 'dump.log')).toBe(0);
    await waitGone(pid);
    const n0 = got();
    const r = criu(['restore', '-D', img, '-d', '-x', '-v4', '-o', 'restore.log']);
    expect(r.code, r.stderr + logOf(img, 'restore.log')).toBe(0);
    expect(alive(pid)).toBe(true);
    await untilSoon('datagrams from the restored sender', () => got() > n0 + 5);
  } finally {
    rp.kill('SIGKILL');
  }
});

// takes every external unix socket at DUMP_UNIX_SK; RESTORE_UNIX_SK gives one end of a new socketpair
const UNIX_PLUGIN = `
let host;
export default {
  name: 'unixsk',
  init(stage, h) { host = h; return 0; },
  dumpUnixSk(fd, ino) { host.log.info('unixsk: dump ' + ino + ' fd ' + fd); return 0; },
  restoreUnixSk(ino) {
    const [a] = host.sys.socketpair(1, 1 | 0o2000000);
    host.log.info('unixsk: restore ' + ino);
    return a;
  },
};
`;

test("a plugin's DUMP_UNIX_SK takes a socket whose peer is outside the tree (USK_CALLBACK in the image) and its RESTORE_UNIX_SK gives the restored task its socket", async () => {
  const t = await outsidePeer('unix-plugin');
  const plugins = tmpdir('unix-plugin-dir');
  fs.writeFileSync(path.join(plugins, 'unixsk.mjs'), UNIX_PLUGIN);
  const img = path.join(t.dir, 'img');
  try {
    const d = criu(['dump', '-t', String(t.pid), '-D', img, '-L', plugins, '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(t.pid);
    const m = /unixsk: dump (\d+) fd \d+/.exec(logOf(img, 'dump.log'));
    expect(m).not.toBeNull();
    const ino = Number(m![1]);
    const u = readMessagesOf(path.join(img, 'files.img'), 'FILES').find((e) => e.usk?.ino === ino)?.usk;
    expect(u?.uflags).toBe(4); // USK_CALLBACK

    const bare = criu(['restore', '-D', img, '-d', '-v4', '-o', 'bare.log'], { CRIU_LIBS_DIR: '' });
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain(`unix socket ${ino}`);
    expect(alive(t.pid)).toBe(false);

    const r = criu(['restore', '-D', img, '-d', '-L', plugins, '-v4', '-o', 'restore.log']);
    expect(r.code, r.stderr + logOf(img, 'restore.log')).toBe(0);
    expect(logOf(img, 'restore.log')).toContain(`unixsk: restore ${ino}`);
    expect(alive(t.pid)).toBe(true);
    expect(await verdict(t.pid, t.out)).toBe('PASS');
  } finally {
    t.srv.close();
  }
});
