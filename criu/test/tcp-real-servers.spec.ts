// A real server keeps a client's connection across a dump and a restore (--tcp-established):
// Debian's redis-server (installed by ci/pretest.mjs) answers this test process over one TCP
// connection opened before the dump; a command sent while the server is dumped is answered after
// the restore on the same connection, and the counter goes on. Runs as root; needs iptables.
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { criu, tmpdir, waitGone, sleep, alive, freePort } from './lib.js';

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

/** One RESP connection: commands as arrays, replies as the raw lines of simple replies. */
class Redis {
  private buf = '';
  private waiting: ((l: string) => void)[] = [];
  readonly sock: net.Socket;
  closed = false;
  constructor(port: number) {
    this.sock = net.connect(port, '127.0.0.1');
    this.sock.setEncoding('utf8');
    this.sock.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\r\n')) >= 0 && this.waiting.length) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        this.waiting.shift()!(l);
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
  send(...args: string[]): Promise<string> {
    this.sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    return new Promise((r, j) => {
      const t = setTimeout(() => j(new Error(`redis: no answer to ${args.join(' ')}`)), 15_000);
      this.waiting.push((l) => {
        clearTimeout(t);
        r(l);
      });
      this.sock.emit('data', ''); // a reply already buffered
    });
  }
}

const logTail = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').slice(-3000) : '');

test('redis-server keeps a client connection and its counter across a dump and a restore', async () => {
  const dir = tmpdir('redis-tcp');
  const port = await freePort();
  const fd = fs.openSync(path.join(dir, 'out'), 'w');
  const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  fs.closeSync(fd);
  c.unref();
  const pid = c.pid!;
  started.push(pid);
  let r: Redis | undefined;
  for (let i = 0; i < 300 && !r; i++) {
    const x = new Redis(port);
    try {
      await x.connected();
      r = x;
    } catch {
      await sleep(50);
    }
  }
  expect(r).toBeDefined();
  expect(await r!.send('PING')).toBe('+PONG');
  expect(await r!.send('INCR', 'counter')).toBe(':1');
  expect(await r!.send('INCR', 'counter')).toBe(':2');
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log', '--tcp-established']);
  expect(d.code, `${d.stderr}\n${logTail(path.join(img, 'dump.log'))}`).toBe(0);
  await waitGone(pid);
  const pending = r!.send('INCR', 'counter'); // while redis is away
  await sleep(200);
  const rs = criu(['restore', '-d', '-D', img, '-v4', '-o', 'restore.log', '--tcp-established']);
  expect(rs.code, `${rs.stderr}\n${logTail(path.join(img, 'restore.log'))}`).toBe(0);
  expect(alive(pid)).toBe(true);
  expect(await pending).toBe(':3');
  expect(await r!.send('INCR', 'counter')).toBe(':4');
  expect(r!.closed).toBe(false);
  expect(execFileSync('iptables-save', { encoding: 'utf8' })).not.toMatch(new RegExp(`port ${port}\\b`));
  r!.sock.destroy();
  process.kill(pid, 'SIGKILL');
});
