// The restore's notifications (cr-restore.c restore_root_task), in CRIU's order:
//   pre-restore            the images are read, nothing is made yet; a refusal ends it there
//   setup-namespaces       only for a root in namespaces of its own (root_ns_mask: its ids
//                          differ from the inventory's root_ids), once the root exists in them,
//                          before their contents (mounts, links …) are restored;
//   post-setup-namespaces  the same, once they are, before its children are forked; a refusal
//                          kills what was made
//   post-restore           every task restored, none let go; a refusal kills the tree
//   pre-resume             right before the tasks are let go   } failures only logged,
//   post-resume            once they run                        } as CRIU does
// CRTOOLS_INIT_PID is set once the root exists (CRIU: root_item->pid->real after its fork).
// network-unlock: for a tree in a network namespace of its own, right before it runs (net/netns-lock.ts).
import { runScripts, setScriptEnv, ScriptError, type Action } from '../notify.js';
import type { TaskKobjIdsEntry } from '../images/index.js';
import type { DumpImages } from './images.js';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import type { NsPlan } from '../ns/index.js';
import { relockEmptyNetns } from '../net/netns-lock.js';

const NS_IDS = ['pid_ns_id', 'net_ns_id', 'ipc_ns_id', 'uts_ns_id', 'time_ns_id', 'mnt_ns_id', 'user_ns_id'] as const;

/** pstree.c get_clone_mask() for the root: the namespaces it does not share with the dumping tool. */
export function rootNamespaces(img: DumpImages): string[] {
  const own: Partial<TaskKobjIdsEntry> = img.tasks[0].ids ?? {};
  const host: Partial<TaskKobjIdsEntry> = img.inventory.root_ids ?? {};
  return NS_IDS.filter((k) => (own[k] ?? 0) !== (host[k] ?? 0)).map((k) => k.replace(/_ns_id$/, ''));
}

function mustPass(action: Action, what: string): void {
  const r = runScripts(action);
  if (r !== 0)
    throw new ScriptError(`Aborting restore due to ${action} script ret code ${r}: ${what}`, 1, 'see what the action script (or RPC caller) said in the log');
}

/** pre-restore, and what must hold before anything is made (--exec-cmd needs the criu launcher). */
export function preRestore(opts: { imagesDir: string; execCmd?: string[] }): void {
  if (opts.execCmd && !process.env.CRIU_LAUNCHER_FD)
    throw new NotSupportedError('--exec-cmd without the criu launcher', "the command is exec()ed by native/build/criu, the restored root's parent");
  setScriptEnv({ imagesDir: opts.imagesDir });
  mustPass('pre-restore', 'nothing was made');
}

/**
 * The root exists in its namespaces, their contents not yet restored (CRIU: restore_wait_inprogress_tasks,
 * then ACT_SETUP_NS before the root's prepare_namespace): its pid for the scripts, and setup-namespaces
 * when it has namespaces of its own. Returns whether it has.
 */
export function rootMade(pid: number, img: DumpImages, nsPlan?: NsPlan): boolean {
  setScriptEnv({ initPid: pid });
  const ns = rootNamespaces(img);
  if (!ns.length) return false;
  log.debug(`task ${pid}: restored in namespaces of its own (${ns.join(', ')})`);
  mustPass('setup-namespaces', 'the tree is killed');
  // --empty-ns net: the lock the dump made is not in the (unrestored) firewall images: made again (net/netns-lock.ts)
  if (nsPlan?.items.some((i) => i.empty && i.kind.name === 'net')) relockEmptyNetns(pid, img.inventory);
  return true;
}

/** The namespaces' contents are restored (mounts, links, …): post-setup-namespaces (CRIU: after CR_STATE_PREPARE_NAMESPACES). */
export function namespacesRestored(own: boolean): void {
  if (own) mustPass('post-setup-namespaces', 'the tree is killed');
}

/** post-restore: a refusal kills the restored tree (the caller's failure path). */
export function postRestore(): void {
  mustPass('post-restore', 'the restored tree is killed');
}

/** pre-resume and post-resume: CRIU only logs their failures. */
export function resumeNote(action: 'pre-resume' | 'post-resume'): void {
  const r = runScripts(action);
  if (r !== 0) log.error(`${action === 'pre-resume' ? 'Pre' : 'Post'}-resume script ret code ${r}`);
}
