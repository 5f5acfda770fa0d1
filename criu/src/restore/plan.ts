// The restore's plan, made from the images alone (no syscall, no /proc): the order the tasks are
// forked in, their sessions and groups, how each VMA is mapped, which fds go into each fd table
// in which batches, and where the gadget goes. The engine follows it step by step, and
// `crit x DIR plan` prints it (formatPlan).
import type { DumpImages, TaskImages } from './images.js';
import type { VmaEntry, FdinfoEntry } from '../images/index.js';
import { VMA, MAP, PE } from '../images/consts.js';
import { O } from '../files/reg.js';
import { PAGE, GADGET_PAGES, MAX_FDS_AT_ONCE } from './puppet.js';
import { findHole, PROT, type Range } from './task.js';
import { isGuard, guardRanges } from '../mem/guard.js';
import { HUGETLB_FLAGS } from '../mem/hugetlb.js';

/** How one VMA is made (the engine's choice, from its status bits). */
export type VmaHow =
  /** vdso, vvar, vsyscall: the kernel's own; the puppet's vdso block is moved into place */
  | { how: 'special'; what: 'vdso' | 'vvar' | 'vsyscall' }
  /** private anonymous, mapped in place (with its neighbours, in one batch of calls) */
  | { how: 'anon' }
  /** private anonymous right after another: mapped elsewhere and moved here, so it keeps its boundary */
  | { how: 'anon-moved' }
  /** a file mapped private or shared; the tool opens the file with openFlags */
  | { how: 'file'; shared: boolean; fileId: number; path: string | undefined; openFlags: number }
  /** a memfd's pages */
  | { how: 'memfd'; fileId: number; openFlags: number }
  /** shared anonymous memory: one object per shmid, mapped by every task that has it */
  | { how: 'shmem'; shmid: number }
  /** a packet socket's ring (VMA_AREA_SOCKET): mapped from the socket of file id fileId */
  | { how: 'socket'; fileId: number }
  /**
   * an attached SysV shm segment (VMA_AREA_SYSVIPC): the part at offset 0 attaches the whole
   * segment (shmat at its address, read-only unless a part had it O_RDWR), the others are
   * only protected as they were
   */
  | { how: 'sysv'; shmid: number; attach: boolean; write: boolean }
  /** an aio ring: a private anonymous stand-in filled from the pages, replaced by a new ring (mem/aio.ts) */
  | { how: 'aio' }
  /** a kind of VMA this restore does not make (refused when the engine reaches it) */
  | { how: 'unsupported' };

export interface PlannedVma {
  /** its index in mm-PID.img's vmas */
  index: number;
  start: bigint;
  end: bigint;
  /** the protection it is mapped with (made writable while pages are filled) and its final one */
  mapProt: number;
  prot: number;
  /** the mmap flags (without MAP_FIXED) */
  mapFlags: number;
  pgoff: bigint;
  madv: bigint;
  growsdown: boolean;
  /** shmid: the file id of a file or memfd mapping, the object of a shared anonymous one */
  fileId: number;
  /** whether the pagemap has pages for it */
  filled: boolean;
  how: VmaHow;
  /** in a forked child: the kind of inherited VMA it may be kept as (copy-on-write), if it matches the parent's */
  cow: 'anon' | 'file' | null;
}

/** One fd to install: its number, its file id and kind, close-on-exec. */
export interface PlannedFd {
  fd: number;
  id: number;
  kind: string;
  cloexec: boolean;
}
/** fds received at once (null: a stand-in that fills a gap, closed once all are in), or one put in place by dup. */
export type FdStep = { batch: (PlannedFd | null)[] } | { single: PlannedFd };

export interface FdTable {
  filesId: number;
  /** the task that installs it; the others share it (CLONE_FILES) */
  owner: number;
  users: number[];
  steps: FdStep[];
}

