// Holding the tree still: seize and stop every thread of every task (or freeze a freezer cgroup
// first), note the zombies, and let every task go again at the end, exactly as it was (a
// failure), stopped, running or killed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tracee, TaskGoneError, waitStop } from '../ptrace/tracee.js';
import { PTRACE_O, SIG } from '../ptrace/consts.js';
import { listTids, collectTree, readStat, type TaskNode } from '../proc/index.js';
import { tryKill, SysError, E, waitpid, decodeWait, __WALL, WNOHANG } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import type { ZombieRec } from './entries.js';
import { noteFreezerOrigin } from '../cgroup/dump.js';
import { pluginCalls } from '../hooks.js';
import { FILES } from '../files/registry.js';

/** A task of the tree, held: its threads seized (main thread first), or a zombie. */
export interface Frozen {
  pid: number;
  ppid: number;
  tracees: Tracee[];
  stopSig?: number;
  zombie?: ZombieRec;
}

/** The tree under rootPid held still: with --freeze-cgroup through the cgroup, else task by task. */
export function freezeTree(rootPid: number, timeoutMs: number, freezeCgroup?: string): Frozen[] {
  return freezeCgroup ? freezeWithCgroup(rootPid, freezeCgroup, timeoutMs) : freeze(rootPid, timeoutMs);
}

/** The tasks of a frozen tree, found and forgotten as they show up and go. */
class FrozenSet {
  readonly list: Frozen[] = [];
  readonly byPid = new Map<number, Frozen>();
  add(f: Frozen): void {
    this.list.push(f);
    this.byPid.set(f.pid, f);
  }
  forget(f: Frozen): void {
    this.list.splice(this.list.indexOf(f), 1);
    this.byPid.delete(f.pid);
  }
}

const tidsOf = (pid: number): number[] => {
  try {
    return listTids(pid);
  } catch {
    return [];
  }
};

/** Seize and stop every thread of every task of the tree, parents first, until no new task shows up. */
function freeze(rootPid: number, timeoutMs: number): Frozen[] {
  const deadline = Date.now() + timeoutMs;
  const set = new FrozenSet();
  try {
    for (let round = 0; ; round++) {
      if (Date.now() > deadline || round > 64) {
        throw new CriuError(
          `task ${rootPid}: the tree did not hold still within ${timeoutMs / 1000} s (${set.list.length} tasks frozen so far)`,
          'raise --timeout, or stop what keeps forking',
        );
      }
      const tree = walkTree(rootPid, false);
      const fresh = tree.all.filter((n: TaskNode) => !set.byPid.has(n.pid));
      const moreThreads = set.list.some((f) => !f.zombie && tidsOf(f.pid).some((t) => !f.tracees.some((x) => x.tid === t)));
      if (!fresh.length && !moreThreads) {
        settleParents(set, tree.all);
        break;
      }
      for (const node of fresh) {
        const f: Frozen = { pid: node.pid, ppid: node.ppid, tracees: [] };
        if (!markZombie(f, rootPid)) {
          try {
            readStat(node.pid);
          } catch {
            continue;
          } // ended since the listing: not part of the tree
          // PAUSE_DEVICES before the task is seized, as CRIU's seize.c (a GPU task locked first)
          pluginCalls().pauseDevices(node.pid);
        }
        set.add(f);
      }
      for (const f of [...set.list]) {
        if (f.zombie) continue;
        seizeThreads(f, rootPid, set);
        sortThreads(f);
      }
      dropGone(set, rootPid);
    }
    return set.list;
  } catch (e) {
    pluginCalls().finish(-1); // exit(-1) while the tasks seized so far are still held
    release(set.list, false);
    if (e instanceof TaskGoneError || (e as { code?: string }).code === 'ESRCH') {
      throw new CriuError(`task ${rootPid}: cannot freeze the tree: ${(e as Error).message}`, 'is the PID right and the process alive?');
    }
    throw e;
  }
}

/**
 * The last walk, taken while every task of the set is held, is the tree: parents as it shows
 * them (a task seen first under a parent that exited since was reparented), and a held task it
 * no longer holds (reparented out of the tree) let go.
 */
