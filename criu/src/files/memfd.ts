// memfd: as CRIU 4.2 does, each open file description is a memfd_file_entry in files.img
// (flags, position, inode_id), each memfd inode is one memfd_inode_entry in memfd.img (name,
// owner, mode, size, seals, shmid = inode number), and the contents are shmem pages:
// pagemap-shmem-<shmid>.img (a pagemap_head, then one PE_PRESENT entry per run of data pages,
// vaddr = offset in the file) over a raw pages-<pages_id>.img. Holes stay holes.
//
// On restore the inode is made once (memfd_create, size, contents, owner, mode, then seals); the
// first read-write description gets the memfd_create file itself (so execveat(AT_EMPTY_PATH)
// works on it as before), the others reopen it through /proc/self/fd with their own flags.
import * as fs from 'node:fs';
import { writeAll } from '../sys/io.js';
import * as path from 'node:path';
import type { FileTable } from './table.js';
import type { FileKind, DumpFdCtx, DumpEnv, RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import { fcntl, lseek, memfdCreate, SysError, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { fileFlags, dumpFown, restoreFileParams, where, zeroFown, O_CLOEXEC, F_DUPFD_CLOEXEC, type Fown } from './fdparams.js';
import { O } from './reg.js';
import { writeHugetlb } from '../mem/hugetlb.js';
import { PE } from '../images/consts.js';
import { FdTypes, type FileEntry, type MemfdFileEntry, type MemfdInodeEntry, type PagemapEntry, type PagemapHead } from '../images/gen/types.js';
import { ids as userIds } from '../proc/idmap.js';

export const MEMFD_PREFIX = '/memfd:';
export const MEMFD_IMG = 'memfd.img';
export const shmemPagemap = (shmid: number): string => `pagemap-shmem-${shmid}.img`;
const PAGE = 4096;
const F_ADD_SEALS = 1033,
  F_GET_SEALS = 1034,
  F_SEAL_SEAL = 1,
  F_SEAL_FUTURE_WRITE = 0x10;
const MFD_CLOEXEC = 1,
  MFD_ALLOW_SEALING = 2,
  MFD_EXEC = 0x10;
const SEEK_DATA = 3,
  SEEK_HOLE = 4;
/**
 * pages-N.img ids of memfd contents, until the dump engine hands out pages ids for shmem
 * (DumpFdCtx.allocPagesId): far above the ids of the tasks' own pages-N.img (1, 2 … per task).
 */
export const MEMFD_PAGES_ID_BASE = 0x8000;

/** A memfd's fd link: "/memfd:NAME (deleted)". */
export function isMemfdLink(link: FdLink, _info?: Fdinfo): boolean {
  return link.kind === 'path' && link.deleted && link.path!.startsWith(MEMFD_PREFIX);
}

let shmemDev: bigint | undefined;
/** The device of the kernel's internal shmem mount, which every (non-hugetlb) memfd lives on. */
export function shmemDevice(): bigint {
  if (shmemDev === undefined) {
    const fd = memfdCreate('criu-shmem-probe', MFD_CLOEXEC);
    try {
      shmemDev = fs.fstatSync(fd, { bigint: true }).dev;
    } finally {
      fs.closeSync(fd);
    }
  }
  return shmemDev;
}

interface MemfdDumpState {
  nextInode: number;
  nextPages: number;
  byInode: Map<string, number>;
}
const dumpState = new WeakMap<FileTable, MemfdDumpState>();

/** Where memfd entries go, and how pages ids are handed out. */
export type MemfdDumpEnv = DumpEnv;

/** The runs of data pages of a shmem file of `size` bytes, as [first page, page count]. */
function dataRuns(fd: number, size: bigint): [number, number][] {
  const pages = Number((size + BigInt(PAGE - 1)) / BigInt(PAGE));
  const runs: [number, number][] = [];
  let pos = 0;
  while (pos < pages) {
    let data: number;
    try {
      data = Number(lseek(fd, pos * PAGE, SEEK_DATA)) / PAGE;
    } catch (e) {
      if (e instanceof SysError && e.errno === E.ENXIO) break;
      throw e;
    }
    const start = Math.floor(data);
    const hole = Math.min(pages, Math.ceil(Number(lseek(fd, start * PAGE, SEEK_HOLE)) / PAGE));
    if (hole > start) runs.push([start, hole - start]);
    pos = Math.max(hole, start + 1);
  }
  return runs;
}

/** The huge pages of a hugetlb memfd that hold anything but zeroes, as [first page, page count] of 4 KiB pages. */
function hugetlbRuns(fd: number, size: bigint, hps: bigint): [number, number][] {
  const runs: [number, number][] = [];
  const b = Buffer.alloc(Number(hps));
  const per = Number(hps) / PAGE;
  for (let k = 0; BigInt(k) * hps < size; k++) {
    const n = fs.readSync(fd, b, 0, b.length, Number(BigInt(k) * hps));
    if (!b.subarray(0, n).some((x) => x !== 0)) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === k * per) last[1] += per;
    else runs.push([k * per, per]);
  }
  return runs;
}

/** memfd.img entry and shmem pages of one memfd inode, read through the tool's fd `fd`. */
function dumpMemfdInode(env: MemfdDumpEnv, s: MemfdDumpState, fd: number, name: string, st: fs.BigIntStats, hugetlbFlag?: number): number {
  const inodeId = s.nextInode++;
  const shmid = Number(st.ino & 0xffffffffn);
  // reopen for reading: the task's own fd may be write-only
  const r = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | O_CLOEXEC);
  try {
    const seals = fcntl(r, F_GET_SEALS, 0);
    // a hugetlb memfd has no SEEK_DATA (its whole size reads as data, missing pages as zeroes):
    // its runs are the huge pages that are not all zeroes (mem/hugetlb.ts)
    if (st.size > 0n && (hugetlbFlag === undefined || st.blocks > 0n)) {
      const pagesId = env.allocPagesId ? env.allocPagesId() : MEMFD_PAGES_ID_BASE + s.nextPages++;
      const head: PagemapHead = { pages_id: pagesId };
      const file = shmemPagemap(shmid);
      env.extra.add('PAGEMAP', file, head);
      const chunks: Buffer[] = [];
      for (const [first, n] of hugetlbFlag !== undefined ? hugetlbRuns(r, st.size, BigInt(fs.fstatSync(r).blksize)) : dataRuns(r, st.size)) {
        const pe: PagemapEntry = { vaddr: BigInt(first * PAGE), compat_nr_pages: 0, flags: PE.PRESENT, nr_pages: BigInt(n) };
        env.extra.add('PAGEMAP', file, pe);
        const b = Buffer.alloc(n * PAGE);
        let got = 0;
        while (got < b.length) {
          const k = fs.readSync(r, b, got, b.length - got, first * PAGE + got);
          if (k === 0) break; // the last page past the end of the file reads as zeroes
          got += k;
        }
        chunks.push(b);
      }
      env.extra.add('RAW', `pages-${pagesId}.img`, {}, Buffer.concat(chunks));
    }
    const mie: MemfdInodeEntry = {
      name,
      uid: userIds.toNs('uid', Number(st.uid)),
      gid: userIds.toNs('gid', Number(st.gid)),
      size: st.size,
      shmid,
      seals,
      inode_id: BigInt(inodeId),
      mode: Number(st.mode),
      ...(hugetlbFlag !== undefined ? { hugetlb_flag: hugetlbFlag } : {}),
    };
    env.extra.add('MEMFD_INODE', MEMFD_IMG, mie);
  } finally {
    fs.closeSync(r);
  }
  return inodeId;
}

