// `import { dump, restore, check } from 'criu-ts'`: the tool as a library. Options mirror the
// command line (options.ts reads them through the CLI's own parser and refusals); each call runs
// on a worker thread of its own (worker.ts), because ptrace ties a tracee to the thread that
// attached it and the engines are synchronous: the caller's event loop keeps running meanwhile.
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { prepare, dumpOptions, restoreOptions, checkOptions, type Prepared } from './options.js';
import { AbortError, fromWire } from './errors.js';
import { CriuError, NotSupportedError } from '../errors.js';
import type { Job, WorkerInput, WorkerMessage, ProgressEvent } from './protocol.js';

export { CriuError, NotSupportedError } from '../errors.js';
export { AbortError } from './errors.js';
export type { ProgressEvent } from './protocol.js';
export type { OptionValue } from './options.js';

/** What every call takes besides its command's options. */
export interface CallOptions {
  /** Aborting before the last step stops the call there: a dump lets the tree go as it was and removes its images, a restore kills what it made. */
  signal?: AbortSignal;
  /** Each step as it starts, pages written, tasks restored. Called on the caller's thread; it must not throw. */
  onProgress?: (e: ProgressEvent) => void;
}

/** -o and -v: the log goes to stderr at level 2 (warnings) unless told; logFile is relative to workDir. */
export interface LogOptions {
  /** -o/--log-file: relative to workDir (or imagesDir); '-' is stderr */
  logFile?: string;
  /** -v/--verbosity: 0 nothing, 1 errors, 2 warnings, 3 info, 4 debug */
  logLevel?: number;
  /** -W/--work-dir: where the log, the pidfile and stats go (imagesDir by default) */
  workDir?: string;
}

/** The objects a tree holds that need an option of CRIU's, as on the command line. */
export interface ObjectOptions {
  /** --tcp-established: connections dumped through TCP_REPAIR (the network locked meanwhile) */
  tcpEstablished?: boolean;
  /** --tcp-close: connections restored closed */
  tcpClose?: boolean;
  /** --skip-in-flight (dump): connections not yet accepted are dropped */
  skipInFlight?: boolean;
  /** --network-lock (dump): 'iptables' (CRIU's default), 'nftables' or 'skip' */
  networkLock?: string;
  /** -l/--file-locks */
  fileLocks?: boolean;
  /** -x/--ext-unix-sk[=INO,...]: unix sockets whose peer is outside the tree */
  extUnixSk?: boolean | string;
  /** --external: unix[INO], tty[RDEV:DEV], mnt[…], net[INO]:KEY, veth[…], macvlan[…] and (dump) file[MNT_ID:INODE]; other kinds refused */
  external?: string[];
}

/**
 * Options of CRIU's command line that the Node API refuses today ("not supported yet: --OPTION"),
 * typed so that a caller may pass them and be told: -j and --inherit-fd act on the calling
 * process's own terminal and fds, which the API's worker does not have. Any other option of
 * CRIU's table may be given by its long name in camelCase too (from JavaScript, or cast): it is
 * treated as the CLI treats it.
 */
export interface NotYetOptions extends ObjectOptions {
  shellJob?: boolean;
  inheritFd?: string[];
  actionScript?: string[];
}

/** The options of a tree's cgroups and mounts, as the command line's (set on the worker's thread) */
export interface ContainerOptions {
  /** --manage-cgroups: soft (the default), full, strict, none, ignore, props */
  manageCgroups?: boolean | string;
  /** --cgroup-root [CONTROLLER:]/PATH */
  cgroupRoot?: string[];
  /** --cgroup-yard: a directory with every hierarchy mounted */
  cgroupYard?: string;
  /** --ext-mount-map KEY:VALUE or auto */
  extMountMap?: string[];
}

