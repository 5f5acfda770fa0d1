// CRIU's notifications (action-scripts.c): at fixed moments of a dump or restore the tool tells
// whoever asked, and waits for the answer. Two listeners, as in CRIU: the RPC caller (a notifier
// set by the swrk/service code, asked first) and the --action-script programs (each run with
// CRTOOLS_SCRIPT_ACTION and friends in its environment). A listener that fails fails the step.
// The engines call runScripts(ACTION) at CRIU's call points and nothing else; who listens is
// set up by the CLI, the RPC server or the Node API.
//
// As CRIU runs a script (cr_system): the last --action-script given runs first (CRIU keeps them
// in a list it adds to at the head), every one runs even after one failed, its stdin is
// /dev/null (CRIU closes it), its stdout and stderr go to the log (the -o file, else stderr),
// its working directory is the work dir (CRIU chdir()s there), and any failure (an exit status
// not 0, a signal, a program that cannot be run) makes the result -1. CRTOOLS_IMAGE_DIR is
// /proc/<criu pid>/fd/<fd> of the images directory, as CRIU gives it (the directory itself,
// for `ls` and `cd`, even when the caller gave it as an fd); CRTOOLS_INIT_PID is the root's pid
// from the first script run after it is known (a dump: the -t pid from pre-dump on; a restore:
// from the moment the root exists, so not at pre-restore).
import { childProcess } from './sys/tools.js';
import * as fs from 'node:fs';
import { CriuError } from './errors.js';
import { log } from './log.js';

/** node:child_process, loaded only when a program is run: it pulls in net and friends, milliseconds on the dump path */

export const ACTIONS = [
  'pre-stream',
  'pre-dump',
  'post-dump',
  'pre-restore',
  'post-restore',
  'network-lock',
  'network-unlock',
  'setup-namespaces',
  'post-setup-namespaces',
  'post-resume',
  'pre-resume',
  'orphan-pts-master',
  'status-ready',
  'query-ext-files',
] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * The RPC side: sends a NOTIFY (with an fd for orphan-pts-master) and waits for the caller's
 * answer. Returns 0 when the caller answered success, else a nonzero code.
 */
export type Notifier = (action: Action, fd: number) => number;

interface State {
  /** in the order they run: the last one added first */
  scripts: string[];
  rpc: Notifier | null;
  /** the images folder (opened at the first script run) */
  imagesDir: string | null;
  /** an fd of ours on the images folder, when the caller gave one or we opened it */
  imagesDirFd: number | null;
  ownImagesDirFd: boolean;
  /** CRTOOLS_IMAGE_DIR once set (set once, as CRIU does) */
  imageDirEnv: string | null;
  /** CRTOOLS_INIT_PID: the root task's pid, once known */
  initPid: number | null;
  /** the scripts' working directory (CRIU's cwd is the work dir) */
  workDir: string | null;
}

const fresh = (): State => ({
  scripts: [],
  rpc: null,
  imagesDir: null,
  imagesDirFd: null,
  ownImagesDirFd: false,
  imageDirEnv: null,
  initPid: null,
  workDir: null,
});
let state: State = fresh();

/** A listener said no: the operation fails with this exit code (CRIU: 255 for post-dump, else 1). */
export class ScriptError extends CriuError {
  constructor(
    message: string,
    readonly exitCode: number,
    hint?: string,
  ) {
    super(message, hint);
  }
}

/** --action-script FILE (each one given; the last one given runs first, as in CRIU) */
export function addScript(file: string): void {
  state.scripts.unshift(file);
}

/** the RPC caller's notifier (swrk/service with notify_scripts set); null to drop it */
export function setNotifier(fn: Notifier | null): void {
  state.rpc = fn;
}

/**
 * What the scripts' environment says of this run. imagesDir (a path) or imagesDirFd (an open
 * fd on it, kept by the caller) give CRTOOLS_IMAGE_DIR; workDir is the scripts' cwd.
 */