const HUGETLBFS_MAGIC = 0x958458f6;
const MFD_HUGETLB = 4,
  MFD_HUGE_SHIFT = 26;

/**
 * A memfd made with MFD_HUGETLB: CRIU's hugetlb_flag (MFD_HUGETLB | log2(huge page size) << 26).
 * Its size, seals, owner and mode are kept, and its pages by huge page (read() reads it;
 * the restore writes through a mapping, mem/hugetlb.ts writeHugetlb).
 */
function hugetlbFlagOf(fd: number, st: fs.BigIntStats, linkPath: string, who: string): number {
  const fsInfo = fs.statfsSync(`/proc/self/fd/${fd}`);
  if (fsInfo.type !== HUGETLBFS_MAGIC) throw new NotSupportedError(`${who}: ${linkPath} is neither a shmem nor a hugetlb memfd`, { object: linkPath });
  return (MFD_HUGETLB | (Math.log2(fsInfo.bsize) << MFD_HUGE_SHIFT)) >>> 0;
}

/**
 * The memfd_file_entry of a memfd open at the tool's fd `fd` (an fd of a task, or a mapping's
 * /proc/PID/map_files/… opened by the engine for a MAP_SHARED memfd VMA); its inode is dumped
 * the first time it is seen.
 */
export function memfdEntry(env: MemfdDumpEnv, id: number, fd: number, linkPath: string, flags: number, pos: bigint, fown: Fown, who: string): FileEntry {
  const st = fs.fstatSync(fd, { bigint: true });
  const hugetlb = st.dev !== shmemDevice() ? hugetlbFlagOf(fd, st, linkPath, who) : undefined;
  let s = dumpState.get(env.files);
  if (!s) {
    s = { nextInode: 1, nextPages: 1, byInode: new Map() };
    dumpState.set(env.files, s);
  }
  const key = `${st.dev}:${st.ino}`;
  let inodeId = s.byInode.get(key);
  if (inodeId === undefined) {
    inodeId = dumpMemfdInode(env, s, fd, linkPath.slice(MEMFD_PREFIX.length), st, hugetlb);
    s.byInode.set(key, inodeId);
  }
  const memfd: MemfdFileEntry = { id, flags, pos, fown, inode_id: inodeId };
  return { type: FdTypes.MEMFD, id, memfd };
}

