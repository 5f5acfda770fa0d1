// The images of a dump, read and checked before anything is created.
import { VMA, VMA_STATUS_KNOWN, PE } from '../images/consts.js';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ImageError, FdTypes } from '../images/index.js';
import type {
  CoreEntry,
  MmEntry,
  PstreeEntry,
  TaskKobjIdsEntry,
  FsEntry,
  FdinfoEntry,
  FileEntry,
  InventoryEntry,
  PagemapHead,
  PagemapEntry,
  UserDescT,
  VmaEntry,
} from '../images/index.js';
import { readOne, readMessagesOf, readPagemapLoose } from '../images/typed.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { onlineCpus, cpuWordsToList, formatCpuList } from '../proc/index.js';
import { arch } from '../sys/arch.js';
import { xsaveFromImage } from '../arch/x86_64.js';

export interface TaskImages {
  pid: number;
  pstree: PstreeEntry;
  core: CoreEntry;
  mm: MmEntry;
  /** the head (missing in a damaged image, refused by checkImages) and the runs of pages */
  pagemap: { head?: PagemapHead; entries: PagemapEntry[] };
  ids: TaskKobjIdsEntry;
  fs: FsEntry;
  fdinfo: FdinfoEntry[];
  threads: { tid: number; core: CoreEntry }[]; // the other threads
  /** a dead task (TASK_DEAD) its parent has not reaped: only its exit status is kept */
  zombie?: boolean;
}

export interface DumpImages {
  dir: string;
  inventory: InventoryEntry;
  files: Map<number, FileEntry>;
  tasks: TaskImages[];
}

function need(dir: string, name: string): string {
  const p = path.join(dir, name);
  if (!fs.existsSync(p)) throw new CriuError(`image ${name} is missing in ${dir}`, 'was the dump complete? inventory.img is written last');
  return p;
}

/** What a zombie keeps of the images a live task has: nothing (its core holds its exit status). */
const ZOMBIE_MM: MmEntry = {
  mm_start_code: 0n,
  mm_end_code: 0n,
  mm_start_data: 0n,
  mm_end_data: 0n,
  mm_start_stack: 0n,
  mm_start_brk: 0n,
  mm_brk: 0n,
  mm_arg_start: 0n,
  mm_arg_end: 0n,
  mm_env_start: 0n,
  mm_env_end: 0n,
  exe_file_id: 0,
};

function loadTask(dir: string, p: PstreeEntry): TaskImages {
  const pid = p.pid;
  const core = readOne(need(dir, `core-${pid}.img`), 'CORE');
  if (core.tc && core.tc.task_state === 2) {
    return {
      pid,
      pstree: p,
      core,
      mm: { ...ZOMBIE_MM },
      pagemap: { entries: [] },
      ids: { vm_id: 0, files_id: 0, fs_id: 0, sighand_id: 0 },
      fs: { cwd_id: 0, root_id: 0 },
      fdinfo: [],
      threads: [],
      zombie: true,
    };
  }
  const ids = readOne(need(dir, `ids-${pid}.img`), 'IDS');
  const fdName = `fdinfo-${ids.files_id}.img`;
  return {
    pid,
    pstree: p,
    core,
    mm: readOne(need(dir, `mm-${pid}.img`), 'MM'),
    pagemap: readPagemapLoose(need(dir, `pagemap-${pid}.img`)),
    ids,
    fs: readOne(need(dir, `fs-${pid}.img`), 'FS'),
    fdinfo: fs.existsSync(path.join(dir, fdName)) ? readMessagesOf(path.join(dir, fdName), 'FDINFO') : [],
    threads: (p.threads ?? []).filter((t) => t !== pid).map((t) => ({ tid: t, core: readOne(need(dir, `core-${t}.img`), 'CORE') })),
  };
}

