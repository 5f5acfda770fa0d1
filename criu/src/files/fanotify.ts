// fanotify groups (CRIU 4.2's fsnotify.c): a fanotify_file_entry with the file's flags, the
// group's init flags (`faflags`, fdinfo's "fanotify flags") and event file flags (`evflags`),
// and each mark as fdinfo shows it: an inode mark (INODE: its inode, device and file handle,
// with the path the handle leads to in the task's root, as inotify.ts finds it) or a mount mark
// (MOUNT: the mount id and its mount point), each with its mflags, mask and ignored mask.
// Filesystem marks (FAN_MARK_FILESYSTEM) have no place in CRIU's image and are refused, and so
// is an inode mark whose inode has no path the tool can find. Events queued and not read are
// dropped with a warning, as CRIU does.
//
// On restore: fanotify_init(faflags, evflags) (FD_CLOEXEC on the tool's copy, the task's fd
// gets its own), then per mark fanotify_mark(FAN_MARK_ADD | mflags [| FAN_MARK_MOUNT], mask) on
// an O_PATH open of the path (the handle through a mount of its device when there is no path),
// and the ignored mask with FAN_MARK_IGNORED_MASK.
import { openInTree } from '../sys/tree-root.js';
import type { FileKind, DumpFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import { syscall, ioctl, close, fcntl, addrOf, SysError, errnoName } from '../sys/libc.js';
import { readMountinfo, type FanotifyMark } from '../proc/index.js';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import { watchPath, handleWords, fileHandle, openHandleVia } from './inotify.js';
import { FdTypes, MarkType, type FileEntry, type FanotifyFileEntry, type FanotifyMarkEntry, type FhEntry } from '../images/gen/types.js';

const FAN_MARK_ADD = 0x1,
  FAN_MARK_MOUNT = 0x10,
  FAN_MARK_IGNORED_MASK = 0x20;
const FIONREAD = 0x541b;
const F_SETFD = 2,
  FD_CLOEXEC = 1;
const O_PATH = 0o10000000;
const AT_FDCWD = -100;

function dumpMark(ctx: DumpFdCtx, m: FanotifyMark, mounts: ReturnType<typeof readMountinfo>, id: number): FanotifyMarkEntry {
  const base = { id, mflags: m.mflags >>> 0, mask: m.mask >>> 0, ignored_mask: m.ignoredMask >>> 0 };
  if (m.kind === 'mount') {
    const mnt = mounts.find((x) => x.mntId === m.mntId);
    if (!mnt) throw new NotSupportedError(`${where(ctx, 'fanotify')}: a mount mark on mount ${m.mntId}, which the task does not see`, { task: ctx.pid });
    return { ...base, type: MarkType.MOUNT, s_dev: ((mnt.major << 20) | mnt.minor) >>> 0, me: { mnt_id: m.mntId!, path: mnt.mountPoint } };
  }
  if (m.kind !== 'inode') {
    throw new NotSupportedError(`${where(ctx, 'fanotify')}: a filesystem mark (FAN_MARK_FILESYSTEM)`, {
      task: ctx.pid,
      hint: "CRIU's image has inode and mount marks only",
    });
  }
  if (m.fhandle === undefined || m.fhandleBytes === undefined || m.fhandleType === undefined)
    throw new NotSupportedError(`${where(ctx, 'fanotify')}: an inode mark on inode ${m.ino} without a file handle in fdinfo`, { task: ctx.pid });
  const p = watchPath(ctx.pid, { ino: m.ino!, sdev: m.sdev!, fhandleBytes: m.fhandleBytes, fhandleType: m.fhandleType, fhandle: m.fhandle }, mounts);
  if (p === undefined) {
    throw new NotSupportedError(`${where(ctx, 'fanotify')}: a mark on inode ${m.ino} of device 0x${m.sdev!.toString(16)} has no path the tool can find`, {
      task: ctx.pid,
      hint: 'the marked file may be unlinked, or on a mount the task cannot see',
    });
  }
  const f_handle: FhEntry = { bytes: m.fhandleBytes, type: m.fhandleType, handle: handleWords(m.fhandle), path: p };
  return { ...base, type: MarkType.INODE, s_dev: m.sdev!, ie: { i_ino: BigInt(m.ino!), f_handle } };
}

export function dumpFanotify(ctx: DumpFdCtx, id: number): FileEntry {
  const fa = ctx.info.fanotify;
  if (!fa) throw new NotSupportedError(`${where(ctx, 'fanotify')}: no "fanotify flags" line in its fdinfo`, { task: ctx.pid });
  const fd = ctx.takeFd();
  const pending = Buffer.alloc(4);
  try {
    ioctl(fd, FIONREAD, pending);
    if (pending.readInt32LE(0) > 0) log.warn(`${where(ctx, 'fanotify')}: ${pending.readInt32LE(0)} bytes of queued events will be dropped`);
  } catch {
    /* no count */
  }
  const mounts = readMountinfo(ctx.pid);
  const mark = fa.marks.map((m) => dumpMark(ctx, m, mounts, id));
  const ffy: FanotifyFileEntry = {
    id,
    flags: fileFlags(ctx),
    fown: dumpFown(ctx, fd, 'fanotify'),
    faflags: fa.flags >>> 0,
    evflags: fa.eventFlags >>> 0,
    mark,
  };
  return { type: FdTypes.FANOTIFY, id, ffy };
}

/** An O_PATH fd of the object a mark is on: its path, else (inode marks) its handle. */
function openMarkTarget(who: string, m: FanotifyMarkEntry): number {
  const p = m.type === MarkType.MOUNT ? m.me?.path : m.ie?.f_handle.path;
  if (p) {
    try {
      return openInTree(p, O_PATH | O_CLOEXEC);
    } catch (e) {
      throw new FileError(who, `fanotify mark on ${p}: ${(e as Error).message}`, {
        object: p,
        hint: 'the marked file or mount point must exist at the same path',
      });
    }
  }
  const fh = m.ie?.f_handle;
  if (!fh) throw new FileError(who, `fanotify mark of type ${m.type} has no path`, { object: `fanotify mark`, hint: 'the image is damaged' });
  const words = fh.handle ?? [];
  const h = Buffer.alloc(words.length * 8);
  words.forEach((v, i) => h.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), i * 8));
  const fd = openHandleVia(readMountinfo(process.pid), m.s_dev, fileHandle(fh.bytes, fh.type, h.subarray(0, fh.bytes)), '');
  if (fd < 0)
    throw new FileError(who, `fanotify mark: no path and the file handle opens on no mount of device 0x${m.s_dev.toString(16)}`, { object: 'fanotify mark' });
  return fd;
}