export function dumpMemfd(ctx: DumpFdCtx, id: number): FileEntry {
  const fd = ctx.takeFd();
  const env: MemfdDumpEnv = { files: ctx.files, extra: ctx.extra, allocPagesId: ctx.allocPagesId };
  return memfdEntry(env, id, fd, ctx.link.path!, fileFlags(ctx), ctx.info.pos, dumpFown(ctx, fd, 'memfd'), where(ctx, 'memfd'));
}

/**
 * For the dump engine: the MEMFD file_entry of a memfd mapping, whose id CRIU puts in the VMA's
 * shmid, with VMA_AREA_MEMFD (1 << 14) and VMA_FILE_SHARED/PRIVATE in its status. The contents
 * are dumped once per inode, shared with the task's fds on the same memfd. `path` is the maps
 * path ("/memfd:NAME (deleted)"); `flags` the open flags the mapping needs (O_RDWR for a
 * writable shared mapping, else O_RDONLY), which CRIU also keeps in vma_entry.fdflags.
 */
function dumpMemfdVma(env: MemfdDumpEnv, id: number, pid: number, start: bigint, end: bigint, path: string, flags: number): FileEntry {
  const fd = fs.openSync(`/proc/${pid}/map_files/${start.toString(16)}-${end.toString(16)}`, fs.constants.O_RDONLY | O_CLOEXEC);
  const who = `task ${pid}: VMA ${start.toString(16)}-${end.toString(16)}`;
  try {
    // the restore seals the memfd before it is mapped: F_SEAL_FUTURE_WRITE would then forbid this mapping
    if ((flags & O.ACCMODE) === O.RDWR && fcntl(fd, F_GET_SEALS, 0) & F_SEAL_FUTURE_WRITE) {
      throw new NotSupportedError(`${who}: a writable shared mapping of ${path} made before F_SEAL_FUTURE_WRITE`, {
        task: pid,
        hint: 'the seal would refuse the mapping on restore',
      });
    }
    return memfdEntry(env, id, fd, path.replace(/ \(deleted\)$/, ''), flags, 0n, zeroFown(), who);
  } finally {
    fs.closeSync(fd);
  }
}

