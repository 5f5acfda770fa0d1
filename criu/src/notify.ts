// CRIU's notifications (action-scripts.c): at fixed moments of a dump or restore the tool tells
// whoever asked, and waits for the answer. Two listeners, as in CRIU: the RPC caller (a notifier
// set by the swrk/service code, asked first) and the --action-script programs (each run with
// CRTOOLS_SCRIPT_ACTION and friends in its environment). A listener that fails fails the step.
// The engines call runScripts(ACTION) at CRIU's call points and nothing else; who listens is
// set up by the CLI, the RPC server or the Node API.
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { log } from './log.js';

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
  scripts: string[];
  rpc: Notifier | null;
  /** CRTOOLS_IMAGE_DIR: the images folder */
  imagesDir: string | null;
  /** CRTOOLS_INIT_PID: the root task's pid, once known */
  initPid: number | null;
}

const state: State = { scripts: [], rpc: null, imagesDir: null, initPid: null };

/** --action-script FILE (each one given, run in the order given) */
export function addScript(file: string): void {
  state.scripts.push(file);
}

/** the RPC caller's notifier (swrk/service with notify_scripts set); null to drop it */
export function setNotifier(fn: Notifier | null): void {
  state.rpc = fn;
}

/** what the scripts' environment says of this run */
export function setScriptEnv(env: { imagesDir?: string; initPid?: number }): void {
  if (env.imagesDir !== undefined) state.imagesDir = env.imagesDir;
  if (env.initPid !== undefined) state.initPid = env.initPid;
}

/** Forget every listener (the next RPC request, a test, a new API call starts clean). */
export function resetNotify(): void {
  state.scripts = [];
  state.rpc = null;
  state.imagesDir = null;
  state.initPid = null;
}

export const hasListeners = (): boolean => state.rpc !== null || state.scripts.length > 0;

/**
 * run_scripts(): the RPC caller first (a refusal there ends it), then every action script.
 * Returns 0 when all said yes, else the first nonzero code (a script's exit status, or 1).
 */
export function runScripts(action: Action): number {
  if (!hasListeners()) return 0;
  log.debug(`Running ${action} scripts`);
  if (state.rpc) {
    const r = rpcSendFd(action, -1);
    if (r !== 0) {
      log.error('One of more action scripts failed');
      return r;
    }
  }
  let ret = 0;
  for (const file of state.scripts) {
    log.debug(`\t[${file}]`);
    const r = runOne(file, action);
    if (r !== 0) {
      log.error(`Script ${file} exited with ${r}`);
      if (ret === 0) ret = r;
    }
  }
  if (ret !== 0) log.error('One of more action scripts failed');
  return ret;
}

/** rpc_send_fd(): a notification to the RPC caller only, carrying fd (or -1 for none). */
export function rpcSendFd(action: Action, fd: number): number {
  if (!state.rpc) return -1;
  log.debug('\tRPC');
  return state.rpc(action, fd);
}

function runOne(file: string, action: Action): number {
  const env: NodeJS.ProcessEnv = { ...process.env, CRTOOLS_SCRIPT_ACTION: action };
  if (state.imagesDir !== null) env.CRTOOLS_IMAGE_DIR = state.imagesDir;
  if (state.initPid !== null) env.CRTOOLS_INIT_PID = String(state.initPid);
  // the script's output is the user's: it goes where criu's own stdout and stderr go
  const r = spawnSync(file, [], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) {
    log.error(`Can't run action script ${file}: ${r.error.message}`);
    return 1;
  }
  if (r.signal) return 128 + (constants.signals[r.signal] ?? 0);
  return r.status ?? 1;
}