function settleParents(set: FrozenSet, nodes: TaskNode[]): void {
  const inTree = new Map(nodes.map((n) => [n.pid, n]));
  for (const f of [...set.list]) {
    const n = inTree.get(f.pid);
    if (n) {
      f.ppid = n.ppid;
      continue;
    }
    if (f.zombie) continue; // a zombie's walk entry is its parent's, checked by dropGone
    log.debug(`\ttask ${f.pid} left the tree while it was frozen: released`);
    letGo(f);
    set.forget(f);
  }
}

/** Seize and stop the threads of f not seized yet. */
function seizeThreads(f: Frozen, rootPid: number, set: FrozenSet): void {
  let tids: number[];
  try {
    tids = listTids(f.pid);
  } catch {
    tids = [];
  }
  for (const tid of tids) {
    if (f.tracees.some((x) => x.tid === tid)) continue;
    let t: Tracee;
    try {
      t = Tracee.seize(tid, PTRACE_O.SUSPEND_SECCOMP);
      log.debug(`\tSeizing ${f.pid}'s ${tid} thread`);
      const s = t.stop();
      if (s.kind === 'group-stop') endGroupStop(f, t, s.sig);
    } catch (e) {
      // it ended between the listing and here: a thread is simply gone, a task is a
      // zombie now (the seize then fails with EPERM) or gone
      if (!(e instanceof TaskGoneError || (e instanceof SysError && e.errno === E.EPERM))) throw e;
      if (tid === f.pid && !f.tracees.length && !markZombie(f, rootPid)) set.forget(f);
      if (f.zombie || !set.byPid.has(f.pid)) break;
      continue;
    }
    f.tracees.push(t);
  }
}

/**
 * A stopped task (SIGSTOP and friends): a traced task in group stop re-enters it on every
 * resume, so the stop is ended with SIGCONT (whose delivery is suppressed), the task is dumped
 * as TASK_STOPPED and stopped again on release.
 */
function endGroupStop(f: Frozen, t: Tracee, sig: number): void {
  if (!f.stopSig) f.stopSig = sig;
  tryKill(f.pid, SIG.CONT);
  t.interrupt();
  t.cont(0);
  for (;;) {
    const n = waitStop(t.tid);
    if (n.kind === 'interrupt') break;
    t.cont(n.kind === 'signal' && n.sig !== SIG.CONT ? n.sig : 0);
  }
}

/** the main thread first, then the others by tid */
function sortThreads(f: Frozen): void {
  f.tracees.sort((a, b) => (a.tid === f.pid ? -1 : b.tid === f.pid ? 1 : a.tid - b.tid));
}

/**
 * A task reaped by its parent before the parent was frozen is not part of the tree; nor a
 * zombie its parent reaped before it was frozen (once the parent is frozen none can go).
 */
function dropGone(set: FrozenSet, rootPid: number): void {
  for (const f of [...set.list]) {
    if (f.zombie) {
      let st;
      try {
        st = readStat(f.pid);
      } catch {
        st = null;
      }
      if (st?.state !== 'Z') set.forget(f);
      continue;
    }
    if (f.tracees.length) continue;
    if (f.pid === rootPid) throw new CriuError(`task ${rootPid}: gone before it could be seized`);
    set.forget(f);
  }
}