// ---------------------------------------------------------------- restore

interface MemfdInode {
  fd: number;
  openedRw: boolean;
  mie: MemfdInodeEntry;
}
/** The memfds the tool made, by inode id: kept for the whole restore (every fd and mapping of one inode shares it). */
export type MemfdState = Map<number, MemfdInode>;

/** Fill a new memfd with the pages of pagemap-shmem-<shmid>.img. */
function restoreContents(ctx: RestoreFdCtx, fd: number, mie: MemfdInodeEntry, who: string): void {
  const size = Number(mie.size);
  if (size === 0) return;
  const pmName = shmemPagemap(mie.shmid);
  const pm = ctx.pagemap(pmName);
  if (!pm && mie.hugetlb_flag) return; // an empty hugetlb memfd: its size only
  if (!pm) throw new FileError(who, `memfd ${mie.name}: ${pmName} is missing`, { object: pmName, hint: 'the images are incomplete' });
  const pagesFile = path.join(ctx.dir, `pages-${pm.head.pages_id}.img`);
  let pages: number;
  try {
    pages = fs.openSync(pagesFile, fs.constants.O_RDONLY | O_CLOEXEC);
  } catch (e) {
    throw new FileError(who, `memfd ${mie.name}: cannot open ${pagesFile}: ${(e as Error).message}`, { object: pagesFile });
  }
  try {
    let off = 0;
    for (const pe of pm.entries) {
      const flags = pe.flags ?? PE.PRESENT;
      const n = Number(pe.nr_pages ?? pe.compat_nr_pages);
      if (flags & PE.PARENT) throw new NotSupportedError(`${who}: memfd ${mie.name}: pages in a parent images dir`, { object: pmName });
      if (!(flags & PE.PRESENT)) continue;
      const at = Number(pe.vaddr);
      const b = Buffer.alloc(n * PAGE);
      let got = 0;
      while (got < b.length) {
        const k = fs.readSync(pages, b, got, b.length - got, off + got);
        if (k === 0) throw new FileError(who, `memfd ${mie.name}: ${pagesFile} ends early`, { object: pagesFile, hint: 'the image is damaged' });
        got += k;
      }
      off += b.length;
      // pages past the end of the file are not written: they would make it grow
      const len = Math.max(0, Math.min(b.length, size - at));
      if (mie.hugetlb_flag) writeHugetlb(fd, BigInt(at), b.subarray(0, len), BigInt(fs.fstatSync(fd).blksize));
      else writeAll(fd, b, len, at);
    }
  } finally {
    fs.closeSync(pages);
  }
}

