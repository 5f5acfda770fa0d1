// Pid namespaces (CRIU's namespaces.c and pstree.c for them). A tree whose root is init (pid 1)
// of a pid namespace of its own is dumped with every pid as the root sees it, as CRIU writes
// them (proc/nspid.ts translates from the tool's host pids); the pids the images cannot hold
// for CRIU go to pstree_entry's criu-ts field `levels` (field 16, which CRIU 4.2 skips): each
// thread's host pid, and its pids in pid namespaces below the root's (a nested init's tree).
// The restore makes the root puppet with CLONE_NEWPID and clone3 set_tid [1, HOST] (HOST the
// dumped host pid when it is free, else any), and forks every other task and thread inside with
// set_tid [inner…, PID, HOST]; a nested init is forked with CLONE_NEWPID as well. Images
// without `levels` (CRIU's own) restore on any host pids.
import * as fs from 'node:fs';
import { readStatus } from '../proc/status.js';
import { treePids } from '../proc/nspid.js';
import type { PstreeEntry, PstreePidLevels } from '../images/index.js';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import type { NsKind } from './kind.js';

export const CLONE_NEWPID = 0x20000000n;

export interface PidNsDump {
  /** the root's level below the tool's pid namespace */
  depth: number;
}

const nspidOf = (pid: number, tid?: number): number[] => readStatus(pid, tid).nspid;

function pidForChildren(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid_for_children`);
  } catch {
    return undefined;
  }
}

/** A task whose future children would land in another pid namespace than its own (unshare(CLONE_NEWPID) without a fork since). */
function checkForChildren(pid: number): void {
  const own = fs.readlinkSync(`/proc/${pid}/ns/pid`);
  const children = pidForChildren(pid);
  if (children !== undefined && children !== own)
    throw new NotSupportedError(`task ${pid}: its children get pid namespace ${children}, it lives in ${own}`, {
      task: pid,
      hint: 'a task that called unshare(CLONE_NEWPID) and has not forked since is not dumped yet',
    });
}

export const pid: NsKind<PidNsDump | null> = {
  name: 'pid',
  cloneFlag: CLONE_NEWPID,
  outside: true,
  /** the root's own pid namespace: it must be its init (as CRIU's dump_namespaces requires) */
  dump(root) {
    const ns = nspidOf(root);
    const depth = ns.length - 1;
    if (ns[depth] !== 1)
      throw new NotSupportedError(`task ${root}: pid ${ns[depth]} of its own pid namespace, not its init (pid 1)`, {
        task: root,
        hint: 'dump the pid namespace from its init',
      });
    checkForChildren(root);
    treePids.reset(depth);
    treePids.note(root, 1);
    return { depth };
  },
  /** a task in a pid namespace below the root's (a nested init, or a task of its tree) */
  nested(task, link) {
    const ns = nspidOf(task);
    if (ns.length <= treePids.depth + 1)
      throw new NotSupportedError(`task ${task}: pid namespace ${link}, not below the root's`, {
        task,
        hint: 'only pid namespaces below the root’s are dumped',
      });
    checkForChildren(task);
  },
  write: () => [],
  load: () => null,
  restore: () => undefined,
  describe: (d) => (d ? `the root is its init, ${d.depth} level(s) below the tool's` : 'made with the root'),
};

/** NSpid of each task and thread of the tree, read while it is frozen (noteTree) */
const nspids = new Map<number, number[]>();

/**
 * Dump, while the tree is still frozen (a tree that runs on is let go before the images are
 * written): every task's and thread's NSpid, process group and session.
 */
export function noteTree(tasks: { pid: number; tids: number[]; zombie: boolean }[]): void {
  nspids.clear();
  for (const t of tasks) {
    noteGroups(t.pid);
    if (!t.zombie) checkForChildren(t.pid);
    for (const tid of new Set([t.pid, ...t.tids])) {
      const ns = tid === t.pid || t.zombie ? nspidOf(t.pid) : nspidOf(t.pid, tid);
      nspids.set(tid, ns);
      if (treePids.own) treePids.note(tid, ns[treePids.depth] ?? 0);
    }
  }
}

/** Dump: a pstree entry built from host pids, as the images hold it (unchanged outside pid namespaces). */
export function pstreeImage(e: PstreeEntry, zombie: boolean): PstreeEntry {
  const depth = treePids.depth;
  const threads = e.threads ?? [e.pid];
  const levels: PstreePidLevels[] = threads.map((tid) => {
    const ns = nspids.get(tid) ?? (zombie ? nspidOf(e.pid) : nspidOf(e.pid, tid));
    const l: PstreePidLevels = {};
    if (depth > 0) l.host = tid;
    const inner = ns.slice(depth + 1);
    if (inner.length) l.inner = inner;
    return l;
  });
  const v = (x: number): number => treePids.image(x);
  const out: PstreeEntry = { pid: v(e.pid), ppid: v(e.ppid), pgid: v(e.pgid), sid: v(e.sid), threads: threads.map(v) };
  if (levels.some((l) => l.host !== undefined || l.inner?.length)) out.levels = levels;
  return out;
}

