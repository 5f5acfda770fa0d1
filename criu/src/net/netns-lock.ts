// The network lock of a tree in a network namespace of its own, at CRIU's moments (net.c
// network_lock / network_unlock, cr-dump.c, cr-restore.c):
//  - dump, before the tree is frozen: the `network-lock` notification (a refusal stops the dump
//    there), then the namespace is locked from inside (net/lock.ts lockNetns);
//  - dump undone (a failure) or a tree that runs on (-R): `network-unlock`, then the lock goes;
//    a tree that is killed takes its namespace, and the lock, with it;
//  - restore: the lock comes back with the namespace's firewall images (they were dumped with
//    it); with --empty-ns net it is made again between setup-namespaces and post-setup-namespaces;
//    right before the tree runs: `network-unlock`, then the lock goes.
// Called from the TCP kind's hooks (files/tcp.ts) and restore/scripts.ts.
import * as fs from 'node:fs';
import { runScripts, ScriptError } from '../notify.js';
import { log } from '../log.js';
import { lockNetns, unlockNetns, lockMethodOf, type LockMethod } from './lock.js';
import { treeNetnsPid } from './tree-netns.js';
import { readOptional } from '../images/typed.js';

/** whether task `pid` lives in a network namespace other than the tool's */
export function ownNetns(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`) !== fs.readlinkSync('/proc/self/ns/net');
  } catch {
    return false;
  }
}

interface Held {
  method: LockMethod;
  pid: number;
  runId: string;
  unlocked: boolean;
}
let dumpLock: Held | null = null;

/** Before the freeze: network-lock, then the tree's own namespace locked. Returns whether it has one. */
export function lockDumpNetns(pid: number, method: LockMethod, runId: string): boolean {
  dumpLock = null;
  if (!ownNetns(pid)) return false;
  const r = runScripts('network-lock');
  if (r !== 0)
    throw new ScriptError(`network-lock script failed (${r}): task ${pid} was not touched`, 1, 'see what the action script (or RPC caller) said in the log');
  dumpLock = { method, pid, runId, unlocked: false };
  lockNetns(method, `/proc/${pid}/ns/net`, runId);
  // the dump keeps the lock in the namespace's firewall images: the restored namespace is locked until its unlock
  return true;
}

/** The dumped tree runs on (-R, or the dump failed): network-unlock, then the lock goes (once). */
export function unlockDumpNetns(): void {
  const l = dumpLock;
  if (!l || l.unlocked) return;
  l.unlocked = true;
  const r = runScripts('network-unlock');
  if (r !== 0) log.error(`network-unlock script ret code ${r}`);
  unlockNetns(l.method, `/proc/${l.pid}/ns/net`, l.runId);
}

/** The dump is over and the tree gone (or left stopped, its namespace still locked). */
export function forgetDumpNetns(): void {
  dumpLock = null;
}

interface Inv {
  network_lock_method?: number;
  dump_criu_run_id?: string;
}

/** --empty-ns net: the namespace's firewall images are not restored, so the lock is made again (network_lock_internal(restore)) */
export function relockEmptyNetns(pid: number, inv: Inv): void {
  lockNetns(lockMethodOf(inv.network_lock_method), `/proc/${pid}/ns/net`, inv.dump_criu_run_id ?? 'unknown', true);
}

/**
 * Right before the restored tree runs, when its root is in a network namespace the restore made
 * or joined (ns/net.ts treeNetnsPid): network-unlock, then the dump's lock goes (once per restore).
 */
export function unlockRestoredNetns(imagesDir: string): void {
  const pid = treeNetnsPid();
  if (pid < 0 || restoreUnlockedFor === pid) return;
  restoreUnlockedFor = pid;
  const inv: Inv = readOptional(imagesDir, 'inventory.img', 'INVENTORY')?.[0]?.msg ?? {};
  const r = runScripts('network-unlock');
  if (r !== 0) log.error(`network-unlock script ret code ${r}`);
  unlockNetns(lockMethodOf(inv.network_lock_method), `/proc/${pid}/ns/net`, inv.dump_criu_run_id ?? 'unknown');
}
let restoreUnlockedFor = -1;