/** The tool's memfd of inode `inodeId`, made (with contents, owner, mode and seals) on first use. */
function memfdInode(ctx: RestoreFdCtx, s: MemfdState, inodeId: number, who: string): MemfdInode {
  const known = s.get(inodeId);
  if (known) return known;
  const rec = (ctx.image(MEMFD_IMG, 'MEMFD_INODE') ?? []).find((r) => Number(r.msg.inode_id) === inodeId);
  if (!rec) throw new FileError(who, `${MEMFD_IMG} has no memfd inode ${inodeId}`, { object: MEMFD_IMG, hint: 'the images are incomplete' });
  const mie = rec.msg;
  const seals = Number(mie.seals);
  const flags = MFD_CLOEXEC | (seals === F_SEAL_SEAL ? 0 : MFD_ALLOW_SEALING) | Number(mie.hugetlb_flag ?? 0);
  let fd: number;
  try {
    // ask for an executable memfd (a later fchmod sets the real mode; F_SEAL_EXEC comes with the seals)
    fd = memfdCreate(mie.name, flags | MFD_EXEC);
  } catch (e) {
    if (!(e instanceof SysError && e.errno === E.EINVAL))
      throw new FileError(who, `cannot create memfd:${mie.name}: ${(e as Error).message}`, { object: `memfd:${mie.name}` });
    fd = memfdCreate(mie.name, flags); // kernels before 6.3 know no MFD_EXEC
  }
  try {
    if (Number(mie.size) > 0) fs.ftruncateSync(fd, Number(mie.size));
    restoreContents(ctx, fd, mie, who);
    fs.fchownSync(fd, userIds.toHost('uid', Number(mie.uid)), userIds.toHost('gid', Number(mie.gid)));
    if (mie.mode !== undefined) fs.fchmodSync(fd, Number(mie.mode) & 0o7777);
    // the seals last: F_SEAL_WRITE and friends would stop the writes above
    if (seals !== F_SEAL_SEAL && seals !== 0) fcntl(fd, F_ADD_SEALS, seals);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  const ino: MemfdInode = { fd, openedRw: false, mie };
  s.set(inodeId, ino);
  return ino;
}

/**
 * An fd of the tool on the memfd of MEMFD entry `e`, to map a memfd VMA with (`flags`:
 * vma_entry.fdflags). A read-write one is the inode's own file, as CRIU maps it.
 */
function openMemfdForMap(ctx: RestoreFdCtx, s: MemfdState, e: FileEntry, flags: number, who: string): number {
  const ino = memfdInode(ctx, s, Number(partOf(e, 'memfd', who).inode_id), who);
  if ((flags & O.ACCMODE) === O.RDWR) return fcntl(ino.fd, F_DUPFD_CLOEXEC, 3);
  return fs.openSync(`/proc/self/fd/${ino.fd}`, (flags & O.ACCMODE) | O_CLOEXEC);
}

export function openMemfd(ctx: RestoreFdCtx, e: FileEntry, s: MemfdState, who: string): number {
  const mfe = partOf(e, 'memfd', who);
  const ino = memfdInode(ctx, s, Number(mfe.inode_id), who);
  const flags = Number(mfe.flags);
  let fd: number;
  if ((flags & O.ACCMODE) === O.RDWR && !ino.openedRw) {
    ino.openedRw = true;
    fd = fcntl(ino.fd, F_DUPFD_CLOEXEC, 3);
    restoreFileParams(fd, flags, mfe.fown);
  } else {
    fd = fs.openSync(`/proc/self/fd/${ino.fd}`, (flags & ~(O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY)) | O_CLOEXEC);
    restoreFileParams(fd, flags, mfe.fown);
  }
  lseek(fd, BigInt(mfe.pos), 0);
  return fd;
}

export const memfdKind: FileKind<MemfdState> = {
  name: 'memfd',
  type: FdTypes.MEMFD,
  field: 'memfd',
  priority: 900,
  match: isMemfdLink,
  dump: dumpMemfd,
  // CRIU's memfd_d_name: /memfd:NAME
  inheritKey: (ctx, e) => {
    const id = e.memfd ? Number(e.memfd.inode_id) : -1;
    const rec = (ctx.image(MEMFD_IMG, 'MEMFD_INODE') ?? []).find((r) => Number(r.msg.inode_id) === id);
    return rec ? `${MEMFD_PREFIX}${rec.msg.name}` : undefined;
  },
  dumpMapped: (env, id, m) => dumpMemfdVma(env, id, m.pid, m.start, m.end, m.name, m.flags),
  state: {
    create: () => new Map(),
    // the memfds the tool keeps for the whole restore (one per inode)
    close: (s) => {
      for (const ino of s.values()) {
        try {
          fs.closeSync(ino.fd);
        } catch {
          /* closed */
        }
      }
      s.clear();
    },
  },
  open: openMemfd,
  openMapped: (ctx, e, flags, s, who) => openMemfdForMap(ctx, s, e, flags, who),
};
