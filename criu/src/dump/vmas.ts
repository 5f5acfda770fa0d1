// /proc VMAs → CRIU vma_entry records (status bits, flags, madvise bitmap), as CRIU 4.2 writes
// them: [vvar] and [vvar_vclock] become one VVAR VMA, the stack is MAP_GROWSDOWN.
import * as fs from 'node:fs';
import type { SmapsVma } from '../proc/index.js';
import { NotSupportedError } from '../errors.js';
import { pluginCalls } from '../hooks.js';
import { shmMode, sysctlRead } from '../ns/sysv.js';
import { collectGuards, hasGuardScan } from '../mem/guard.js';
import { aioVma, isAioRing } from '../mem/aio.js';
import { hugetlbFlag, isAnonHugetlb } from '../mem/hugetlb.js';
import { VMA, MAP, madvBits } from '../images/consts.js';

export { VMA, MAP, madvBits };

export interface VmaRec {
  start: bigint;
  end: bigint;
  pgoff: bigint;
  shmid: number;
  prot: number;
  flags: number;
  status: number;
  fd: bigint;
  madv: bigint;
  fdflags?: number;
  /** path of the mapped file, for file VMAs */
  path?: string;
  /** private pages may be dumped from this VMA */
  dumpPages: boolean;
  /** private file mapping: only anonymous (COWed) pages are the task's own */
  fileBacked: boolean;
  /** every page is dumped, present or not (an aio ring: CRIU's should_dump_entire_vma) */
  dumpAll?: boolean;
  /** an aio ring's inode (mem/aio.ts refuseInheritedRings) */
  ringIno?: number;
}

const S_IFMT = 0o170000n,
  S_IFCHR = 0o020000n;
/** /dev/zero's device number (1:5 in glibc's dev_t encoding) */
const DEVZERO = (1n << 8n) | 5n;

/**
 * A file VMA on a character device other than /dev/zero (proc_parse.c): a plugin must take it
 * (HANDLE_DEVICE_VMA with an fd of the tool on the object), the VMA then carries VMA_EXT_PLUGIN;
 * without one it is refused. False for every other file.
 */
