// inotify: the instance and its watches. fdinfo gives each watch's wd, mask, inode and device,
// and a file handle of the watched inode. As CRIU does, the dump stores the handle and, when one
// is found, a path to the inode: the handle is opened (open_by_handle_at) through a mount of
// that device in the task's mount namespace, and the path the kernel gives it is kept if it
// leads to the same inode. A watch whose inode has no such path (unlinked, or on a mount the
// tool cannot reach) is refused: CRIU would look for it with its irmap scan.
//
// On restore the tool makes the instance and adds each watch through /proc/self/fd/N of an
// O_PATH open of the path, with INOTIFY_IOC_SETNEXTWD so that the wd numbers stay the same.
// Events queued but not read at dump time are lost, as with CRIU (a warning says so).
import * as fs from 'node:fs';
import type { FileKind, DumpFdCtx } from './kind.js';
import { syscall, addrOf, ioctl, close, SysError, errnoName } from '../sys/libc.js';
import { readMountinfo, type InotifyWd, type MountInfo } from '../proc/index.js';
import { NotSupportedError } from '../errors.js';
import { FileError, partOf } from './kind.js';
import { log } from '../log.js';
import { fileFlags, dumpFown, restoreFileParams, where, kernelDev, O_CLOEXEC, O_NONBLOCK } from './fdparams.js';
import { FdTypes, type FileEntry, type InotifyFileEntry, type InotifyWdEntry, type FhEntry } from '../images/gen/types.js';

const IN_CLOEXEC = O_CLOEXEC,
  IN_NONBLOCK = O_NONBLOCK;
const IN_ALL_EVENTS = 0xfff,
  IN_EXCL_UNLINK = 0x04000000,
  IN_ONESHOT = 0x80000000;
/** The mask bits a watch keeps: its events, and the two flags the kernel shows in fdinfo. */
export const WATCH_MASK = (IN_ALL_EVENTS | IN_EXCL_UNLINK | IN_ONESHOT) >>> 0;
/** _IOW('I', 0, __s32) */
const INOTIFY_IOC_SETNEXTWD = 0x40044900;
const FIONREAD = 0x541b;
const O_PATH = 0o10000000,
  O_DIRECTORY = fs.constants.O_DIRECTORY;
/** fh_entry carries the handle in 16 u64 words (CRIU's FH_ENTRY_SIZES__min_entries) */
const FH_WORDS = 16;

/** struct file_handle { u32 handle_bytes; int handle_type; u8 f_handle[] } */
export function fileHandle(bytes: number, type: number, handle: Buffer): Buffer {
  const b = Buffer.alloc(8 + Math.max(bytes, handle.length));
  b.writeUInt32LE(bytes, 0);
  b.writeInt32LE(type, 4);
  handle.copy(b, 8);
  return b;
}

function openByHandle(mountFd: number, fh: Buffer): number {
  return Number(syscall('open_by_handle_at', mountFd, addrOf(fh), O_PATH | O_CLOEXEC));
}

