// Shared helpers of the unit and slice tests: run our `criu`, start test programs, wait for
// PIDs to free up, read verdicts.
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from '@playwright/test';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const criuBin = path.join(repo, 'native', 'build', 'criu');
export const critBin = path.join(repo, 'criu', 'bin', 'crit.js');
export const shared = path.resolve(repo, '..', 'shared');
export const fixtures = path.join(shared, 'fixtures', 'criu-4.2');
/** the same program dumped by CRIU 4.2 on an Intel Xeon (PKU, AVX-512), on other PIDs */
export const fixturesIntel = path.join(shared, 'fixtures', 'criu-4.2-intel');

export function run(bin: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, ...opts.env }, input: opts.input, timeout: 60_000 });
  return { code: r.status ?? 128 + (r.signal ? os.constants.signals[r.signal] : 0), stdout: r.stdout, stderr: r.stderr };
}
export const criu = (args: string[], env?: NodeJS.ProcessEnv) => run(criuBin, args, { env });
export const crit = (args: string[], input?: string) => run(process.execPath, [critBin, ...args], { input });

/**
 * A fresh directory under the system's tmp. It is removed when the worker exits unless the test
 * that made it failed (its images and logs are then kept for a look; CRIU_TEST_KEEP=1 keeps all).
 */
export function tmpdir(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `criu-${name}-`));
  let info: ReturnType<typeof test.info> | undefined;
  try {
    info = test.info();
  } catch {
    /* made outside a test (beforeAll, module level): removed at exit */
  }
  made.push({ dir, info });
  return dir;
}
const made: { dir: string; info?: ReturnType<typeof test.info> }[] = [];
process.on('exit', () => {
  if (process.env.CRIU_TEST_KEEP === '1') return;
  for (const m of made) {
    if (m.info && m.info.status !== m.info.expectedStatus && m.info.status !== 'skipped') continue;
    try {
      fs.rmSync(m.dir, { recursive: true, force: true });
    } catch {
      /* a mount or a busy file: left */
    }
  }
});

export const alive = (pid: number): boolean => fs.existsSync(`/proc/${pid}`);

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `f` every 20 ms until it gives a value (anything but undefined or false); fails naming `what` after `ms`. */
export async function until<T>(what: string, f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

/**
 * Wait until pid is gone from /proc: a killed task stays there as a zombie until it is reaped,
 * and its pid cannot be restored before (an orphan's reaper may take a while).
 */
export async function waitGone(pid: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (fs.existsSync(`/proc/${pid}`)) {
    if (Date.now() > end) throw new Error(`pid ${pid} is still there after ${ms} ms${alive(pid) ? '' : ' (a zombie not reaped)'}`);
    await sleep(20);
  }
}

export async function waitFile(f: string, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const s = fs.readFileSync(f, 'utf8');
      if (s.endsWith('\n')) return s;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) throw new Error(`${f} did not appear within ${ms} ms`);
    await sleep(20);
  }
}

/** SIGTERM the program and read the last line of its outfile. */
export async function verdict(pid: number, outfile: string): Promise<string> {
  process.kill(pid, 'SIGTERM');
  const s = await waitFile(outfile, 10_000);
  return s.trim().split('\n').at(-1)!;
}

/** Start times of a pid (field 22 of stat): proves a restore made a new process. */
export function startTime(pid: number): string {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
}

/** Copy src to dst unless it is there already; by rename, since another test may be running dst. */
function place(src: string, dst: string, mode: number): void {
  const want = fs.readFileSync(src);
  try {
    if (fs.readFileSync(dst).equals(want) && (fs.statSync(dst).mode & 0o777) === mode) return;
  } catch {
    /* not there yet */
  }
  const tmp = `${dst}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, want, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, dst);
}

export function stageFixtureProg(): string {
  const base = '/tmp/criu-fixture';
  for (const d of ['bin', 'data', 'out']) fs.mkdirSync(path.join(base, d), { recursive: true });
  fs.chmodSync(path.join(base, 'out'), 0o1777);
  place(path.join(fixtures, 'bin', 'fixture-prog'), path.join(base, 'bin', 'fixture-prog'), 0o755);
  place(path.join(fixtures, 'src', 'file.dat'), path.join(base, 'data', 'file.dat'), 0o644);
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  if (pidMax < 4194304) fs.writeFileSync('/proc/sys/kernel/pid_max', '4194304');
  return base;
}

/** Start fixture-prog (it daemonizes itself); returns its pid. `asUser` drops to that uid/gid. */
export async function startFixtureProg(mode: string, out: string, arg?: string, asUser?: number): Promise<number> {
  const base = stageFixtureProg();
  const prog = path.join(base, 'bin', 'fixture-prog');
  const args = [mode, out, ...(arg ? [arg] : [])];
  fs.rmSync(out, { force: true });
  fs.rmSync(`${out}.pid`, { force: true });
  if (asUser !== undefined) {
    execFileSync('setpriv', [`--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', prog, ...args], { cwd: base, stdio: 'ignore' });
  } else {
    execFileSync(prog, args, { cwd: base, stdio: 'ignore' });
  }
  const pid = Number((await waitFile(`${out}.pid`)).trim());
  // mem writes its pidfile before it fills its memory: a dump taken mid-fill restores fine,
  // but a SIGTERM before the fill is done makes it report FAIL (it never reached its loop)
  if (mode === 'mem') await memFilled(pid, Number(arg ?? 0));
  return pid;
}