export interface PlanTask {
  pid: number;
  ppid: number;
  /** the task it is forked from (null: the root, made by the launcher) */
  parent: number | null;
  zombie: boolean;
  threads: number[];
  /** forked with CLONE_FILES: it shares its parent's fd table */
  sharesFiles: boolean;
  filesId: number | undefined;
  /** at birth: setsid (a session leader) or setpgid(0, 0) (a group leader) */
  session: 'setsid' | 'setpgid' | null;
  /** false when its session is neither its own nor its parent's (refused) */
  sessionOk: boolean;
  /** once every task exists: join this group (leaderInTree: its leader is a task of the tree) */
  joinGroup: { pgid: number; leaderInTree: boolean } | null;
  vmas: PlannedVma[];
  /** guard regions (VMA_AREA_GUARD entries, after the real VMAs): madvise(MADV_GUARD_INSTALL) once its memory is in place */
  guards: { start: bigint; end: bigint }[];
}

/** A file id that several fds hold (in one table or several). */
export interface SharedFile {
  id: number;
  kind: string;
  holders: { filesId: number; fd: number }[];
}

export interface RestorePlan {
  dir: string;
  /** the tasks in the order they are forked (each after its parent's memory is in place) */
  order: PlanTask[];
  /** where each puppet keeps its socket to the tool: above every fd of the images */
  transportFd: number;
  fdTables: Map<number, FdTable>;
  shared: SharedFile[];
  /** what the gadget must avoid (every VMA of the images) and the hole it gets if the puppet has nothing there */
  gadget: { taken: Range[]; hole: bigint | null; pages: bigint };
}

const FILE_KIND: Record<number, string> = {
  1: 'reg',
  2: 'pipe',
  3: 'fifo',
  4: 'inet',
  5: 'unix',
  6: 'eventfd',
  7: 'eventpoll',
  8: 'inotify',
  9: 'signalfd',
  10: 'packet',
  11: 'tty',
  12: 'fanotify',
  13: 'netlink',
  14: 'ns',
  15: 'tun',
  16: 'ext',
  17: 'timerfd',
  18: 'memfd',
  19: 'bpf',
  20: 'pidfd',
};
export const fileKind = (type: number): string => FILE_KIND[type] ?? `type ${type}`;

export function isSpecial(v: VmaEntry): boolean {
  return (v.status & (VMA.VDSO | VMA.VVAR | VMA.VSYSCALL)) !== 0;
}

/** Which VMAs receive pages (and so must be writable while they are filled). */
export function pageCoverage(vmas: VmaEntry[], entries: TaskImages['pagemap']['entries']): boolean[] {
  const has = vmas.map(() => false);
  let vi = 0;
  for (const e of entries) {
    if (!((e.flags ?? 0) & PE.PRESENT)) continue;
    const s = BigInt(e.vaddr),
      end = s + BigInt(e.nr_pages ?? e.compat_nr_pages) * PAGE;
    while (vi < vmas.length && BigInt(vmas[vi].end) <= s) vi++;
    for (let k = vi; k < vmas.length && BigInt(vmas[k].start) < end; k++) has[k] = true;
  }
  return has;
}

/** How VMA i of `vmas` is made. */
function howMapped(vmas: VmaEntry[], i: number, img: DumpImages): VmaHow {
  const v = vmas[i];
  if (isSpecial(v)) return { how: 'special', what: v.status & VMA.VDSO ? 'vdso' : v.status & VMA.VVAR ? 'vvar' : 'vsyscall' };
  const prev = vmas[i - 1];
  const afterAnon = !!prev && BigInt(prev.end) === BigInt(v.start) && (prev.status & VMA.ANON_PRIVATE) !== 0 && !isSpecial(prev);
  if (v.status & VMA.SOCKET) return { how: 'socket', fileId: Number(v.shmid) };
  if (v.status & VMA.AIORING) return { how: 'aio' };
  if (v.status & VMA.MEMFD) return { how: 'memfd', fileId: Number(v.shmid), openFlags: v.fdflags ?? 0 };
  if (v.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) {
    const openFlags = v.fdflags ?? (v.status & VMA.FILE_SHARED && v.prot & PROT.WRITE ? O.RDWR : 0);
    return { how: 'file', shared: (v.status & VMA.FILE_SHARED) !== 0, fileId: Number(v.shmid), path: img.files.get(Number(v.shmid))?.reg?.name, openFlags };
  }
  if (v.status & VMA.SYSVIPC) {
    const parts = vmas.filter((o) => o.status & VMA.SYSVIPC && o.shmid === v.shmid);
    return { how: 'sysv', shmid: Number(v.shmid), attach: BigInt(v.pgoff) === 0n, write: parts.some((o) => (o.fdflags ?? O.RDWR) === O.RDWR) };
  }
  if (v.status & VMA.ANON_SHARED) return { how: 'shmem', shmid: Number(v.shmid) };
  // hugetlb memory never merges with its neighbours: mapped in place
  if (v.status & VMA.ANON_PRIVATE) return afterAnon && !(v.flags & MAP.HUGETLB) ? { how: 'anon-moved' } : { how: 'anon' };
  return { how: 'unsupported' };
}