/** A freezer cgroup, v1 (freezer.state) or v2 (cgroup.freeze). */
class Freezer {
  readonly v2: boolean;
  constructor(readonly dir: string) {
    this.v2 = fs.existsSync(path.join(dir, 'cgroup.freeze'));
    if (!this.v2 && !fs.existsSync(path.join(dir, 'freezer.state'))) {
      throw new CriuError(`--freeze-cgroup ${dir}: not a freezer cgroup (no freezer.state nor cgroup.freeze)`);
    }
  }
  frozen(): boolean {
    if (this.v2) return /^frozen 1$/m.test(fs.readFileSync(path.join(this.dir, 'cgroup.events'), 'utf8'));
    return fs.readFileSync(path.join(this.dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
  }
  /** the freeze asked for, not waited for */
  request(): void {
    fs.writeFileSync(path.join(this.dir, this.v2 ? 'cgroup.freeze' : 'freezer.state'), this.v2 ? '1' : 'FROZEN');
  }
  freeze(deadline: number): void {
    this.request();
    while (!this.frozen()) {
      if (Date.now() > deadline) {
        this.thaw();
        throw new CriuError(`--freeze-cgroup ${this.dir}: did not freeze in time`, 'raise --timeout');
      }
      nap(5);
    }
  }
  thaw(): void {
    fs.writeFileSync(path.join(this.dir, this.v2 ? 'cgroup.freeze' : 'freezer.state'), this.v2 ? '0' : 'THAWED');
  }
  pids(): Set<number> {
    return new Set(fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  }
}

/**
 * --freeze-cgroup: freeze the cgroup, seize and interrupt every thread of the tree while nothing
 * can fork or exit, thaw it, and collect the interrupt stops.
 */
function freezeWithCgroup(rootPid: number, dir: string, timeoutMs: number): Frozen[] {
  const fz = new Freezer(dir);
  const frozen: Frozen[] = [];
  // frozen before the dump froze it (a paused container): frozen again when the tree is let go
  const wasFrozen = fz.frozen();
  noteFreezerOrigin(dir, wasFrozen);
  pausedFreezer = wasFrozen ? fz : undefined;
  pluginCalls().pauseDevices(rootPid); // seize.c: once, before the cgroup is frozen
  fz.freeze(Date.now() + timeoutMs);
  try {
    const inCg = fz.pids();
    for (const node of walkTree(rootPid).all) {
      if (!inCg.has(node.pid))
        throw new CriuError(`task ${node.pid}: not in the freezer cgroup ${dir}`, 'the whole tree must be in the cgroup given to --freeze-cgroup');
      const f: Frozen = { pid: node.pid, ppid: node.ppid, tracees: [] };
      frozen.push(f);
      if (markZombie(f, rootPid)) continue;
      for (const tid of listTids(node.pid)) {
        const t = Tracee.seize(tid, PTRACE_O.SUSPEND_SECCOMP);
        t.interrupt();
        f.tracees.push(t);
      }
    }
  } catch (e) {
    release(frozen, false);
    if (!wasFrozen) fz.thaw();
    throw e;
  }
  fz.thaw();
  try {
    for (const f of frozen) {
      for (const t of f.tracees) {
        for (;;) {
          const s = waitStop(t.tid);
          if (s.kind === 'interrupt') break;
          if (s.kind === 'group-stop') throw new NotSupportedError(`task ${t.tid}: stopped (group stop) in a frozen cgroup`);
          t.cont(s.kind === 'signal' ? s.sig : 0);
        }
      }
      sortThreads(f);
    }
  } catch (e) {
    release(frozen, false);
    throw e;
  }
  log.info(`Froze cgroup ${dir} and seized ${frozen.length} task(s)`);
  return frozen;
}

/**
 * The tree under rootPid; threads and tasks that end during the walk make it start over.
 * settle false: one walk (the seizing loop walks again until it finds nothing new, so a tree
 * that forks faster than two walks agree, as on a slow emulated CPU, is still caught).
 */
function walkTree(rootPid: number, settle = true): ReturnType<typeof collectTree> {
  for (let i = 0; ; i++) {
    try {
      return collectTree(rootPid, 16, settle);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (i < 20 && (code === 'ENOENT' || code === 'ESRCH') && fs.existsSync(`/proc/${rootPid}`)) continue;
      throw e;
    }
  }
}

/** Sleeps ms milliseconds, holding the (tracer) thread. */
const nap = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** If the task is a zombie, note its exit status and say so. */
function markZombie(f: Frozen, rootPid: number): boolean {
  let st;
  try {
    st = readStat(f.pid);
  } catch {
    return false;
  }
  if (st.state !== 'Z') return false;
  // a dead main thread with others still running is a zombie leader, not a zombie task (the
  // threads of a process in exit_group() go within moments: only those that stay count)
  const tidsLeft = (): number[] => tidsOf(f.pid).filter((t) => t !== f.pid);
  let others = tidsLeft();
  for (const end = Date.now() + 200; others.length && Date.now() < end; others = tidsLeft()) nap(5);
  if (others.length) {
    throw new NotSupportedError(
      `task ${f.pid}: its main thread has exited while thread${others.length > 1 ? 's' : ''} ${others.join(', ')} run${others.length > 1 ? '' : 's'} on`,
      'a process whose main thread called pthread_exit() cannot be dumped yet',
    );
  }
  if (f.pid === rootPid) throw new CriuError(`task ${rootPid}: is a zombie`, 'there is nothing left to dump');
  f.zombie = { exitCode: st.exit_code, comm: st.comm, pgid: st.pgrp, sid: st.session };
  return true;
}

/** CHECKPOINT_DEVICES: every live task, once the whole tree is held (seize.c checkpoint_devices). */
export function checkpointDevices(frozen: Frozen[]): void {
  for (const f of frozen) if (!f.zombie) pluginCalls().checkpointDevices(f.pid);
}

/** --freeze-cgroup of a cgroup that was frozen already (a paused container): it is left frozen, as CRIU leaves it */
let pausedFreezer: Freezer | undefined;

/** Detach every task: killed first (`kill`), or stopped again when it was stopped. */
export function release(frozen: Frozen[], kill: boolean, stopped = false): void {
  // the fd kinds let go what they held for the dump (TCP repair, the network lock) before it runs
  if (!kill && !stopped) FILES.beforeResume();
  const paused = pausedFreezer;
  pausedFreezer = undefined;
  if (kill) return killTraced(frozen);
  // asked to freeze again while every thread is still held (CRIU's freezer_restore_state), so none of it runs in between
  if (paused) paused.request();
  for (const f of frozen) letGo(f);
}

/** Detach a task's threads, stopped again when it was stopped. */
function letGo(f: Frozen): void {
  if (f.stopSig) tryKill(f.pid, f.stopSig);
  for (const t of f.tracees) {
    try {
      t.detach(0);
    } catch {
      /* gone */
    }
  }
}

/**
 * The dumped tree killed, each thread still traced, and waited for until it is dead (CRIU's
 * pstree_wait): when the dump answers, no task of it runs any more, so that a caller (runc's
 * "container still running") sees it gone; each exit reaped by the tool as its tracer goes on to
 * the task's parent.
 */
function killTraced(frozen: Frozen[]): void {
  for (const f of frozen) tryKill(f.pid, 9);
  // in any order: a pid namespace's init dies only once the others are reaped, which waits for
  // their tracer (the tool) to take their exits first
  let left = frozen.flatMap((f) => f.tracees);
  const until = Date.now() + 10_000;
  while (left.length) {
    left = left.filter((t) => {
      let r: { pid: number; status: number };
      try {
        r = waitpid(t.tid, __WALL | WNOHANG);
      } catch {
        return false; // not ours to wait for any more (gone, or reaped)
      }
      if (r.pid === 0) return true;
      const d = decodeWait(r.status);
      if (d.kind === 'exited' || d.kind === 'signaled') return false;
      try {
        t.cont(0); // a stop on its way out (one queued before the kill): let it go on dying
      } catch {
        return false;
      }
      return true;
    });
    if (!left.length) break;
    if (Date.now() > until) {
      log.warn(`the killed tree is not gone after 10 s: threads ${left.map((t) => t.tid).join(' ')} still run`);
      break;
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

/** The images are safe: the tree is left stopped, left running (let go already) or killed. */
export function finish(frozen: Frozen[], how: { leaveStopped: boolean; leaveRunning: boolean }): void {
  if (how.leaveStopped) {
    for (const f of frozen) if (!f.zombie && !f.stopSig) f.stopSig = SIG.STOP;
    release(frozen, false, true);
    log.info('Dumping finished successfully (tree left stopped)');
  } else if (how.leaveRunning) {
    log.info('Dumping finished successfully (tree left running)');
  } else {
    release(frozen, true);
    log.info('Dumping finished successfully');
  }
}