/** Until fixture-prog mem has written its MiB (VmRSS) and sleeps in its loop. */
async function memFilled(pid: number, mib: number, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    let st = '';
    try {
      st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return;
    }
    const rss = Number(/VmRSS:\s+(\d+)/.exec(st)?.[1] ?? 0);
    if ((rss >= mib * 1024 && /State:\s+S/.test(st)) || Date.now() > end) return;
    await sleep(10);
  }
}

/** fixture-prog mem in a fresh directory anyone may write to: its dir, outfile, pid, and where its images go. */
export async function memFixture(name: string, mib: string): Promise<{ dir: string; out: string; pid: number; img: string }> {
  const dir = tmpdir(name);
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'mem.out');
  const pid = await startFixtureProg('mem', out, mib);
  return { dir, out, pid, img: path.join(dir, 'img') };
}

/** The threads of a freshly started program, once there are `n` of them (it may write its pidfile before the last one starts). */
export async function threadsOf(pid: number, n: number, ms = 5000): Promise<string[]> {
  const end = Date.now() + ms;
  for (;;) {
    const tids = fs.readdirSync(`/proc/${pid}/task`).sort();
    if (tids.length >= n || Date.now() > end) return tids;
    await sleep(10);
  }
}

/** The syscall a task is blocked in (the number /proc/PID/syscall shows), or -1 while it runs or is gone. */
export function blockedIn(pid: number): number {
  let s = '';
  try {
    s = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8');
  } catch {
    return -1;
  }
  const n = Number(s.split(' ')[0]);
  return Number.isInteger(n) ? n : -1;
}

/**
 * fixture-prog tree once it has settled: its two children blocked in read(2) on their pipe
 * (past closing the pipe ends they do not use) and the parent asleep in nanosleep(2) (past
 * closing its own). Until then the fd tables still change. Returns the children.
 */
export async function settledTree(pid: number, ms = 10_000): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const kids = await childrenOf(pid, 2, Math.max(0, end - Date.now()));
    if (kids.length === 2 && kids.every((k) => blockedIn(k) === 0) && [35, 230].includes(blockedIn(pid)) /* nanosleep, clock_nanosleep */) return kids;
    if (Date.now() > end)
      throw new Error(
        `fixture-prog tree ${pid} did not settle within ${ms} ms (children ${kids.join(', ') || 'none'}: ${kids.map(blockedIn).join(', ')}; parent: ${blockedIn(pid)})`,
      );
    await sleep(10);
  }
}

/**
 * The children of a freshly started program, once there are `n` of them (it forks after writing
 * its pidfile). They may still be setting up: see settledTree where their state matters.
 */
export async function childrenOf(pid: number, n: number, ms = 5000): Promise<number[]> {
  const end = Date.now() + ms;
  for (;;) {
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    if (kids.length >= n || Date.now() > end) return kids;
    await sleep(10);
  }
}

/** The CPU flags /proc/cpuinfo shows for this machine (avx512f, pku, ospke …). */
export function cpuFlags(): Set<string> {
  const line = fs
    .readFileSync('/proc/cpuinfo', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('flags'));
  return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
}

/** Whether this CPU has (and the kernel enables) an xsave component, by its field in CRIU's image. */
export function cpuHasComponent(field: string, flags = cpuFlags()): boolean {
  switch (field) {
    case 'ymmh_space':
      return flags.has('avx');
    case 'opmask_reg':
    case 'zmm_upper':
    case 'hi16_zmm':
      return flags.has('avx512f');
    case 'pkru':
      return flags.has('pku') && flags.has('ospke');
    default:
      return false; // MPX (bndreg_state, bndcsr_state): Linux dropped it in 5.6
  }
}

/** A TCP port on 127.0.0.1 nobody listens on now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