function planVmas(t: TaskImages, img: DumpImages): PlannedVma[] {
  const vmas = t.mm.vmas ?? [];
  const filled = pageCoverage(vmas, t.pagemap.entries);
  // guard entries come after every real VMA (images.ts checks it), so the indices stay mm's
  return vmas
    .filter((v) => !isGuard(v))
    .map((v, i) => {
      const how = howMapped(vmas, i, img);
      const mapProt = how.how === 'shmem' ? v.prot : v.prot | (filled[i] ? PROT.READ | PROT.WRITE : 0);
      const mapFlags =
        how.how === 'shmem'
          ? MAP.SHARED
          : how.how === 'file' || how.how === 'memfd' || how.how === 'socket'
            ? v.flags & (MAP.SHARED | MAP.PRIVATE | MAP.GROWSDOWN)
            : MAP.PRIVATE | MAP.ANON | (v.flags & (MAP.GROWSDOWN | MAP.NORESERVE | HUGETLB_FLAGS));
      const cow = v.status & VMA.ANON_PRIVATE && !isSpecial(v) ? 'anon' : v.status & VMA.FILE_PRIVATE ? 'file' : null;
      return {
        index: i,
        start: BigInt(v.start),
        end: BigInt(v.end),
        mapProt,
        prot: v.prot,
        mapFlags,
        pgoff: BigInt(v.pgoff),
        madv: BigInt(v.madv ?? 0),
        growsdown: (v.flags & MAP.GROWSDOWN) !== 0,
        fileId: Number(v.shmid),
        filled: filled[i],
        how,
        cow,
      };
    });
}

/**
 * The batches an fd table goes in by: the kernel gives received fds the lowest free numbers in
 * order, so a run of wanted numbers lands in place at once; a small gap is filled with a
 * stand-in (closed once all are in) so that the run goes on past it. An fd that cannot be part
 * of a run is put in place on its own.
 */
export function fdSteps(fdinfo: FdinfoEntry[], transportFd: number): FdStep[] {
  const wanted = [...fdinfo].sort((a, b) => a.fd - b.fd).map((f) => ({ fd: f.fd, id: f.id, kind: fileKind(f.type), cloexec: (f.flags & 1) !== 0 }));
  const steps: FdStep[] = [];
  const installed = new Set<number>();
  let lowest = 0;
  const nextFree = (): number => {
    while (installed.has(lowest) || lowest === transportFd) lowest++;
    return lowest;
  };
  for (let i = 0; i < wanted.length;) {
    const batch: (PlannedFd | null)[] = [];
    let taken = 0;
    const first = nextFree();
    for (let j = i, at = first; j < wanted.length; j++) {
      const gap = wanted[j].fd - at;
      if (gap < 0 || gap > 8 || batch.length + gap + 1 > MAX_FDS_AT_ONCE || (at <= transportFd && wanted[j].fd >= transportFd)) break;
      for (let k = 0; k < gap; k++) batch.push(null);
      batch.push(wanted[j]);
      taken++;
      at = wanted[j].fd + 1;
    }
    if (!taken) {
      steps.push({ single: wanted[i] });
      installed.add(wanted[i].fd);
      i++;
      continue;
    }
    // the slots land on consecutive numbers from the lowest free one
    batch.forEach((_, k) => installed.add(first + k));
    steps.push({ batch });
    i += taken;
  }
  return steps;
}