function deviceVma(pid: number, v: SmapsVma, where: string): boolean {
  const mf = `/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(mf, { bigint: true });
  } catch {
    return false; // the file layer reports what it cannot reach
  }
  if ((st.mode & S_IFMT) !== S_IFCHR || st.rdev === DEVZERO) return false;
  const plugins = pluginCalls();
  const fd = fs.openSync(mf, v.shared && v.prot & 2 ? 'r+' : 'r');
  try {
    if (plugins.handleDeviceVma(fd, st)) return true;
  } finally {
    fs.closeSync(fd);
  }
  throw new NotSupportedError(`${where}: a mapping of character device ${st.rdev >> 8n}:${st.rdev & 0xffn}`, {
    task: pid,
    hint: `no plugin took it (HANDLE_DEVICE_VMA): ${plugins.describe()}`,
  });
}

/** A file mapping (a device one taken by a plugin carries VMA_EXT_PLUGIN). */
function fileVma(pid: number, v: SmapsVma, base: Omit<VmaRec, 'flags' | 'status'>, growsdown: number, where: string, fileId: (v: SmapsVma) => number): VmaRec {
  const plugin = deviceVma(pid, v, where);
  return {
    ...base,
    pgoff: v.offset,
    shmid: fileId(v),
    path: v.path,
    flags: (v.shared ? MAP.SHARED : MAP.PRIVATE) | growsdown,
    status: VMA.REGULAR | (v.shared ? VMA.FILE_SHARED : VMA.FILE_PRIVATE) | (plugin ? VMA.EXT_PLUGIN : 0),
    fdflags: v.shared && v.prot & 2 ? 2 /* O_RDWR */ : 0,
    // a device plugin saves what the mapping holds: only its metadata is dumped
    dumpPages: !v.shared && !plugin,
    fileBacked: true,
  };
}

/**
 * What the VmFlags of a VMA add to its vma_entry, or refuse (CRIU's parse_vmflags): `lo`
 * (mlock(), MAP_LOCKED) is MAP_LOCKED in the flags, restored locked. A hugetlb mapping (`ht`)
 * other than anonymous MAP_HUGETLB memory (mem/hugetlb.ts) is refused by name. Guard regions are extra entries (mem/guard.ts), aio rings VMAs of their own
 * (mem/aio.ts).
 */
export function vmFlagsExtra(pid: number, v: SmapsVma, where: string): number {
  if (v.vmFlags.includes('ht') && !isAnonHugetlb(v) && v.kind !== 'memfd') {
    throw new NotSupportedError(`${where}: a mapping of a hugetlbfs file`, {
      task: pid,
      hint: 'anonymous MAP_HUGETLB memory and hugetlb memfds are supported, mappings of files on a hugetlbfs mount not yet',
    });
  }
  // guard markers are collected apart (mem/guard.ts); a kernel whose PAGEMAP_SCAN cannot tell
  // them would bring them back as ordinary memory
  if (v.vmFlags.includes('gu') && !hasGuardScan()) {
    throw new NotSupportedError(`${where}: guard regions (MADV_GUARD_INSTALL) on a kernel whose PAGEMAP_SCAN has no PAGE_IS_GUARD`, {
      task: pid,
      hint: 'dump on a 6.14+ kernel (criu check --feature pagemap_scan_guard_pages)',
    });
  }
  // aarch64 MTE: the allocation tags of PROT_MTE memory are state of their own, not in the pages
  if (v.vmFlags.includes('mt')) {
    throw new NotSupportedError(`${where}: memory tagging (PROT_MTE): its allocation tags`, { task: pid, hint: 'the tags of MTE memory are not dumped yet' });
  }
  return v.vmFlags.includes('lo') ? MAP.LOCKED : 0;
}

/** A memfd mapping: the memfd is a file of files.img (memfd_file_entry), its content dumped once per inode. */
function memfdVma(
  pid: number,
  v: SmapsVma,
  base: Omit<VmaRec, 'flags' | 'status'>,
  growsdown: number,
  where: string,
  memfdId?: (v: SmapsVma, flags: number) => number,
): VmaRec {
  if (!memfdId) throw new NotSupportedError(`${where} (memfd mapping)`);
  const fdflags = v.shared && v.prot & 2 ? 2 /* O_RDWR */ : 0;
  return {
    ...base,
    pgoff: v.offset,
    shmid: memfdId(v, fdflags),
    path: v.path,
    // a hugetlb memfd's mapping carries CRIU's hugetlb_flag too
    flags: (v.shared ? MAP.SHARED : MAP.PRIVATE) | growsdown | (v.vmFlags.includes('ht') ? hugetlbFlag(pid, v, where) : 0),
    status: VMA.REGULAR | VMA.MEMFD | (v.shared ? VMA.FILE_SHARED : VMA.FILE_PRIVATE),
    fdflags,
    dumpPages: !v.shared,
    fileBacked: true,
  };
}

/**
 * MAP_HUGETLB anonymous memory (mem/hugetlb.ts), as CRIU writes it: anonymous with its
 * hugetlb_flag; a shared one is a shmem object of its own (its inode the shmid).
 */
function hugetlbVma(pid: number, v: SmapsVma, base: Omit<VmaRec, 'flags' | 'status'>, where: string): VmaRec {
  const hf = hugetlbFlag(pid, v, where);
  if (v.shared) return { ...base, pgoff: v.offset, shmid: v.inode, flags: MAP.SHARED | MAP.ANON | hf, status: VMA.REGULAR | VMA.ANON_SHARED, dumpPages: false };
  return { ...base, flags: MAP.PRIVATE | MAP.ANON | hf, status: VMA.REGULAR | VMA.ANON_PRIVATE };
}

const SHM_DEST = 0o1000;

/**
 * An attached SysV shm segment (CRIU's VMA_AREA_SYSVIPC): MAP_SHARED|MAP_ANONYMOUS, shmid the
 * segment's id (the inode of its file), fdflags O_RDWR unless attached SHM_RDONLY; no pages
 * (the segment's contents go with its IPC namespace, or stay in the host's). Several VMAs of
 * one segment (parts mprotected differently) must follow each other from offset 0 to its end,
 * as one shmat makes them; a hole is refused, as by CRIU. In the tool's own IPC namespace
 * (which CRIU 4.2 refuses: "doesn't live in IPC ns") the segment outlives the dumped tree and is
 * attached again at restore, unless it was removed (IPC_RMID): then it dies with the tree.
 */
function sysvVma(pid: number, v: SmapsVma, base: Omit<VmaRec, 'flags' | 'status'>, where: string, before: VmaRec[], open: Map<number, string>): VmaRec {
  const id = v.inode;
  const mf = `/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`;
  let st: fs.Stats, link: fs.Stats;
  try {
    st = fs.statSync(mf);
    link = fs.lstatSync(mf);
  } catch (e) {
    throw new NotSupportedError(`${where}: SysV shm segment ${id}: cannot stat ${mf}: ${(e as Error).message}`, { task: pid });
  }
  if (!v.shared) throw new NotSupportedError(`${where}: a private mapping of SysV shm segment ${id}`, { task: pid });
  const prev = before[before.length - 1];
  const chained = prev && prev.status & VMA.SYSVIPC && prev.shmid === id && prev.end === v.start;
  if (v.offset !== 0n && (!chained || prev.pgoff + (prev.end - prev.start) !== v.offset)) {
    throw new NotSupportedError(`${where}: SysV shm segment ${id} attached with a hole (a part at offset ${v.offset} whose first part is not before it)`, {
      task: pid,
      hint: 'a segment partly unmapped cannot be attached again as it was (CRIU neither)',
    });
  }
  const size = BigInt(Math.ceil(st.size / 4096) * 4096);
  // the next VMA must go on with it where this one does not reach the segment's end
  if (v.offset + (v.end - v.start) < size) open.set(id, where);
  else open.delete(id);
  if (v.offset === 0n && fs.readlinkSync(`/proc/${pid}/ns/ipc`) === fs.readlinkSync('/proc/self/ns/ipc')) {
    const mode = shmMode(id);
    const forced = sysctlRead('kernel/shm_rmid_forced') === '1';
    if (mode === undefined || mode & SHM_DEST || forced)
      throw new NotSupportedError(
        `${where}: SysV shm segment ${id} of the host's IPC namespace, ${mode === undefined ? 'gone' : forced ? 'with kernel.shm_rmid_forced set' : 'removed (IPC_RMID)'} while attached`,
        {
          task: pid,
          hint: 'it is destroyed with the dumped tree, so nothing could attach it again: run the tree in an IPC namespace of its own',
        },
      );
  }
  return {
    ...base,
    pgoff: v.offset,
    shmid: id,
    flags: MAP.SHARED | MAP.ANON,
    status: VMA.REGULAR | VMA.ANON_SHARED | VMA.SYSVIPC,
    fdflags: link.mode & 0o200 ? 2 /* O_RDWR */ : 0,
    dumpPages: false,
  };
}

