// Real servers with TCP sockets, dumped and restored from the command line on their old PIDs:
// `python3 -m http.server` and a Node.js http server with a request counter
// (progs/counter-server.mjs) each answer a request, are dumped (killed), restored with -d and
// answer again with their state (the counter goes on). Then the sockets criu refuses, each by
// name with the tree left running: an established connection without --tcp-established, a listener with a connection not yet accepted (and --skip-in-flight,
// which drops it), a socket of another network namespace.
// Runs as root.
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { criu, criuBin, run, repo, tmpdir, waitGone, sleep, alive, freePort } from './lib.js';

const started: number[] = [];
let inetskBin = '';

test.beforeAll(() => {
  inetskBin = path.join(tmpdir('inetsk-bin'), 'inetsk');
  execFileSync('gcc', ['-O1', '-Wall', '-o', inetskBin, path.join(repo, 'criu', 'test', 'progs', 'inetsk.c')]);
});
test.afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** A program in a session of its own (a restored root must lead its session), output to `out`. */
function startDetached(cmd: string, args: string[], out: string, cwd?: string): number {
  const fd = fs.openSync(out, 'w');
  const c = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], cwd });
  fs.closeSync(fd);
  c.unref();
  started.push(c.pid!);
  return c.pid!;
}

async function waitLine(file: string, re: RegExp, ms = 15_000): Promise<RegExpExecArray> {
  const end = Date.now() + ms;
  for (;;) {
    const m = re.exec(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '');
    if (m) return m;
    if (Date.now() > end) throw new Error(`${file}: no ${re} within ${ms} ms: ${fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''}`);
    await sleep(20);
  }
}

/** GET / with the connection closed afterwards (no keep-alive agent). */
function get(port: number, p = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET :${port}${p} timed out`)));
    req.on('error', reject);
  });
}

const socketFds = (pid: number): string[] =>
  fs
    .readdirSync(`/proc/${pid}/fd`)
    .map((f) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${f}`);
      } catch {
        return '';
      }
    })
    .filter((l) => l.startsWith('socket:'));

/** Until the server holds only its listening socket (the answered connection is closed). */
async function settled(pid: number, n = 1, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (socketFds(pid).length !== n) {
    if (Date.now() > end) throw new Error(`task ${pid} still holds ${socketFds(pid).length} sockets`);
    await sleep(20);
  }
}

/** Dump (killed) and restore with -d from the command line, as a user would. */
async function dumpRestore(pid: number, dir: string): Promise<void> {
  const d = criu(['dump', '-t', String(pid), '-D', dir, '-v4', '-o', 'dump.log']);
  expect(d.code, `${d.stderr}\n${fs.existsSync(path.join(dir, 'dump.log')) ? fs.readFileSync(path.join(dir, 'dump.log'), 'utf8').slice(-3000) : ''}`).toBe(0);
  await waitGone(pid);
  const r = criu(['restore', '-d', '-D', dir, '-v4', '-o', 'restore.log']);
  expect(
    r.code,
    `${r.stderr}\n${fs.existsSync(path.join(dir, 'restore.log')) ? fs.readFileSync(path.join(dir, 'restore.log'), 'utf8').slice(-3000) : ''}`,
  ).toBe(0);
  expect(alive(pid)).toBe(true);
}

test.describe.configure({ mode: 'serial' });

test('python3 -m http.server answers after a dump and a restore on its old PID', async () => {
  const dir = tmpdir('pyhttp');
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, 'hello.txt'), 'hello from before the dump\n');
  const port = await freePort();
  const pid = startDetached('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], path.join(dir, 'out'), www);
  await waitLine(path.join(dir, 'out'), /Serving HTTP/);
  expect(await get(port, '/hello.txt')).toEqual({ status: 200, body: 'hello from before the dump\n' });
  await settled(pid);
  await dumpRestore(pid, path.join(dir, 'img'));
  expect(await get(port, '/hello.txt')).toEqual({ status: 200, body: 'hello from before the dump\n' });
  // its log goes on in the same file: both requests are there
  await waitLine(path.join(dir, 'out'), /GET \/hello.txt[^]*GET \/hello.txt/);
  process.kill(pid, 'SIGKILL');
});

test('a Node.js http server keeps its request counter across a dump and a restore', async () => {
  const dir = tmpdir('nodehttp');
  const pid = startDetached(process.execPath, [path.join(repo, 'criu', 'test', 'progs', 'counter-server.mjs')], path.join(dir, 'out'));
  const port = Number((await waitLine(path.join(dir, 'out'), /port (\d+)/))[1]);
  expect((await get(port)).body).toBe('1\n');
  expect((await get(port)).body).toBe('2\n');
  await settled(pid);
  await dumpRestore(pid, path.join(dir, 'img'));
  expect((await get(port)).body).toBe('3\n');
  expect((await get(port)).body).toBe('4\n');
  process.kill(pid, 'SIGKILL');
});