/** What `read` returns; an image it cannot decode is said as a bad image, with what to check. */
export function asBadImage<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ImageError) throw new CriuError(`bad image: ${e.message}`, 'the images are damaged or not CRIU images');
    throw e;
  }
}

export function loadImages(dir: string): DumpImages {
  return asBadImage(() => {
    const inventory = readOne(need(dir, 'inventory.img'), 'INVENTORY');
    if (inventory.img_version !== 2)
      throw new CriuError(
        `bad image: inventory.img: entry 0: img_version ${inventory.img_version} is not 2, the only version known`,
        'the images are damaged, or made by a CRIU of another image format',
      );
    const pstree = readMessagesOf(need(dir, 'pstree.img'), 'PSTREE');
    if (!pstree.length) throw new CriuError('pstree.img has no task');
    checkPstree(pstree);
    const files = new Map<number, FileEntry>();
    if (fs.existsSync(path.join(dir, 'files.img'))) checkFiles(readMessagesOf(path.join(dir, 'files.img'), 'FILES'), files);
    const tasks: TaskImages[] = pstree.map((p) => loadTask(dir, p));
    const img = { dir, inventory, files, tasks };
    checkImages(img);
    return img;
  });
}

/** Refuse what this restore cannot do yet, before any process is created. */
export function checkSupported(img: DumpImages): void {
  for (const t of img.tasks) {
    const tc = t.core.tc;
    if (t.zombie) continue;
    if (tc && tc.task_state !== 1 && tc.task_state !== 3) throw new NotSupportedError(`task ${t.pid}: task state ${tc.task_state} (zombie/stopped/dead)`);
    for (const th of [{ tid: t.pid, core: t.core }, ...t.threads]) {
      const m = th.core.thread_core?.seccomp_mode;
      if (m && m !== 2) throw new NotSupportedError(`task ${t.pid}: seccomp mode ${m}`);
      checkArch(`core-${th.tid}.img`, th.core);
    }
    for (const th of [{ tid: t.pid, core: t.core }, ...t.threads]) {
      const cpus = allowedCpus(th.core);
      if (cpus && !cpus.some((c) => onlineCpus().includes(c))) {
        throw new CriuError(
          `task ${t.pid}: thread ${th.tid}: CPU affinity ${formatCpuList(cpus)} names no CPU online here (online: ${formatCpuList(onlineCpus())})`,
          'restore on a machine with one of those CPUs online, or bring one online',
        );
      }
      // the xstate is converted for this CPU now too: a component in use that it lacks is refused by name
      if (arch.name === 'x86_64' && th.core.thread_info?.fpregs) xsaveFromImage(th.core.thread_info.fpregs, { who: `task ${t.pid} thread ${th.tid}` });
    }
  }
}

/** The CPUs a thread was pinned to, or null when it could run on every CPU (no field). */
export function allowedCpus(core: CoreEntry): number[] | null {
  const a = core.thread_core?.allowed_cpus;
  return a?.has_cpumask ? cpuWordsToList(a.cpumask ?? []) : null;
}

// ---------------------------------------------------------------- values the restore relies on

/** The kernel's largest PID (PID_MAX_LIMIT on 64-bit). */
const PID_LIMIT = 4194304;
/** fds above this are refused (the default nr_open is 1048576). */
const FD_LIMIT = 1 << 20;
const PAGE = 4096n;
/** The top of a 64-bit user address space (57-bit, 5-level paging). */
const USER_TOP = 1n << 56n;

/** The file_entry field holding each fd type's own entry. */
const FILE_FIELD: Record<number, Exclude<keyof FileEntry, 'type' | 'id'>> = {
  1: 'reg',
  2: 'pipe',
  3: 'fifo',
  4: 'isk',
  5: 'usk',
  6: 'efd',
  7: 'epfd',
  8: 'ify',
  9: 'sgfd',
  10: 'psk',
  11: 'tty',
  12: 'ffy',
  13: 'nlsk',
  14: 'nsf',
  15: 'tunf',
  16: 'ext',
  17: 'tfd',
  18: 'memfd',
  19: 'bpf',
  20: 'pidfd',
  // criu-ts's own (files/mqueue.ts), not in CRIU 4.2
  1001: 'mqueue',
};