/** Open the inode of a handle through one of `mounts` (those of its device), O_PATH; -1 if none works. */
export function openHandleVia(mounts: MountInfo[], dev: number, fh: Buffer, root: string): number {
  for (const m of mounts) {
    if (((m.major << 20) | m.minor) >>> 0 !== dev) continue;
    let mfd: number;
    // not O_PATH: open_by_handle_at takes no O_PATH fd for its mount
    try {
      mfd = fs.openSync(`${root}${m.mountPoint}`, fs.constants.O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } catch {
      continue;
    }
    try {
      return openByHandle(mfd, fh);
    } catch {
      /* not this mount (another subtree of the fs) */
    } finally {
      fs.closeSync(mfd);
    }
  }
  return -1;
}

/** A path, valid in the task's root, to the inode a watch (or a fanotify mark) is on; undefined if none is found. */
export function watchPath(
  pid: number,
  w: Pick<InotifyWd, 'ino' | 'sdev' | 'fhandleBytes' | 'fhandleType' | 'fhandle'>,
  mounts: MountInfo[],
): string | undefined {
  const fh = fileHandle(w.fhandleBytes!, w.fhandleType!, w.fhandle!);
  const root = `/proc/${pid}/root`;
  for (const m of mounts) {
    if (((m.major << 20) | m.minor) >>> 0 !== w.sdev) continue;
    const fd = openHandleVia([m], w.sdev, fh, root);
    if (fd < 0) continue;
    try {
      const p = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (!p.startsWith('/') || p.endsWith(' (deleted)')) continue;
      const st = fs.statSync(`${root}${p}`, { bigint: true });
      if (st.ino === BigInt(w.ino) && kernelDev(st.dev) === w.sdev) return p;
    } catch {
      /* not reachable by that name */
    } finally {
      close(fd);
    }
  }
  return undefined;
}

export function handleWords(h: Buffer | undefined): bigint[] {
  const b = Buffer.alloc(FH_WORDS * 8);
  h?.copy(b, 0, 0, Math.min(h.length, b.length));
  return Array.from({ length: FH_WORDS }, (_, i) => b.readBigUInt64LE(i * 8));
}

export function dumpInotify(ctx: DumpFdCtx, id: number): FileEntry {
  const fd = ctx.takeFd();
  const pending = Buffer.alloc(4);
  try {
    ioctl(fd, FIONREAD, pending);
    if (pending.readInt32LE(0) > 0) log.warn(`${where(ctx, 'inotify')}: ${pending.readInt32LE(0)} bytes of queued events will be dropped`);
  } catch {
    /* no count: nothing to say */
  }
  const wds = ctx.info.inotify?.wds ?? [];
  const mounts = wds.length ? readMountinfo(ctx.pid) : [];
  const wd: InotifyWdEntry[] = wds.map((w) => {
    if (w.fhandle === undefined || w.fhandleBytes === undefined || w.fhandleType === undefined) {
      throw new NotSupportedError(
        `${where(ctx, 'inotify')}: watch ${w.wd} has no file handle in fdinfo`,
        'the file system of the watched inode cannot make file handles',
      );
    }
    const p = watchPath(ctx.pid, w, mounts);
    if (p === undefined) {
      throw new NotSupportedError(
        `${where(ctx, 'inotify')}: watch ${w.wd} on inode ${w.ino} of device 0x${w.sdev.toString(16)} has no path the tool can find`,
        'the watched file may be unlinked, or on a mount the task cannot see',
      );
    }
    const f_handle: FhEntry = { bytes: w.fhandleBytes, type: w.fhandleType, handle: handleWords(w.fhandle), path: p };
    return { id: 0, i_ino: BigInt(w.ino), mask: w.mask >>> 0, ignored_mask: w.ignoredMask >>> 0, s_dev: w.sdev, wd: w.wd, f_handle };
  });
  const ify: InotifyFileEntry = { id, flags: fileFlags(ctx), fown: dumpFown(ctx, fd, 'inotify'), wd };
  return { type: FdTypes.INOTIFY, id, ify };
}

/** O_PATH fd of a watch's inode: by its path, else by its handle through a mount of the tool. */
function openWatchTarget(who: string, w: InotifyWdEntry): number {
  const fh = w.f_handle;
  if (fh.path) {
    try {
      return fs.openSync(fh.path, O_PATH | O_CLOEXEC);
    } catch (e) {
      throw new FileError(who, `inotify watch ${w.wd}: cannot open ${fh.path}: ${(e as Error).message}`, {
        object: fh.path,
        hint: 'the watched file must exist at the same path',
      });
    }
  }
  const words = fh.handle ?? [];
  const h = Buffer.alloc(words.length * 8);
  words.forEach((v, i) => h.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), i * 8));
  const fd = openHandleVia(readMountinfo(process.pid), w.s_dev, fileHandle(fh.bytes, fh.type, h.subarray(0, fh.bytes)), '');
  if (fd < 0)
    throw new FileError(who, `inotify watch ${w.wd}: no path and the file handle opens on no mount of device 0x${w.s_dev.toString(16)}`, {
      object: `inotify watch ${w.wd}`,
    });
  return fd;
}

function addWatch(ifd: number, target: number, mask: number): number {
  const p = Buffer.from(`/proc/self/fd/${target}\0`);
  return Number(syscall('inotify_add_watch', ifd, addrOf(p), mask));
}

export function openInotify(who: string, ify: InotifyFileEntry): number {
  const fd = Number(syscall('inotify_init1', IN_CLOEXEC | (ify.flags & IN_NONBLOCK)));
  try {
    restoreFileParams(fd, ify.flags, ify.fown);
    let setNext = true;
    for (const w of [...(ify.wd ?? [])].sort((a, b) => a.wd - b.wd)) {
      const target = openWatchTarget(who, w);
      try {
        if (setNext) {
          try {
            ioctl(fd, INOTIFY_IOC_SETNEXTWD, w.wd);
          } catch {
            setNext = false;
          }
        }
        const mask = (Number(w.mask) & WATCH_MASK) >>> 0;
        for (;;) {
          const got = addWatch(fd, target, mask);
          if (got === w.wd) break;
          // without INOTIFY_IOC_SETNEXTWD wds are handed out in turn: skip to the wanted one
          if (setNext || got > w.wd) throw new FileError(who, `inotify watch ${w.wd} came back as wd ${got}`, { object: `inotify watch ${w.wd}` });
          syscall('inotify_rm_watch', fd, got);
        }
      } catch (e) {
        if (e instanceof SysError)
          throw new FileError(who, `inotify watch ${w.wd} on ${w.f_handle.path ?? 'a file handle'}: ${errnoName(e.errno)}`, {
            object: w.f_handle.path ?? `inotify watch ${w.wd}`,
          });
        throw e;
      } finally {
        close(target);
      }
    }
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

export const inotifyKind: FileKind = {
  name: 'inotify',
  type: FdTypes.INOTIFY,
  field: 'ify',
  priority: 410,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'inotify',
  dump: dumpInotify,
  open: (_ctx, e, _s, who) => openInotify(who, partOf(e, 'ify', who)),
};
