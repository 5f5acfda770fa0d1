// Threads and children of tasks, and the whole process tree under a root.
import { existsSync } from 'node:fs';
import { readProcDir, readProcText, numericEntries, ProcGoneError, ProcParseError } from './util.js';
import { CriuError } from '../errors.js';

/** Thread ids of a process (the thread group leader included), ascending. */
export function listTids(pid: number): number[] {
  return numericEntries(readProcDir(pid, 'task'));
}

/** Children of one thread (/proc/PID/task/TID/children; needs CONFIG_PROC_CHILDREN). */
export function children(pid: number, tid: number = pid): number[] {
  let t: string;
  try {
    t = readProcText(pid, `task/${tid}/children`);
  } catch (e) {
    // /proc/PID/children does not exist: the thread's own directory tells whether it exited
    const tdir = `/proc/${pid}/task/${tid}`;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(tdir)) throw new ProcGoneError(tid, tdir);
    throw e;
  }
  const out: number[] = [];
  for (const s of t.split(' ')) {
    if (s === '' || s === '\n') continue;
    const n = Number(s);
    if (!Number.isInteger(n)) throw new ProcParseError(`/proc/${pid}/task/${tid}/children`, 1, t, 'bad pid');
    out.push(n);
  }
  return out;
}

/**
 * Children of every thread of a process, ascending, read until two reads agree (settle), or
 * as one read finds them (a caller that walks again until nothing new is found).
 */
export function processChildren(pid: number, settle = true): number[] {
  let prev = '';
  for (let i = 0; i < 16; i++) {
    const set = new Set<number>();
    for (const tid of listTids(pid)) {
      try {
        for (const c of children(pid, tid)) set.add(c);
      } catch (e) {
        if (e instanceof ProcGoneError && e.pid === tid && existsSync(`/proc/${pid}`)) continue; // a thread exited
        throw e;
      }
    }
    const cur = [...set].sort((a, b) => a - b);
    const key = cur.join(',');
    if (key === prev || !settle) return cur;
    prev = key;
  }
  throw new CriuError(`task ${pid}: children keep changing`, {
    task: pid,
    hint: 'the tree forks or exits too fast to be listed; try again, or freeze it first (--freeze-cgroup)',
  });
}

export interface TaskNode {
  pid: number;
  /** pid of the parent node; 0 for the root */
  ppid: number;
  tids: number[];
  children: TaskNode[];
}
export interface TaskTree {
  root: TaskNode;
  /** every node, parents before children (breadth-first) */
  all: TaskNode[];
}

/**
 * Walk /proc from rootPid through the children of every thread, repeating the whole walk until
 * two walks give the same tree (a live tree may fork or exit meanwhile; a frozen one is stable
 * at once, costing one extra walk). Tasks that vanish mid-walk are left out. settle false: the
 * first walk as it is (the freezer walks again until it finds nothing new to seize, and a tree
 * whose tasks are all held cannot change but by tasks dying).
 */
export function collectTree(rootPid: number, maxRounds = 16, settle = true): TaskTree {
  let prev = '';
  for (let round = 0; round < maxRounds; round++) {
    const all: TaskNode[] = [];
    const root: TaskNode = { pid: rootPid, ppid: 0, tids: listTids(rootPid), children: [] };
    const queue = [root];
    const seen = new Set<number>([rootPid]);
    for (let q = 0; q < queue.length; q++) {
      const n = queue[q];
      all.push(n);
      let kids: number[];
      try {
        kids = processChildren(n.pid, settle);
        if (n !== root) n.tids = listTids(n.pid);
      } catch (e) {
        if (e instanceof ProcGoneError && n !== root) {
          all.pop();
          continue;
        }
        throw e;
      }
      for (const c of kids) {
        if (seen.has(c)) continue;
        seen.add(c);
        const child: TaskNode = { pid: c, ppid: n.pid, tids: [], children: [] };
        n.children.push(child);
        queue.push(child);
      }
    }
    // drop children that vanished (they were popped from `all`)
    const alive = new Set(all.map((n) => n.pid));
    for (const n of all) n.children = n.children.filter((c) => alive.has(c.pid));
    const key = all.map((n) => `${n.pid}<${n.ppid}:${n.tids.join('.')}`).join(' ');
    if (key === prev || !settle) return { root, all };
    prev = key;
  }
  throw new CriuError(`task ${rootPid}: process tree keeps changing`, {
    task: rootPid,
    hint: 'the tree forks or exits too fast to be listed; try again, or freeze it first (--freeze-cgroup)',
  });
}