export class BadImage extends CriuError {
  constructor(file: string, entry: number | undefined, field: string, what: string) {
    super(`bad image: ${file}: ${entry !== undefined ? `entry ${entry}: ` : ''}${field} ${what}`, {
      object: `${file}: ${entry !== undefined ? `entry ${entry}: ` : ''}${field}`,
      hint: 'the images are damaged or not CRIU images',
    });
  }
}

const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v ?? 0))));
const hex = (v: bigint): string => `0x${v.toString(16)}`;

function intIn(file: string, entry: number | undefined, field: string, v: unknown, lo: number, hi: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw new BadImage(file, entry, field, `${String(v)} is out of range (${lo}..${hi})`);
}

/**
 * What the restore takes from the images without asking again: PIDs, fds, file entries, VMA
 * and page ranges. A value out of range is refused here, naming the file, the entry and the
 * field, before anything is created.
 */
/** pstree.img before any file named by its PIDs is opened: PIDs in range, once each, one tree. */
function checkPstree(pstree: PstreeEntry[]): void {
  const seen = new Map<number, number>();
  pstree.forEach((p, i) => {
    intIn('pstree.img', i, 'pid', p.pid, 1, PID_LIMIT);
    intIn('pstree.img', i, 'ppid', p.ppid, 0, PID_LIMIT);
    intIn('pstree.img', i, 'pgid', p.pgid, 0, PID_LIMIT);
    intIn('pstree.img', i, 'sid', p.sid, 0, PID_LIMIT);
    const threads = p.threads ?? [];
    threads.forEach((t, k) => intIn('pstree.img', i, `threads[${k}]`, t, 1, PID_LIMIT));
    for (const id of new Set([p.pid, ...threads])) {
      const other = seen.get(id);
      if (other !== undefined) throw new BadImage('pstree.img', i, id === p.pid ? 'pid' : 'threads', `${id} is a PID of entry ${other} too`);
      seen.set(id, i);
    }
    if (threads.length !== new Set(threads).size) throw new BadImage('pstree.img', i, 'threads', 'hold a tid twice');
  });
  // every task but the root has its parent in the tree, and the root is the ancestor of all
  const byPid = new Map(pstree.map((p, i) => [p.pid, i]));
  pstree.forEach((p, i) => {
    if (i === 0) return;
    let cur = p,
      steps = 0;
    while (cur !== pstree[0]) {
      const up = byPid.get(cur.ppid);
      if (up === undefined)
        throw new BadImage(
          'pstree.img',
          i,
          'ppid',
          `${p.ppid}: ${cur === p ? 'the parent is' : `ancestor ${cur.pid}'s parent ${cur.ppid} is`} not in the tree`,
        );
      if (++steps > pstree.length) throw new BadImage('pstree.img', i, 'ppid', `${p.ppid}: the parents make a loop that misses the root task ${pstree[0].pid}`);
      cur = pstree[up];
    }
  });
}

/** The kernel's empty TLS slot: nothing but read_exec_only and seg_not_present (base and limit 0). */
type TlsFlag = 'seg_32bit' | 'contents_h' | 'contents_l' | 'read_exec_only' | 'limit_in_pages' | 'seg_not_present' | 'usable';
const EMPTY_TLS: Record<TlsFlag, boolean> = {
  seg_32bit: false,
  contents_h: false,
  contents_l: false,
  read_exec_only: true,
  limit_in_pages: false,
  seg_not_present: true,
  usable: false,
};

/**
 * x86 GDT TLS slots as the kernel's set_thread_area takes them (tls_desc_okay): slots 12-14; a
 * used one must be a present 32-bit data segment. An empty slot is the kernel's empty pattern.
 */
