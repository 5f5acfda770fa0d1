// The dump's notifications (cr-dump.c): pre-dump before anything is seized, post-dump once the
// images are written and while the tree is still held. network-lock / network-unlock are not
// sent: CRIU sends them only for a tree in a network namespace of its own (net.c
// network_lock: root_ns_mask & CLONE_NEWNET), which the dump does not take yet.
import { runScripts, rpcSendFd, setScriptEnv, hasListeners, hasRpcNotifier, ScriptError } from '../notify.js';
import { release, type Frozen } from './freeze.js';
import { FILES } from '../files/registry.js';
import { log } from '../log.js';

/** pre-dump (cr_dump_tasks): the tree is not touched yet; a refusal ends the dump there. */
export function preDump(pid: number, imagesDir: string): void {
  // CRIU knows the root's pid (root_item->pid->real) before it runs pre-dump
  setScriptEnv({ imagesDir, initPid: pid });
  const r = runScripts('pre-dump');
  if (r !== 0) {
    throw new ScriptError(`Pre dump script failed with ${r}: task ${pid} was not touched`, 1, 'see what the action script (or RPC caller) said in the log');
  }
}

/**
 * query-ext-files (cr-dump.c rpc_query_external_files, once the tree is seized): only an RPC
 * caller is asked; a refusal (or an answer naming external objects, rpc.ts) fails the dump.
 */
export function queryExtFiles(pid: number): void {
  if (!hasRpcNotifier()) return;
  const r = rpcSendFd('query-ext-files', -1);
  if (r !== 0)
    throw new ScriptError(`query-ext-files failed (${r}): the dump of task ${pid} is given up, the tree runs on`, 1, 'see what the RPC caller said in the log');
}

/**
 * With -R the tree is let go before the images are written, unless someone waits for
 * post-dump: CRIU runs it with the tree still frozen (a script snapshots the filesystem then).
 */
export const releaseEarly = (leaveRunning: boolean): boolean => leaveRunning && !hasListeners();

/**
 * post-dump (cr_dump_finish): the images are complete. A refusal makes the tree run on (the
 * images stay) and the dump fail with 255, as CRIU (WEXITSTATUS of cr_system's -1); on success
 * a -R tree held for it is let go here.
 */
export function postDump(frozen: Frozen[], opts: { imagesDir: string; leaveRunning: boolean }, released: boolean): void {
  const r = runScripts('post-dump');
  if (r !== 0) {
    // CRIU: WEXITSTATUS(ret), 255 for cr_system's -1 (and never 0: a refusal is a failure)
    const code = (r >> 8) & 0xff || 255;
    log.info(`Post dump script passed with ${code}`);
    if (!released) release(frozen, false);
    FILES.afterDump({ imagesDir: opts.imagesDir, ok: false });
    log.error('Dumping FAILED.');
    throw new ScriptError(
      `post-dump action script failed (${r}): the tree runs on, the images in ${opts.imagesDir} are kept`,
      code,
      'see what the action script (or RPC caller) said in the log',
    );
  }
  if (opts.leaveRunning && !released) release(frozen, false);
}
