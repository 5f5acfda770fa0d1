/**
 * zdtm test library for TypeScript test programs (the same protocol as zdtmtst.h).
 *
 *   node dist/zdtm/static/NAME.js --pidfile=P --outfile=O [--filename=F] [--dirname=D]
 *
 * A Node process cannot fork, so `init()` daemonizes by re-spawning the same
 * script detached (a new session: libuv calls setsid) with stdout/stderr on the
 * outfile (append) and an IPC channel.  The launcher waits for the child's
 * "ready" (sent by `daemon()` once the state is built), writes the child's pid
 * to the pidfile atomically (tmp + rename) and exits.  In the child, `init()`
 * drops to uid/gid 18943 and groups 58467 58468 unless `{ suid: true }`.
 *
 *   const t = await init();            // never resolves in the launcher
 *   ...build state...
 *   daemon();
 *   if (isBreak()) { ...corrupt the state the check verifies... }
 *   await waitsig();                    // SIGTERM
 *   ...check... ; pass() or fail('reason')
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';

export const ZDTM_UID = 18943;
export const ZDTM_GID = 18943;
export const ZDTM_GROUPS = [58467, 58468];
const CHILD_MARK = 'ZDTM_TS_DAEMON_CHILD';

export interface InitOptions {
  /** keep root credentials (the .desc must say "suid") */
  suid?: boolean;
}

export interface TestContext {
  pidfile: string;
  outfile: string;
  filename?: string;
  dirname?: string;
  /** any other --NAME=VALUE options */
  opts: Record<string, string>;
}

let ctx: TestContext | undefined;
let sigReceived = false;
const sigWaiters: Array<() => void> = [];
let keepAlive: NodeJS.Timeout | undefined;

export function parseArgs(argv: string[]): TestContext {
  const opts: Record<string, string> = {};
  const c: Partial<TestContext> = {};
  const short: Record<string, keyof TestContext> = { '-o': 'outfile', '-p': 'pidfile', '-f': 'filename', '-d': 'dirname' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a in short) {
      if (i + 1 >= argv.length) usage();
      (c as Record<string, string>)[short[a]] = argv[++i];
      continue;
    }
    if (!a.startsWith('--')) usage();
    let name = a.slice(2);
    let value: string;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      value = argv[++i];
    } else {
      value = '';
    }
    if (name === 'pidfile' || name === 'outfile' || name === 'filename' || name === 'dirname') {
      (c as Record<string, string>)[name] = value;
    } else {
      opts[name] = value;
    }
  }
  if (!c.pidfile || !c.outfile) usage();
  return { ...(c as TestContext), opts };
}

function usage(): never {
  process.stderr.write('usage: node TEST.js --pidfile=P --outfile=O [--filename=F] [--dirname=D]\n');
  process.exit(2);
}

/** true when ZDTM_BREAK=1: the program must corrupt the state it checks */
export function isBreak(): boolean {
  return process.env.ZDTM_BREAK === '1';
}

function writeAll(fd: number, s: string): void {
  const b = Buffer.from(s);
  let off = 0;
  while (off < b.length) off += fs.writeSync(fd, b, off, b.length - off);
}

export function msg(text: string): void {
  writeAll(2, `${process.pid}: ${text}\n`);
}

export function pass(): never {
  writeAll(1, 'PASS\n');
  process.exit(0);
}

export function fail(reason: string): never {
  writeAll(1, `FAIL: ${reason.replace(/\n/g, ' ')}\n`);
  process.exit(1);
}

function writePidfile(pidfile: string, pid: number): void {
  const tmp = `${pidfile}.tmp.${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o644);
  writeAll(fd, `${pid}\n`);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, pidfile);
}

function launch(c: TestContext, suid: boolean): Promise<never> {
  const out = fs.openSync(c.outfile, 'a', 0o644);
  if (!suid && process.getuid?.() === 0) fs.fchownSync(out, ZDTM_UID, ZDTM_GID);
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
    env: { ...process.env, [CHILD_MARK]: '1' },
  });
  fs.closeSync(out);
  return new Promise<never>(() => {
    let ready = false;
    child.on('message', (m) => {
      if (m !== 'ready' || ready) return;
      ready = true;
    });
    // the runner records the test's fds when the pidfile appears: it waits until the test has
    // closed its end of the channel (daemon() disconnects after "ready")
    child.on('disconnect', () => {
      if (!ready) return;
      try {
        writePidfile(c.pidfile, child.pid!);
      } catch (e) {
        process.stderr.write(`can't write the pidfile: ${e}\n`);
        process.exit(1);
      }
      child.unref();
      process.exit(0);
    });
    child.on('exit', (code, sig) => {
      if (ready) return;
      const o = fs.openSync(c.outfile, 'a');
      writeAll(o, `${process.pid}: test ${sig ? `killed by ${sig}` : `exited with ${code}`} before it was set up\n`);
      fs.closeSync(o);
      process.exit(1);
    });
    child.on('error', (e) => {
      process.stderr.write(`spawn: ${e}\n`);
      process.exit(1);
    });
  });
}

/**
 * Parses the options and daemonizes. In the launcher the returned promise never
 * resolves (the launcher exits once the child is ready); in the test it resolves
 * after the credentials are dropped.
 */
export async function init(options: InitOptions = {}): Promise<TestContext> {
  const c = parseArgs(process.argv.slice(2));
  const suid = !!options.suid;
  if (process.env[CHILD_MARK] !== '1') return launch(c, suid);

  delete process.env[CHILD_MARK];
  ctx = c;
  process.on('SIGTERM', () => {
    sigReceived = true;
    for (const w of sigWaiters.splice(0)) w();
  });
  // keep the event loop alive until the verdict
  keepAlive = setInterval(() => {}, 1 << 30);
  if (!suid) {
    if (process.getuid?.() === 0) {
      process.setgroups!(ZDTM_GROUPS);
      process.setgid!(ZDTM_GID);
      process.setuid!(ZDTM_UID);
    } else {
      msg(`not root: keeping uid ${process.getuid?.()}`);
    }
  }
  if (isBreak()) msg('break mode: the state will be corrupted on purpose');
  return c;
}

/** The state is built: the launcher may write the pidfile. */
export function daemon(): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return resolve();
    process.send('ready', (err: Error | null) => {
      if (err) return reject(err);
      process.disconnect();
      resolve();
    });
  });
}

/** Resolves on SIGTERM. */
export function waitsig(): Promise<void> {
  if (sigReceived) return Promise.resolve();
  return new Promise((resolve) => sigWaiters.push(resolve));
}

/** true until SIGTERM arrived (transition tests loop on it) */
export function go(): boolean {
  return !sigReceived;
}

export function context(): TestContext {
  if (!ctx) throw new Error('init() was not called');
  return ctx;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves with p, or rejects after ms. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** crc32 (the same as the C library's zdtm_crc32) */
export function crc32(buf: Uint8Array, crc = 0): number {
  let c = ~crc;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Fills buf with pseudo-random data from seed; returns its crc32. */
export function datagen(buf: Uint8Array, seed: number): number {
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const words = Math.floor(buf.length / 4);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dv.setUint32(i * 4, x >>> 0, true);
  }
  for (let i = words * 4; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  return crc32(buf);
}

/** true when crc32(buf) === crc */
export function datachk(buf: Uint8Array, crc: number): boolean {
  return crc32(buf) === crc;
}

export function stopKeepAlive(): void {
  if (keepAlive) clearInterval(keepAlive);
}