function checkTls(file: string, tls: UserDescT[]): void {
  tls.forEach((d, k) => {
    const f = `thread_info.tls[${k}]`;
    intIn(file, 0, `${f}.entry_number`, d.entry_number, 12, 14);
    if (!d.base_addr && !d.limit) {
      const off = (Object.keys(EMPTY_TLS) as TlsFlag[]).filter((flag) => !!d[flag] !== EMPTY_TLS[flag]);
      if (!off.length) return;
      // no segment (base 0, limit 0) yet not empty: name what differs from the empty slot
      if (d.seg_not_present || !d.seg_32bit)
        throw new BadImage(
          file,
          0,
          `${f}.${off[0]}`,
          `is ${String(!!d[off[0]])} in a slot of base 0 and limit 0: neither the empty slot nor a present 32-bit segment`,
        );
    }
    if (!d.seg_32bit) throw new BadImage(file, 0, `${f}.seg_32bit`, 'is false in a used slot: the kernel takes only 32-bit TLS segments');
    if (d.contents_h) throw new BadImage(file, 0, `${f}.contents_h`, 'is set: a TLS slot holds a data segment only');
    if (d.seg_not_present) throw new BadImage(file, 0, `${f}.seg_not_present`, 'is set in a used slot: the kernel takes only present TLS segments');
  });
}

/** files.img into `files` by id: each id once, each entry of a known type with its own part. */
function checkFiles(entries: FileEntry[], files: Map<number, FileEntry>): void {
  entries.forEach((f, i) => {
    // a tun file is a REG entry and a TUNF one of the same id (CRIU's dump_tunfile): one entry, with both parts
    const prev = files.get(f.id);
    if (prev && f.type === FdTypes.TUNF && prev.type === FdTypes.REG && f.tunf) {
      files.set(f.id, { ...f, reg: prev.reg });
      return;
    }
    if (files.has(f.id)) throw new BadImage('files.img', i, 'id', `${f.id} is used by an earlier entry too`);
    const field = FILE_FIELD[f.type];
    if (!field) throw new BadImage('files.img', i, 'type', `${f.type} is not a known file type`);
    if (!f[field]) throw new BadImage('files.img', i, field, `is missing: entry ${f.id} is of type ${f.type}, which needs it`);
    files.set(f.id, f);
  });
}

export function checkImages(img: DumpImages): void {
  img.tasks.forEach((t, i) => {
    const threads = t.pstree.threads ?? [];
    if (t.zombie && !threads.length) return;
    if (!threads.length) throw new BadImage('pstree.img', i, 'threads', 'is empty (a task has at least its main thread)');
    if (!threads.includes(t.pid)) throw new BadImage('pstree.img', i, 'threads', `do not hold the task's own pid ${t.pid}`);
  });
  for (const t of img.tasks) {
    if (t.zombie) continue;
    checkCores(t);
    checkFdinfo(img, t);
    const vmas = t.mm.vmas ?? [];
    checkVmas(img, t, vmas);
    checkPagemap(img, t, vmas);
  }
}