export interface DumpOptions extends CallOptions, LogOptions, NotYetOptions, ContainerOptions {
  /** -t: the root of the tree */
  pid: number;
  /** -D */
  imagesDir: string;
  /** -R: the tree runs on after the dump */
  leaveRunning?: boolean;
  /** -s: the tree stays stopped after the dump */
  leaveStopped?: boolean;
  /** --timeout, in seconds (10 by default) */
  timeout?: number;
  /** --freeze-cgroup */
  freezeCgroup?: string;
  /** --ghost-limit: bytes, or a size such as '2M' */
  ghostLimit?: number | string;
  /** --display-stats: print stats-dump on stdout at the end */
  displayStats?: boolean;
  /** --link-remap: a removed name still linked elsewhere gets a link_remap.N name until the restore */
  linkRemap?: boolean;
  /** --evasive-devices: a device node replaced at its path by one of the same rdev is taken */
  evasiveDevices?: boolean;
  /** --cgroup-dump-controller: only these hierarchies */
  cgroupDumpController?: string[];
  /** --cgroup-props, --cgroup-props-file: CRIU's simplified YAML of the properties to dump */
  cgroupProps?: string;
  cgroupPropsFile?: string;
  /** --skip-mnt: mounts left out of the image */
  skipMnt?: string[];
  /** --enable-external-sharing, --enable-external-masters */
  enableExternalSharing?: boolean;
  enableExternalMasters?: boolean;
}

export interface RestoreOptions extends CallOptions, LogOptions, NotYetOptions, ContainerOptions {
  /** -D */
  imagesDir: string;
  /**
   * -d: resolve and let the tree be. The root is this process's child either way; without
   * detached the API reaps it when it exits (like `criu restore` waiting for it, this keeps the
   * event loop alive until then); with detached it is yours to reap with waitRestored().
   */
  detached?: boolean;
  /** -S (with detached) */
  sibling?: boolean;
  /** --pidfile: the root's pid is written there once the tree runs (relative to workDir) */
  pidfile?: string;
  /** --display-stats */
  displayStats?: boolean;
  /** --skip-file-rwx-check: files reopened by path are checked without their rwx bits */
  skipFileRwxCheck?: boolean;
  /** --root: the restored root mount is a bind of this directory */
  root?: string;
  /** --veth-pair IN=OUT[@BRIDGE] */
  vethPair?: string[];
  /** --mntns-compat-mode (one engine: taken) */
  mntnsCompatMode?: boolean;
}

export interface CheckOptions extends CallOptions, LogOptions {
  /** --feature: only these (CRIU's names, or our probes') */
  feature?: string | string[];
  /** --all: every probe, each one listed */
  all?: boolean;
  /** -D ('.' by default, as for criu check) */
  imagesDir?: string;
}

export interface CheckResult {
  /** criu check's exit code */
  code: number;
  ok: boolean;
  /** what criu check prints on stdout ("Looks good." …) */
  output: string;
  /** and on stderr */
  errors: string;
}

/** How a restored root ended. */
export interface ExitStatus {
  pid: number;
  /** its exit code, or null when a signal killed it */
  code: number | null;
  signal: number | null;
}

/** Checkpoint the tree rooted at `pid` into `imagesDir`, as `criu dump -t PID -D DIR ...`. */
export async function dump(opts: DumpOptions): Promise<void> {
  const pr = prepare('dump', opts);
  const engine = dumpOptions(pr);
  refuseOwnChild(engine.pid);
  // while it is traced, waitRestored must not take its ptrace stops from the tracer
  busy.add(engine.pid);
  try {
    await runJob({ op: 'dump', opts: engine }, pr, opts);
  } finally {
    busy.delete(engine.pid);
  }
}

/** roots this process restored (its children that Node's child_process does not know) */
const restoredHere = new Set<number>();
/** pids a dump of ours traces now */
const busy = new Set<number>();

/**
 * A child of this process that did not come from restore() was most likely started by
 * child_process: libuv then waitpid()s it on every SIGCHLD, from this thread, and a tracee's
 * ptrace stops are reported to every thread of the tracer's process, so Node would take them
 * from the worker thread (and report a false exit). Refused rather than hung.
 */
function refuseOwnChild(pid: number): void {
  if (restoredHere.has(pid)) return;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return; // the engine says it the CLI's way
  }
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  if (ppid === process.pid)
    throw new NotSupportedError(`dumping pid ${pid}, a child of this Node process`, {
      task: pid,
      hint: "Node's child_process reaps its children with waitpid() and would take the tracer's ptrace stops; start the program as a grandchild (a double fork, e.g. `sh -c 'setsid prog & echo $!'`) or dump it from another process",
    });
}

/** Restore the tree of `imagesDir`, as `criu restore -D DIR ...`; resolves with the root's pid once the tree runs. */
export async function restore(opts: RestoreOptions): Promise<number> {
  const pr = prepare('restore', opts);
  const { waitRoot, ...engine } = restoreOptions(pr);
  const { value: pid } = await runJob({ op: 'restore', opts: engine }, pr, opts);
  waiters.delete(pid);
  restoredHere.add(pid);
  if (waitRoot) void waitRestored(pid).catch(() => undefined);
  return pid;
}