export function setScriptEnv(env: { imagesDir?: string; imagesDirFd?: number; initPid?: number; workDir?: string }): void {
  if (env.imagesDir !== undefined) state.imagesDir = env.imagesDir;
  if (env.imagesDirFd !== undefined) {
    dropImagesDirFd();
    state.imagesDirFd = env.imagesDirFd;
  }
  if (env.initPid !== undefined) state.initPid = env.initPid;
  if (env.workDir !== undefined) state.workDir = env.workDir;
}

/** What a notification says of the run (the RPC side sends the root's pid with some of them). */
export function scriptEnv(): { initPid: number | null; imagesDir: string | null } {
  return { initPid: state.initPid, imagesDir: state.imagesDir };
}

/** Forget every listener (the next RPC request, a test, a new API call starts clean). */
export function resetNotify(): void {
  dropImagesDirFd();
  state = fresh();
}

function dropImagesDirFd(): void {
  if (state.ownImagesDirFd && state.imagesDirFd !== null) fs.closeSync(state.imagesDirFd);
  state.imagesDirFd = null;
  state.ownImagesDirFd = false;
}

/** an RPC caller listens (rpc_query_external_files() asks only it) */
export const hasRpcNotifier = (): boolean => state.rpc !== null;

export const hasListeners = (): boolean => state.rpc !== null || state.scripts.length > 0;

/**
 * run_scripts(): the RPC caller first (a refusal there ends it), then every action script.
 * Returns 0 when all said yes, else nonzero (-1 for a script that failed, as CRIU's cr_system;
 * the notifier's code for an RPC refusal).
 */
export function runScripts(action: Action): number {
  log.debug(`Running ${action} scripts`);
  if (!hasListeners()) return 0;
  let ret = 0;
  if (state.rpc) ret = rpcSendFd(action, -1);
  if (ret === 0) ret = runShellScripts(action);
  if (ret !== 0) log.error('One of more action scripts failed');
  return ret;
}

/** rpc_send_fd(): a notification to the RPC caller only, carrying fd (or -1 for none). */
export function rpcSendFd(action: Action, fd: number): number {
  if (!state.rpc) return -1;
  log.debug('\tRPC');
  return state.rpc(action, fd);
}

function runShellScripts(action: Action): number {
  if (!state.scripts.length) return 0;
  const env: NodeJS.ProcessEnv = { ...process.env, CRTOOLS_SCRIPT_ACTION: action };
  delete env.CRIU_LAUNCHER_FD; // ours, not the script's
  state.imageDirEnv ??= imageDirEnv();
  if (state.imageDirEnv !== null) env.CRTOOLS_IMAGE_DIR = state.imageDirEnv;
  if (state.initPid !== null) env.CRTOOLS_INIT_PID = String(state.initPid);
  let ret = 0;
  for (const file of state.scripts) {
    log.debug(`\t[${file}]`);
    if (runOne(file, env) !== 0) {
      log.error(`Script ${file} exited with -1`);
      ret = -1;
    }
  }
  return ret;
}

/** /proc/<our pid>/fd/<fd of the images dir>, opening the directory the first time */
function imageDirEnv(): string | null {
  if (state.imagesDirFd === null && state.imagesDir !== null) {
    try {
      state.imagesDirFd = fs.openSync(state.imagesDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      state.ownImagesDirFd = true;
    } catch (e) {
      log.warn(`Can't open the images directory ${state.imagesDir} for the action scripts: ${(e as Error).message}`);
      return null;
    }
  }
  return state.imagesDirFd === null ? null : `/proc/${process.pid}/fd/${state.imagesDirFd}`;
}

function runOne(file: string, env: NodeJS.ProcessEnv): number {
  const out = log.fd;
  const r = childProcess().spawnSync(file, [], { env, cwd: state.workDir ?? undefined, stdio: ['ignore', out, out] });
  if (r.error) {
    log.error(`execvp("${file}", ...) failed: ${r.error.message}`);
    return -1;
  }
  if (r.signal) {
    log.error(`killed by signal ${r.signal}`);
    return -1;
  }
  if (r.status !== 0) log.error(`exited, status=${r.status}`);
  return r.status === 0 ? 0 : -1;
}