/** Every thread's core: registers present, TLS slots, the FXSAVE area, groups, sigactions. */
function checkCores(t: TaskImages): void {
  const cores = [{ tid: t.pid, core: t.core }, ...t.threads];
  for (const c of cores) {
    const name = `core-${c.tid}.img`;
    // each core by its own machine's layout (crit reads the images of any): restoring them
    // on this one is checkSupported's question
    if (c.core.mtype === MTYPE_AARCH64) {
      checkAarch64(name, c.core);
      continue;
    }
    if (c.core.mtype !== MTYPE_X86_64) throw new NotSupportedError(`${name}: cores of ${MTYPES[c.core.mtype] ?? `machine type ${c.core.mtype}`}`);
    const ti = c.core.thread_info;
    if (!ti) throw new BadImage(name, 0, 'thread_info', 'is missing (the x86_64 registers)');
    if (!ti.gpregs) throw new BadImage(name, 0, 'thread_info.gpregs', 'is missing');
    if (!ti.fpregs) throw new BadImage(name, 0, 'thread_info.fpregs', 'is missing');
    checkTls(name, ti.tls ?? []);
    // the legacy FXSAVE area: 16-bit control words, 8 x87 and 16 SSE registers
    const fp = ti.fpregs;
    for (const k of ['cwd', 'swd', 'twd', 'fop'] as const) if (fp[k] !== undefined) intIn(name, 0, `thread_info.fpregs.${k}`, fp[k], 0, 0xffff);
    for (const [k, n] of [
      ['st_space', 32],
      ['xmm_space', 64],
    ] as const) {
      const words = fp[k];
      if ((words?.length ?? 0) > n) throw new BadImage(name, 0, `thread_info.fpregs.${k}`, `has ${words?.length} words, the FXSAVE area holds ${n}`);
    }
    // NGROUPS_MAX supplementary groups
    const g = c.core.thread_core?.creds?.groups;
    if ((g?.length ?? 0) > 65536) throw new BadImage(name, 0, 'thread_core.creds.groups', `has ${g?.length} groups, more than NGROUPS_MAX (65536)`);
  }
  if (!t.core.tc) throw new BadImage(`core-${t.pid}.img`, 0, 'tc', "is missing (the task's state)");
  // 64 signals less SIGKILL and SIGSTOP
  const sa = t.core.tc.sigactions;
  if ((sa?.length ?? 0) > 62) throw new BadImage(`core-${t.pid}.img`, 0, 'tc.sigactions', `has ${sa?.length} entries, there are 62 signals with actions`);
}

const MTYPES: Record<number, string> = { 1: 'x86_64', 2: 'arm', 3: 'aarch64', 4: 'ppc64', 5: 's390', 6: 'mips', 7: 'loongarch64', 8: 'riscv64' };
const MTYPE_X86_64 = 1,
  MTYPE_AARCH64 = 3;

/** A core of another CPU cannot be restored here: say whose it is. */
function checkArch(name: string, core: CoreEntry): void {
  if (core.mtype === arch.criuMtype) return;
  const theirs = MTYPES[core.mtype];
  if (!theirs) throw new BadImage(name, 0, 'mtype', `is ${core.mtype}, no machine CRIU knows`);
  throw new NotSupportedError(`${name}: restoring a task of ${theirs} on ${arch.name}`, `restore the images on a ${theirs} machine`);
}

/** thread_info_aarch64: registers present, 31 general and 64 FPSIMD words at most. */
function checkAarch64(name: string, core: CoreEntry): void {
  const ti = core.ti_aarch64;
  if (!ti) throw new BadImage(name, 0, 'ti_aarch64', 'is missing (the aarch64 registers)');
  if (!ti.gpregs) throw new BadImage(name, 0, 'ti_aarch64.gpregs', 'is missing');
  if (!ti.fpsimd) throw new BadImage(name, 0, 'ti_aarch64.fpsimd', 'is missing');
  if ((ti.gpregs.regs?.length ?? 0) > 31)
    throw new BadImage(name, 0, 'ti_aarch64.gpregs.regs', `has ${ti.gpregs.regs?.length} registers, aarch64 has 31 (x0-x30)`);
  if ((ti.fpsimd.vregs?.length ?? 0) > 64)
    throw new BadImage(name, 0, 'ti_aarch64.fpsimd.vregs', `has ${ti.fpsimd.vregs?.length} words, the 32 V registers hold 64`);
}

