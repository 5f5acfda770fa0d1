// Who may ask what of a root `criu service`: a caller that is not root may dump only a tree it
// could ptrace itself (every task its own: the same real, effective, saved and fs uids and gids,
// and dumpable, which /proc/PID's owner shows), into a directory of its own; and restore only
// images of its own tasks, from a directory of its own. The kernel would refuse the caller the
// same; the service, running as root, must not lend it more.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CriuError } from '../errors.js';
import { readMessagesOf, readOne, readOptional } from '../images/typed.js';
import { collectTree } from '../proc/tasks.js';

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
}

/** EPERM: the cr_errno of a refusal */
export const EPERM = 1;

export class CallerRefused extends CriuError {}

/** Whether the checks apply: a caller who is not root, served by a process that is. */
export const mustCheck = (peer: Peer): boolean => peer.uid !== 0 && process.geteuid?.() === 0;

function ids(pid: number, key: 'Uid' | 'Gid'): number[] {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${key}:\\s+(.*)$`, 'm').exec(st);
  return m ? m[1].trim().split(/\s+/).map(Number) : [];
}

/** The task and its descendants, as /proc shows them now (gone: none). */
function tree(pid: number): number[] {
  try {
    return collectTree(pid).all.map((t) => t.pid);
  } catch {
    return [pid];
  }
}

function ownDir(peer: Peer, dir: string, what: string): void {
  const st = fs.statSync(dir);
  if (st.uid !== peer.uid)
    throw new CallerRefused(`the caller (pid ${peer.pid}, uid ${peer.uid}) may not use ${what} ${dir}: it belongs to uid ${st.uid}`, {
      object: dir,
      hint: 'give a directory of your own',
    });
}

/** A dump of `pid` into `imagesDir`, asked by `peer`. */
export function mayDump(peer: Peer, pid: number, imagesDir: string): void {
  if (!mustCheck(peer)) return;
  for (const p of tree(pid)) {
    let owner: number;
    let uids: number[], gids: number[];
    try {
      owner = fs.statSync(`/proc/${p}`).uid;
      uids = ids(p, 'Uid');
      gids = ids(p, 'Gid');
    } catch {
      throw new CriuError(`task ${p} does not exist`, { task: p });
    }
    if (owner !== peer.uid || uids.some((u) => u !== peer.uid) || gids.some((g) => g !== peer.gid))
      throw new CallerRefused(
        `the caller (pid ${peer.pid}, uid ${peer.uid}) may not dump task ${p}: it could not ptrace it (uids ${uids.join(' ')}, gids ${gids.join(' ')})`,
        {
          task: p,
          hint: 'ask as the owner of every task of the tree, or as root',
        },
      );
  }
  ownDir(peer, imagesDir, 'the images directory');
}

/** A restore from `imagesDir`, asked by `peer`: every task's credentials must be the caller's. */
export function mayRestore(peer: Peer, imagesDir: string): void {
  if (!mustCheck(peer)) return;
  ownDir(peer, imagesDir, 'the images directory');
  for (const t of readMessagesOf(path.join(imagesDir, 'pstree.img'), 'PSTREE')) {
    // the creds are the core's (thread_core.creds), or creds-PID.img in images of old CRIUs
    const c = readOne(path.join(imagesDir, `core-${t.pid}.img`), 'CORE').thread_core?.creds ?? readOptional(imagesDir, `creds-${t.pid}.img`, 'CREDS')?.[0]?.msg;
    if (!c) throw new CallerRefused(`task ${t.pid}: the images hold no credentials to check the caller against`, { task: t.pid, hint: 'restore as root' });
    const u = [c.uid, c.euid, c.suid, c.fsuid],
      g = [c.gid, c.egid, c.sgid, c.fsgid];
    if (u.some((x) => x !== peer.uid) || g.some((x) => x !== peer.gid))
      throw new CallerRefused(`the caller (pid ${peer.pid}, uid ${peer.uid}) may not restore task ${t.pid}: it ran as uid ${u.join(' ')}, gid ${g.join(' ')}`, {
        task: t.pid,
        hint: 'restore as root',
      });
  }
}