/** Convert the VMAs of a task; `fileId(path, vma)` gives the reg-file id of a mapped file. */
/** every attached SysV segment reaches its end (a partly unmapped one cannot be attached again as it was) */
function sysvWhole(pid: number, sysvParts: Map<number, string>): void {
  for (const [id, where] of sysvParts)
    throw new NotSupportedError(`${where}: SysV shm segment ${id} not attached up to its end`, {
      task: pid,
      hint: 'a segment partly unmapped cannot be attached again as it was (CRIU neither)',
    });
}

export function toVmaRecs(pid: number, vmas: SmapsVma[], fileId: (v: SmapsVma) => number, memfdId?: (v: SmapsVma, flags: number) => number): VmaRec[] {
  const out: VmaRec[] = [];
  /** SysV segments whose VMAs met so far do not reach their end: the VMA that stops short */
  const sysvParts = new Map<number, string>();
  for (const v of vmas) {
    const where = `task ${pid}: VMA ${v.start.toString(16)}-${v.end.toString(16)} ${v.name}`;
    const base = {
      start: v.start,
      end: v.end,
      pgoff: 0n,
      shmid: 0,
      prot: v.prot,
      fd: -1n,
      madv: madvBits(v.vmFlags),
      dumpPages: true,
      fileBacked: false,
    };
    const growsdown = v.vmFlags.includes('gd') ? MAP.GROWSDOWN : 0;
    const locked = vmFlagsExtra(pid, v, where);
    const count = out.length;
    switch (v.kind) {
      case 'vsyscall':
        // not REGULAR: CRIU leaves the kernel's vsyscall page alone
        out.push({ ...base, flags: MAP.PRIVATE | MAP.ANON, status: VMA.VSYSCALL | VMA.ANON_PRIVATE, dumpPages: false });
        break;
      case 'vvar':
      case 'vvar_vclock': {
        const prev = out[out.length - 1];
        if (prev && prev.status & VMA.VVAR && prev.end === v.start) {
          prev.end = v.end;
          break;
        }
        out.push({ ...base, flags: MAP.PRIVATE | MAP.ANON, status: VMA.REGULAR | VMA.ANON_PRIVATE | VMA.VVAR, dumpPages: false });
        break;
      }
      case 'vdso':
        out.push({ ...base, flags: MAP.PRIVATE | MAP.ANON, status: VMA.REGULAR | VMA.VDSO | VMA.ANON_PRIVATE });
        break;
      case 'anon':
      case 'anon_named':
      case 'heap':
      case 'stack':
        if (v.shared) throw new NotSupportedError(`${where}: shared anonymous memory`);
        out.push({ ...base, flags: MAP.PRIVATE | MAP.ANON | growsdown, status: VMA.REGULAR | VMA.ANON_PRIVATE | (v.kind === 'heap' ? VMA.HEAP : 0) });
        break;
      case 'shmem':
        // MAP_SHARED|MAP_ANONYMOUS: one shmem object (its inode is the shmid) that every
        // mapping of it shares; its pages are dumped once, to pagemap-shmem-SHMID.img
        if (!v.shared || v.name.startsWith('[anon_shmem:')) throw new NotSupportedError(`${where} (shmem mapping)`);
        out.push({ ...base, pgoff: v.offset, shmid: v.inode, flags: MAP.SHARED | MAP.ANON, status: VMA.REGULAR | VMA.ANON_SHARED, dumpPages: false });
        break;
      case 'memfd':
        out.push(memfdVma(pid, v, base, growsdown, where, memfdId));
        break;
      case 'file':
        // a packet socket's ring (socket:[N]): VMA_AREA_SOCKET, its pages not dumped; shmid is
        // the socket's file id, set once the fds are dumped (files/packet.ts packetRingMaps)
        if (v.path.startsWith('socket:[')) {
          out.push({ ...base, pgoff: v.offset, path: v.path, flags: v.shared ? MAP.SHARED : MAP.PRIVATE, status: VMA.REGULAR | VMA.SOCKET, dumpPages: false });
          break;
        }
        // an object without a path (an anon inode): nothing can map it again
        if (!v.path.startsWith('/')) throw new NotSupportedError(`${where}: a mapping of ${v.path}`, { task: pid });
        out.push(fileVma(pid, v, base, growsdown, where, fileId));
        break;
      case 'deleted':
        // a file removed since it was mapped: a ghost or link remap, read through map_files (files/ghost.ts)
        if (isAnonHugetlb(v)) {
          out.push(hugetlbVma(pid, v, base, where));
          break;
        }
        // an aio ring (io_setup) shows as the deleted file "/[aio]" (mem/aio.ts)
        out.push(isAioRing(v) ? aioVma(pid, v, base, where) : fileVma(pid, v, base, growsdown, where, fileId));
        break;
      case 'sysv':
        out.push(sysvVma(pid, v, base, where, out, sysvParts));
        break;
      default:
        throw new NotSupportedError(`${where} (${v.kind} mapping)`);
    }
    if (locked && out.length > count) out[out.length - 1].flags |= locked;
  }
  sysvWhole(pid, sysvParts);
  // guard regions: extra entries after every real VMA, as CRIU writes them
  out.push(...collectGuards(pid));
  return out;
}