/** The fd table: fds in range and once each, each naming a file of files.img of its own type. */
function checkFdinfo(img: DumpImages, t: TaskImages): void {
  const fdName = `fdinfo-${t.ids.files_id}.img`;
  const fds = new Set<number>();
  t.fdinfo.forEach((f, i) => {
    intIn(fdName, i, 'fd', f.fd, 0, FD_LIMIT - 1);
    if (fds.has(f.fd)) throw new BadImage(fdName, i, 'fd', `${f.fd} appears twice in the table`);
    fds.add(f.fd);
    const fe = img.files.get(f.id);
    if (!fe) throw new BadImage(fdName, i, 'id', `${f.id} (fd ${f.fd}) is not in files.img`);
    if (fe.type !== f.type) throw new BadImage(fdName, i, 'type', `${f.type} of fd ${f.fd} differs from files.img's type ${fe.type} for id ${f.id}`);
  });
}

/** auxv's size; the VMAs: known status bits, page-aligned, in order, in the user space, files named. */
function checkVmas(img: DumpImages, t: TaskImages, vmas: VmaEntry[]): void {
  const mmName = `mm-${t.pid}.img`;
  // the kernel keeps at most AT_VECTOR_SIZE (2 * (3 + 24 + 1) on x86_64) words of auxv
  const auxv = t.mm.mm_saved_auxv ?? [];
  if (auxv.length > 128) throw new BadImage(mmName, 0, 'mm_saved_auxv', `has ${auxv.length} words, more than any kernel keeps`);
  let prevEnd = 0n,
    guardEnd = 0n;
  vmas.forEach((v, i) => {
    const s = big(v.start),
      e = big(v.end);
    const f = `vmas[${i}]`;
    if (v.status & ~VMA_STATUS_KNOWN)
      throw new BadImage(mmName, 0, `${f}.status`, `${hex(big(v.status))} has bits no CRIU image uses (${hex(BigInt((v.status & ~VMA_STATUS_KNOWN) >>> 0))})`);
    if (v.status & VMA.VSYSCALL) return;
    if (s % PAGE || e % PAGE) throw new BadImage(mmName, 0, `${f}.start`, `${hex(s)}-${hex(e)} is not page-aligned`);
    // guard regions (VMA_AREA_GUARD) follow every real VMA, as CRIU writes them, in order too
    if (v.status & VMA.GUARD) {
      if (v.status !== VMA.GUARD) throw new BadImage(mmName, 0, `${f}.status`, `${hex(big(v.status))}: a guard region has no other status bit`);
      if (s >= e || e > USER_TOP) throw new BadImage(mmName, 0, `${f}.end`, `${hex(s)}-${hex(e)} is not a guard region of the user address space`);
      if (s < guardEnd) throw new BadImage(mmName, 0, `${f}.start`, `${hex(s)} overlaps the guard region before it`);
      guardEnd = e;
      return;
    }
    if (guardEnd) throw new BadImage(mmName, 0, `${f}.status`, `VMA at ${hex(s)} after a guard region (guard regions come last)`);
    if (s >= e) throw new BadImage(mmName, 0, `${f}.end`, `${hex(e)} is not above start ${hex(s)}`);
    if (e > USER_TOP) throw new BadImage(mmName, 0, `${f}.end`, `${hex(e)} is beyond the user address space`);
    if (s < prevEnd) throw new BadImage(mmName, 0, `${f}.start`, `${hex(s)} overlaps the VMA before it (or the VMAs are out of order)`);
    if (big(v.pgoff) % PAGE) throw new BadImage(mmName, 0, `${f}.pgoff`, `${hex(big(v.pgoff))} is not page-aligned`);
    // a file or memfd mapping names its file by id in shmid
    const part = v.status & VMA.MEMFD ? 'memfd' : v.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED) ? 'reg' : null;
    if (part && !img.files.get(Number(v.shmid))?.[part])
      throw new BadImage(mmName, 0, `${f}.shmid`, `${String(v.shmid)}: no ${part} file of that id in files.img for the VMA at ${hex(s)}`);
    prevEnd = e;
  });
}