/** The tasks in fork order: each task, then its children's subtrees in the images' order; a zombie has none. */
function forkOrder(img: DumpImages): { t: TaskImages; parent: TaskImages | null }[] {
  const out: { t: TaskImages; parent: TaskImages | null }[] = [];
  const grow = (t: TaskImages, parent: TaskImages | null): void => {
    out.push({ t, parent });
    if (t.zombie) return;
    for (const child of img.tasks.filter((x) => x.pstree.ppid === t.pid)) grow(child, t);
  };
  grow(img.tasks[0], null);
  return out;
}

function planTask(t: TaskImages, parent: TaskImages | null, img: DumpImages, live: TaskImages[]): PlanTask {
  const ps = t.pstree;
  const sharesFiles = !!parent && !t.zombie && t.ids.files_id !== undefined && t.ids.files_id === parent.ids.files_id;
  const imgParent = img.tasks.find((x) => x.pid === ps.ppid);
  const sessionOk = t === img.tasks[0] || ps.sid === t.pid || ps.sid === imgParent?.pstree.sid;
  const liveParent = live.find((x) => x.pid === ps.ppid);
  const inherited = liveParent ? liveParent.pstree.pgid : -1;
  const joinGroup =
    t.zombie || ps.pgid === t.pid || ps.pgid === inherited || ps.sid === t.pid ? null : { pgid: ps.pgid, leaderInTree: live.some((x) => x.pid === ps.pgid) };
  return {
    pid: t.pid,
    ppid: ps.ppid,
    parent: parent?.pid ?? null,
    zombie: !!t.zombie,
    threads: ps.threads ?? [],
    sharesFiles,
    filesId: t.zombie ? undefined : t.ids.files_id,
    session: ps.sid === t.pid ? 'setsid' : ps.pgid === t.pid ? 'setpgid' : null,
    sessionOk,
    joinGroup,
    vmas: t.zombie ? [] : planVmas(t, img),
    guards: t.zombie ? [] : guardRanges(t.mm.vmas ?? []),
  };
}

/** The file ids several fds hold, over every fd table. */
function sharedFiles(img: DumpImages, tables: Map<number, FdTable>): SharedFile[] {
  const by = new Map<number, SharedFile>();
  for (const tb of tables.values()) {
    const t = img.tasks.find((x) => x.pid === tb.owner);
    for (const f of t?.fdinfo ?? []) {
      const s = by.get(f.id) ?? { id: f.id, kind: fileKind(f.type), holders: [] };
      s.holders.push({ filesId: tb.filesId, fd: f.fd });
      by.set(f.id, s);
    }
  }
  return [...by.values()].filter((s) => s.holders.length > 1).sort((a, b) => a.id - b.id);
}

/** The whole plan of a restore of `img`. */
export function planRestore(img: DumpImages): RestorePlan {
  const maxFd = Math.max(2, ...img.tasks.flatMap((t) => t.fdinfo.map((f) => f.fd)));
  const transportFd = Math.max(maxFd + 1, 1000);
  const forks = forkOrder(img);
  const live = forks.filter((x) => !x.t.zombie).map((x) => x.t);
  const order = forks.map(({ t, parent }) => planTask(t, parent, img, live));
  const fdTables = new Map<number, FdTable>();
  for (const t of live) {
    const tb = fdTables.get(t.ids.files_id);
    if (tb) {
      tb.users.push(t.pid);
      continue;
    }
    fdTables.set(t.ids.files_id, { filesId: t.ids.files_id, owner: t.pid, users: [t.pid], steps: fdSteps(t.fdinfo, transportFd) });
  }
  const taken = img.tasks.flatMap((x) =>
    (x.mm.vmas ?? []).filter((v) => !(v.status & (VMA.VSYSCALL | VMA.GUARD))).map((v) => ({ s: BigInt(v.start), e: BigInt(v.end) })),
  );
  const pages = GADGET_PAGES * PAGE;
  let hole: bigint | null = null;
  try {
    hole = findHole(taken, pages);
  } catch {
    /* refused by the engine, once the puppet's own mappings are known */
  }
  return { dir: img.dir, order, transportFd, fdTables, shared: sharedFiles(img, fdTables), gadget: { taken, hole, pages } };
}

export { formatPlan } from './plan-format.js';