function addMark(who: string, gfd: number, m: FanotifyMarkEntry): void {
  const target = openMarkTarget(who, m);
  const where_ = Buffer.from(`/proc/self/fd/${target}\0`);
  const flags = FAN_MARK_ADD | Number(m.mflags) | (m.type === MarkType.MOUNT ? FAN_MARK_MOUNT : 0);
  const mark = (f: number, mask: number): void => {
    try {
      syscall('fanotify_mark', gfd, f, mask >>> 0, AT_FDCWD, addrOf(where_));
    } catch (e) {
      const what = m.type === MarkType.MOUNT ? m.me?.path : m.ie?.f_handle.path;
      throw new FileError(
        who,
        `fanotify mark 0x${mask.toString(16)} on ${what ?? 'a file handle'}: ${e instanceof SysError ? errnoName(e.errno) : (e as Error).message}`,
        {
          object: what ?? 'fanotify mark',
        },
      );
    }
  };
  try {
    if (m.mask) mark(flags, Number(m.mask));
    if (m.ignored_mask) mark(flags | FAN_MARK_IGNORED_MASK, Number(m.ignored_mask));
  } finally {
    close(target);
  }
}

export function openFanotify(who: string, ffy: FanotifyFileEntry): number {
  let fd: number;
  try {
    fd = Number(syscall('fanotify_init', ffy.faflags >>> 0, ffy.evflags >>> 0));
  } catch (e) {
    throw new FileError(
      who,
      `fanotify_init(0x${ffy.faflags.toString(16)}, 0x${ffy.evflags.toString(16)}): ${e instanceof SysError ? errnoName(e.errno) : (e as Error).message}`,
      {
        object: `fanotify ${ffy.id}`,
        hint: 'fanotify needs CAP_SYS_ADMIN for most of its flags',
      },
    );
  }
  try {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    for (const m of ffy.mark ?? []) addMark(who, fd, m);
    restoreFileParams(fd, ffy.flags, ffy.fown);
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

export const fanotifyKind: FileKind = {
  name: 'fanotify',
  type: FdTypes.FANOTIFY,
  field: 'ffy',
  priority: 408,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'fanotify',
  dump: dumpFanotify,
  open: (_ctx, e, _s, who) => openFanotify(who, partOf(e, 'ffy', who)),
};