/** The pagemap: a head naming a pages file, runs in order inside the VMAs, pages the file holds. */
const PAGE_N = 4096;

/**
 * checkPagemap's checks in plain numbers, for the usual pagemap (every address below 2^53): the
 * present pages, or -1 where an entry is wrong or out of that range (the bigint pass then says
 * what). 2000 entries took 9 ms of bigint steps.
 */
function presentPages(entries: PagemapEntry[], live: VmaEntry[]): number {
  let present = 0,
    prev = 0,
    vi = 0;
  const num = (v: unknown): number => (typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : -1) : typeof v === 'number' ? v : -1);
  for (const e of entries) {
    const a = num(e.vaddr),
      n = num(e.nr_pages ?? e.compat_nr_pages);
    if (a < 0 || n < 1 || a % PAGE_N || !Number.isInteger(n)) return -1;
    const end = a + n * PAGE_N;
    if (end > Number.MAX_SAFE_INTEGER || a < prev) return -1;
    prev = end;
    let at = a;
    while (vi < live.length && num(live[vi].end) <= at) vi++;
    for (let j = vi; at < end; j++) {
      const v = live[j];
      if (!v || num(v.start) > at || num(v.end) < 0) return -1;
      at = num(v.end);
    }
    if ((e.flags ?? 0) & PE.PRESENT) present += n;
  }
  return present;
}

function checkPagemap(img: DumpImages, t: TaskImages, vmas: VmaEntry[]): void {
  const mmName = `mm-${t.pid}.img`;
  const pmName = `pagemap-${t.pid}.img`;
  const { head, entries } = t.pagemap;
  if (!head) throw new BadImage(pmName, undefined, 'pagemap_head', 'is missing');
  const pagesName = `pages-${head.pages_id}.img`;
  const pagesPath = path.join(img.dir, pagesName);
  if (!fs.existsSync(pagesPath)) throw new BadImage(pmName, 0, 'pages_id', `${head.pages_id}: ${pagesName} is missing`);
  const live = vmas.filter((v) => !(v.status & (VMA.VSYSCALL | VMA.GUARD)));
  const quick = presentPages(entries, live);
  let present = quick < 0 ? 0n : BigInt(quick),
    prev = 0n,
    vi = 0;
  // what the quick pass did not vouch for: the entries once more with bigints, which names the fault
  if (quick < 0)
    entries.forEach((e, k) => {
      const i = k + 1;
      const a = big(e.vaddr);
      const n = big(e.nr_pages ?? e.compat_nr_pages);
      if (a % PAGE) throw new BadImage(pmName, i, 'vaddr', `${hex(a)} is not page-aligned`);
      if (n < 1n || n > USER_TOP / PAGE) throw new BadImage(pmName, i, e.nr_pages !== undefined ? 'nr_pages' : 'compat_nr_pages', `${n} is out of range`);
      const end = a + n * PAGE;
      if (a < prev) throw new BadImage(pmName, i, 'vaddr', `${hex(a)} overlaps the entry before it (or the entries are out of order)`);
      prev = end;
      // the pages lie in VMAs, one after another without holes
      let at = a;
      while (vi < live.length && big(live[vi].end) <= at) vi++;
      for (let j = vi; at < end; j++) {
        const v = live[j];
        if (!v || big(v.start) > at) throw new BadImage(pmName, i, 'vaddr', `${hex(a)} + nr_pages ${n}: ${hex(at)} is in no VMA of ${mmName}`);
        at = big(v.end);
      }
      if (big(e.flags) & BigInt(PE.PRESENT)) present += n;
    });
  const have = BigInt(fs.statSync(pagesPath).size);
  if (present * PAGE > have) {
    throw new BadImage(
      pmName,
      undefined,
      'nr_pages',
      `of the present entries add up to ${present} pages, but ${pagesName} holds ${have / PAGE} (${have} bytes)`,
    );
  }
}
