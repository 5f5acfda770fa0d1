// What the runner records of a test's process tree before a dump and compares after the restore:
// the tasks (pids, parents, threads), each task's fd numbers and flags, its maps and its
// mountinfo. Also start times, which prove that a restore made new processes.
import * as fs from 'node:fs';
import { formatMapsEntry, parseMapsText, type MapsEntry } from './maps.js';

export interface TaskState {
  pid: number;
  ppid: number;
  /**
   * pid, parent and threads as the tree's own pid namespace sees them (the innermost NSpid;
   * the host's where the tree has none, and the host's ppid for a parent outside the tree).
   * These are compared: in a pid namespace of its own a tree keeps its pids inside, while its
   * host pids are kept only where they are free at the restore (as with CRIU, which sets the
   * inner ones only).
   */
  vpid: number;
  vppid: number;
  vtids: number[];
  start: string;
  tids: number[];
  /** fd number -> flags (octal, as in fdinfo) */
  fds: Record<string, string>;
  /** fd number -> link target (recorded for the logs, not compared) */
  fdTargets: Record<string, string>;
  maps: string[];
  /**
   * the task's mountinfo; empty for a task in the runner's own mount namespace, whose table is
   * the host's: shared with every test running beside it (a spec mounting an overlay meanwhile
   * is not a restore's doing), and a table no dump records or restore sets
   */
  mountinfo: string[];
}

export interface TreeState {
  root: number;
  tasks: TaskState[];
}

export function statFields(pid: number): string[] | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Start time (field 22 of stat) or null when the pid is gone or a zombie. */
export function startTime(pid: number): string | null {
  const f = statFields(pid);
  if (!f || f[0] === 'Z' || f[0] === 'X') return null;
  return f[19];
}

export function alive(pid: number): boolean {
  return startTime(pid) !== null;
}

function children(pid: number): number[] {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      for (const c of fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* thread gone */
    }
  }
  return out;
}

/** Every pid of the tree rooted at root (root first). */
export function treePids(root: number): number[] {
  const seen: number[] = [];
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    if (seen.includes(p) || !fs.existsSync(`/proc/${p}`)) continue;
    seen.push(p);
    queue.push(...children(p));
  }
  return seen;
}

/**
 * Maps lines, parsed field by field (maps.ts: the padding does not count), without dev and
 * inode (a restored tmpfs/shmem object gets a new inode), with adjacent compatible VMAs merged
 * as CRIU's zdtm does: the kernel keeps two such VMAs apart only for reasons that are not
 * visible state (different anon_vma origins) and may merge them on restore.
 * Compatible: same perms, same path, and for a file contiguous offsets. A socket:[INO] path
 * (a packet ring) is compared without its inode.
 */
export function normMaps(text: string): string[] {
  const out: MapsEntry[] = [];
  for (const m of parseMapsText(text)) {
    // a packet ring's path names its socket's inode, new after a restore like every inode
    const v = m.path.startsWith('socket:[') ? { ...m, path: 'socket:[*]' } : m;
    const last = out.at(-1);
    if (
      last &&
      last.end === v.start &&
      last.perms === v.perms &&
      last.path === v.path &&
      !v.path.startsWith('[') &&
      (v.path === '' || last.offset + (last.end - last.start) === v.offset)
    ) {
      last.end = v.end;
      continue;
    }
    out.push({ ...v });
  }
  return out.map((v) => formatMapsEntry(v, ['dev', 'inode']));
}

/** A mountinfo line without mount ids, device numbers and peer group numbers. */
export function normMountinfo(text: string): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      const f = pre.split(' ');
      const optional = f.slice(6).map((o) => o.replace(/:\d+$/, ''));
      return `${f[3]} ${f[4]} ${f[5]} ${optional.join(' ')} - ${post ?? ''}`.replace(/ +/g, ' ');
    });
}

/** the last NSpid of a status file (the pid in the task's own pid namespace) */
function innerPid(status: string, host: number): number {
  try {
    const m = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(status, 'utf8'));
    return m ? Number(m[1].trim().split(/\s+/).at(-1)) : host;
  } catch {
    return host; // a thread gone meanwhile
  }
}

/** whether task PID is in the runner's own mount namespace */
function sameMntns(pid: number): boolean {
  return fs.readlinkSync(`/proc/${pid}/ns/mnt`) === fs.readlinkSync('/proc/self/ns/mnt');
}