/** inetsk MODE started and ready; its pid and the port it printed. */
async function inetsk(mode: string, ...args: string[]): Promise<{ pid: number; port: number; dir: string }> {
  const dir = tmpdir(`inetsk-${mode}`);
  const pid = startDetached(inetskBin, [mode, ...args], path.join(dir, 'out'));
  const port = Number((await waitLine(path.join(dir, 'out'), /ready (\d+)/))[1]);
  return { pid, port, dir };
}

/** The dump fails, and the tree runs on (not stopped, not traced). */
async function refused(pid: number, dir: string, extra: string[] = []): Promise<string> {
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), ...extra]);
  expect(d.code).not.toBe(0);
  await sleep(100);
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  expect(/^State:\s+S/m.test(status), status).toBe(true);
  expect(/^TracerPid:\s+0$/m.test(status)).toBe(true);
  return d.stderr;
}

test('an established TCP connection is refused by name without --tcp-established (tcp.spec.ts dumps it with it)', async () => {
  const server = net.createServer(() => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sport = (server.address() as net.AddressInfo).port;
  try {
    const { pid, port, dir } = await inetsk('established', String(sport));
    const e = await refused(pid, dir);
    expect(e).toContain(`task ${pid}`);
    expect(e).toContain('fd 3 (socket:[');
    expect(e).toContain(`a connected TCP socket (IPv4 TCP 127.0.0.1:${port} -> 127.0.0.1:${sport}, ESTABLISHED)`);
    expect(e).toContain('--tcp-established');
    process.kill(pid, 'SIGKILL');
  } finally {
    server.close();
  }
});

test('a listener with a connection not yet accepted needs --skip-in-flight, which drops it', async () => {
  const { pid, port, dir } = await inetsk('inflight');
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => {}); // reset when the dump kills the listener
  await new Promise<void>((r) => c.on('connect', () => r()));
  const e = await refused(pid, dir);
  expect(e).toContain(`task ${pid} fd 3 (socket:[`);
  expect(e).toContain(`IPv4 TCP 127.0.0.1:${port}, LISTEN, with 1 connection(s) not yet accepted (in-flight)`);
  expect(e).toContain('--skip-in-flight');
  const img = path.join(dir, 'img2');
  const d = criu(['dump', '-t', String(pid), '-D', img, '--skip-in-flight']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  c.destroy();
  const r = criu(['restore', '-d', '-D', img]);
  expect(r.code, r.stderr).toBe(0);
  // listening again on its port, with nothing queued
  const c2 = net.connect(port, '127.0.0.1');
  await new Promise<void>((res, rej) => c2.on('connect', () => res()).on('error', rej));
  c2.destroy();
  process.kill(pid, 'SIGKILL');
});

// raw, netlink and packet sockets are dumped now (zdtm socket_raw, socket_netlink, packet_sock);
// the states of theirs still refused are in sockets-refused.spec.ts
for (const [mode, what] of [['netns', 'a socket of another network namespace (net:[']] as const) {
  test(`a ${mode} socket is refused by name and the tree runs on`, async () => {
    const { pid, dir } = await inetsk(mode);
    const ino = /socket:\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/fd/3`))![1];
    const e = await refused(pid, dir);
    expect(e).toContain(what.replace('PID', String(pid)).replace('INO', ino));
    process.kill(pid, 'SIGKILL');
  });
}

test('criu check --feature tcp_repair probes TCP_REPAIR for real: supported as root, not without CAP_NET_ADMIN', () => {
  for (const f of ['tcp_repair', 'tcp_half_closed']) {
    const r = criu(['check', '--feature', f]);
    expect(r.stdout).toBe(`${f} is supported\n`);
    expect(r.code).toBe(0);
    const d = run('setpriv', ['--bounding-set', '-net_admin', '--inh-caps', '-net_admin', criuBin, 'check', '--feature', f]);
    // setsockopt(fd, SOL_TCP, TCP_REPAIR) refused: the probe really asked the kernel
    expect(d.stdout).toMatch(new RegExp(`^${f} is not supported: setsockopt\\(\\d+, 6, 19\\): EPERM \\(Operation not permitted\\)\n$`));
    expect(d.code).toBe(1);
  }
});