/** Probe the kernel, as `criu check` (with `all`: `criu check --all`; `feature`: `--feature`). */
export async function check(opts: CheckOptions = {}): Promise<CheckResult> {
  const { feature, ...rest } = opts;
  const pr = prepare('check', { ...rest, feature: typeof feature === 'string' ? [feature] : feature });
  const r = await runJob({ op: 'check', opts: checkOptions(pr) }, pr, opts, true);
  return { code: r.value, ok: r.value === 0, output: r.stdout, errors: r.stderr };
}

const waiters = new Map<number, Promise<ExitStatus>>();

/**
 * Wait for a restored root (a child of this process) to end, and reap it. Polls without
 * blocking the event loop; the same promise for every call on one pid.
 */
export function waitRestored(pid: number): Promise<ExitStatus> {
  let w = waiters.get(pid);
  if (!w) {
    w = pollExit(pid);
    waiters.set(pid, w);
  }
  return w;
}

async function pollExit(pid: number): Promise<ExitStatus> {
  const { waitpid, decodeWait, WNOHANG, __WALL } = await import('../sys/libc.js');
  for (;;) {
    let r = { pid: 0, status: 0 };
    try {
      if (!busy.has(pid)) r = waitpid(pid, WNOHANG | __WALL);
    } catch (e) {
      throw new CriuError(
        `cannot wait for pid ${pid}: ${(e as Error).message}`,
        'only a tree restored by this process, and not reaped already, can be waited for',
      );
    }
    if (r.pid === pid) {
      const st = decodeWait(r.status);
      restoredHere.delete(pid);
      if (st.kind === 'exited') return { pid, code: st.code, signal: null };
      if (st.kind === 'signaled') return { pid, code: null, signal: st.sig };
    }
    await new Promise((res) => setTimeout(res, 10));
  }
}

interface JobResult {
  value: number;
  stdout: string;
  stderr: string;
}

function workerEnv(): NodeJS.ProcessEnv {
  // puppets come from a `criu --puppet-server` of the worker's own, never from a launcher this
  // process may have been started under
  const env = { ...process.env };
  delete env.CRIU_LAUNCHER_FD;
  return env;
}

/** One call on a worker thread of its own: settles with its answer; `capture` collects its stdout and stderr. */
function runJob(job: Job, pr: Prepared, call: CallOptions, capture = false): Promise<JobResult> {
  const { signal, onProgress } = call;
  if (signal?.aborted) return Promise.reject(new AbortError(`criu ${job.op} aborted by the caller before it started`, { hint: 'nothing was touched' }));
  const abort = new SharedArrayBuffer(4);
  const input: WorkerInput = { job, argv: pr.argv, logFile: pr.logFile, logLevel: pr.p.logLevel, notes: pr.notes, warnings: pr.warnings, abort };
  const w = new Worker(new URL('./worker.js', import.meta.url), {
    workerData: input,
    env: workerEnv(),
    stdout: capture,
    stderr: capture,
    trackUnmanagedFds: false,
  });
  const out = { stdout: '', stderr: '' };
  if (capture) {
    w.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d));
    w.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d));
  }
  const onAbort = (): void => {
    Atomics.store(new Int32Array(abort), 0, 1);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  return new Promise<JobResult>((resolve, reject) => {
    let answer: { ok: true; value: number } | { ok: false; error: Error } | null = null;
    const settle = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (answer?.ok) resolve({ value: answer.value, ...out });
      else if (answer) reject(answer.error);
    };
    w.on('message', (m: WorkerMessage) => {
      if (m.type === 'progress') onProgress?.(m.event);
      else {
        answer =
          m.type === 'done'
            ? { ok: true, value: m.value }
            : { ok: false, error: fromWire(m.error, m.error.kind === 'AbortError' ? signal?.reason : undefined) };
        // a captured call answers once its output is all read, at the thread's end
        if (!capture) settle();
      }
    });
    w.on('error', (e) => {
      answer ??= { ok: false, error: e };
    });
    w.on('exit', (code) => {
      answer ??= { ok: false, error: new CriuError(`the criu-ts worker thread of criu ${job.op} ended (code ${code}) without an answer`) };
      settle();
    });
  });
}