/** Dump: note the process groups and sessions of a task (their leaders may be gone, /proc has no NSpid for them). */
export function noteGroups(pid: number): void {
  if (!treePids.own) return;
  let st;
  try {
    st = readStatus(pid);
  } catch {
    return;
  }
  const d = treePids.depth;
  const host = (xs: number[]): number | undefined => xs[0];
  const pg = host(st.nspgid),
    sid = host(st.nssid);
  if (pg !== undefined && pg > 0) treePids.note(pg, st.nspgid[d] ?? 0);
  if (sid !== undefined && sid > 0) treePids.note(sid, st.nssid[d] ?? 0);
}

// ---- restore ----

interface Levels {
  /** the host pid wanted (0: any) */
  host: number;
  /** pids below the root's pid namespace, outermost first */
  inner: number[];
  /** init of a pid namespace below the root's, forked with CLONE_NEWPID */
  nestedInit?: boolean;
}

const table = new Map<number, Levels>();

/** what the pid plan needs of the images */
export interface PidImages {
  tasks: { pid: number; zombie?: unknown; pstree?: PstreeEntry }[];
}

/**
 * Before anything is made: which host pid and inner pids each task and thread gets back. `own`:
 * the root is made in a new pid namespace (its pid_ns_id is not the tool's).
 */
export function planPids(img: PidImages, own: boolean): void {
  treePids.reset(own ? 1 : 0);
  table.clear();
  for (const t of img.tasks) {
    const ps = t.pstree;
    if (!ps) continue;
    const threads = ps.threads ?? [];
    threads.forEach((tid, i) => {
      const l = ps.levels?.[i];
      const host = own && l?.host ? l.host : 0;
      table.set(tid, { host, inner: l?.inner ?? [] });
    });
    if (!threads.includes(t.pid)) table.set(t.pid, { host: own ? (ps.levels?.[0]?.host ?? 0) : 0, inner: ps.levels?.[0]?.inner ?? [] });
  }
  if (own) {
    const root = img.tasks[0];
    if (root.pid !== 1)
      throw new NotSupportedError(`task ${root.pid}: the root of a tree in its own pid namespace is not its init (pid 1)`, {
        task: root.pid,
        hint: 'CRIU restores a pid namespace from its init',
      });
  }
  for (const t of img.tasks) {
    const l = table.get(t.pid);
    if (!l?.inner.length) continue;
    const parent = img.tasks.find((x) => x.pid === t.pstree?.ppid);
    const pl = parent ? table.get(parent.pid) : undefined;
    const nestedInit = l.inner[l.inner.length - 1] === 1 && (pl?.inner.length ?? 0) === l.inner.length - 1;
    const sameNs = (pl?.inner.length ?? 0) === l.inner.length;
    l.nestedInit = nestedInit;
    if (!nestedInit && !sameNs)
      throw new NotSupportedError(
        `task ${t.pid}: pid namespace ${l.inner.length} level(s) below the root's, its parent ${parent?.pid} ${pl?.inner.length ?? 0}`,
        {
          task: t.pid,
          hint: 'a nested pid namespace is restored from its init, a child of a task one level up',
        },
      );
  }
}

/** The pid `x` (a pid of the images) as task `viewer` sees it in its own pid namespace (0: it does not). */
export function seenBy(x: number, viewer: number): number {
  const k = table.get(viewer)?.inner.length ?? 0;
  if (k === 0) return x;
  return table.get(x)?.inner[k - 1] ?? 0;
}

/** The pid a task or thread has in its own pid namespace. */
export const ownPid = (x: number): number => seenBy(x, x);

/** Whether task `x` is init of a pid namespace below the root's. */
export const isNestedInit = (x: number): boolean => table.get(x)?.nestedInit ?? false;

/**
 * clone3's set_tid for task or thread `x` (innermost first), with its host pid when it is
 * wanted and free; `withHost: false` leaves the host pid to the kernel.
 */
export function setTidOf(x: number, withHost = true): number[] {
  const l = table.get(x) ?? { host: 0, inner: [] };
  const ids = [...l.inner].reverse();
  ids.push(x);
  if (treePids.own && withHost && l.host && !fs.existsSync(`/proc/${l.host}`)) ids.push(l.host);
  return ids;
}

/** The root puppet's spawn: its pid, and set_tid when it is made in a new pid namespace. */
export function rootSpawn(root: number): { pid: number; setTid?: number[] } {
  if (!treePids.own) return { pid: root };
  const ids = setTidOf(root);
  return { pid: 0, setTid: ids };
}

/** The host pid the images ask for task or thread `x` (0: any). */
export const wantedHost = (x: number): number => (treePids.own ? (table.get(x)?.host ?? 0) : 0);

/** Task or thread `x` came up as host pid `host`. */
export function made(x: number, host: number): void {
  if (!treePids.own) return;
  treePids.note(host, x);
  const want = table.get(x)?.host;
  if (want && want !== host) log.info(`task ${x}: host pid ${want} is taken, it is ${host} on this host`);
}