function readTask(pid: number): TaskState | null {
  try {
    const st = statFields(pid);
    if (!st || st[0] === 'Z') return null;
    const fds: Record<string, string> = {};
    const fdTargets: Record<string, string> = {};
    for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
      try {
        const info = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
        fds[fd] = /^flags:\s*(\S+)/m.exec(info)?.[1] ?? '?';
        try {
          fdTargets[fd] = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          fdTargets[fd] = '?';
        }
      } catch {
        /* closed meanwhile */
      }
    }
    const tids = fs
      .readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .sort((a, b) => a - b);
    return {
      pid,
      ppid: Number(st[1]),
      vpid: innerPid(`/proc/${pid}/status`, pid),
      vppid: Number(st[1]),
      vtids: tids.map((t) => innerPid(`/proc/${pid}/task/${t}/status`, t)).sort((a, b) => a - b),
      start: st[19],
      tids,
      fds,
      fdTargets,
      maps: normMaps(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')),
      mountinfo: sameMntns(pid) ? [] : normMountinfo(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8')),
    };
  } catch {
    return null; // the task went away while it was read
  }
}

export function recordTree(root: number): TreeState {
  const tasks: TaskState[] = [];
  for (const pid of treePids(root)) {
    const t = readTask(pid);
    if (t) tasks.push(t);
  }
  const inner = new Map(tasks.map((t) => [t.pid, t.vpid]));
  for (const t of tasks) t.vppid = inner.get(t.ppid) ?? t.ppid;
  return { root, tasks };
}

function listDiff(what: string, a: string[], b: string[]): string[] {
  const out: string[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n && out.length < 8; i++) {
    if (a[i] !== b[i]) out.push(`  ${what}[${i}]: before "${a[i] ?? '(none)'}" after "${b[i] ?? '(none)'}"`);
  }
  return out;
}

/**
 * Differences between two recordings of the same tree, except the exempt comparison. Returns
 * one message per difference (empty: the same).
 */
export function compareTrees(before: TreeState, after: TreeState, exempt: Record<string, string>): string[] {
  const diffs: string[] = [];
  const byPid = (s: TreeState) => new Map(s.tasks.map((t) => [t.vpid ?? t.pid, t]));
  const a = byPid(before);
  const b = byPid(after);
  if (!exempt.tasks) {
    const pa = [...a.keys()].sort((x, y) => x - y).join(',');
    const pb = [...b.keys()].sort((x, y) => x - y).join(',');
    if (pa !== pb) diffs.push(`tasks: pids before [${pa}] after [${pb}]`);
  }
  for (const [pid, ta] of a) {
    const tb = b.get(pid);
    if (!tb) continue;
    if (!exempt.tasks) {
      if (ta.vppid !== tb.vppid) diffs.push(`tasks: ${pid}: parent before ${ta.vppid} after ${tb.vppid}`);
      if (ta.vtids.join(',') !== tb.vtids.join(',')) diffs.push(`tasks: ${pid}: threads before [${ta.vtids}] after [${tb.vtids}]`);
    }
    if (!exempt.fds) {
      const fa = Object.entries(ta.fds)
        .sort(([x], [y]) => Number(x) - Number(y))
        .map(([fd, fl]) => `${fd}:${fl}`);
      const fb = Object.entries(tb.fds)
        .sort(([x], [y]) => Number(x) - Number(y))
        .map(([fd, fl]) => `${fd}:${fl}`);
      if (fa.join(' ') !== fb.join(' ')) diffs.push(`fds: ${pid}: fd:flags before [${fa.join(' ')}] after [${fb.join(' ')}]`);
    }
    if (!exempt.maps && ta.maps.join('\n') !== tb.maps.join('\n')) {
      diffs.push(`maps: ${pid}: /proc/${pid}/maps differs`, ...listDiff('maps', ta.maps, tb.maps));
    }
    if (!exempt.mountinfo && ta.mountinfo.join('\n') !== tb.mountinfo.join('\n')) {
      diffs.push(`mountinfo: ${pid}: /proc/${pid}/mountinfo differs`, ...listDiff('mountinfo', ta.mountinfo, tb.mountinfo));
    }
  }
  return diffs;
}
