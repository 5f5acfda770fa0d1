// Regular files, directories and device nodes opened by path: dump and restore side by side.
import * as fs from 'node:fs';
import { FdTypes, type FileEntry, type RegFileEntry } from '../images/gen/types.js';
import { lseek, fcntl } from '../sys/libc.js';

const F_DUPFD_CLOEXEC = 1030;
import { FileError, partOf, type FileKind } from './kind.js';
import { zeroFown, dumpFown, restoreFown } from './fdparams.js';
import { devicePos, checkDevice, NO_POS } from './chardev.js';
import { dumpLinkRemap } from './link-remap.js';
import { regDumpOptions, regRestoreOptions } from './reg-opts.js';
import { externalFileKey } from './external-file.js';
import type { DumpFdCtx } from './kind.js';
import { openInTree, statInTree, lstatInTree, treeMountIds } from '../sys/tree-root.js';
import { NotSupportedError } from '../errors.js';
import { statOnce, statfsOnce } from './fd-stat.js';

export const O = {
  ACCMODE: 3,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  TRUNC: 0o1000,
  APPEND: 0o2000,
  LARGEFILE: 0o100000,
  DIRECTORY: 0o200000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
} as const;

/**
 * A reg_file_entry for `path` as seen through `statPath` (a /proc/PID/fd/N link, or the path);
 * `readFd`: the build id is read through this fd (a pidfd_getfd copy) instead of opening
 * `statPath` again, which would break a lease on the file (as CRIU reads it through its copy).
 */
export function dumpReg(id: number, path: string, statPath: string, flags: number, pos: bigint, readFd?: () => number): FileEntry {
  const st = statOnce(statPath);
  const reg: RegFileEntry = { id, flags: flags & ~O.CLOEXEC, pos: devicePos(st, flags, pos), fown: zeroFown(), name: path };
  // CRIU's should_check_size: a write-only append file (a log) may grow, its size is not kept
  const log = (flags & O.ACCMODE) === 1 && (flags & O.APPEND) !== 0;
  if ((st.mode & 0o170000n) === 0o100000n && !log) {
    reg.size = st.size;
    const id = elfBuildId(readFd ? readFd() : statPath);
    if (id) reg.build_id = id;
  }
  reg.mode = Number(st.mode);
  return { type: FdTypes.REG, id, reg };
}

/**
 * The GNU build-id note of an ELF file, as CRIU keeps it to check at restore that an executable
 * is still the same: the note's bytes as little-endian 32-bit words. null for anything else.
 */
export function elfBuildId(file: string | number): number[] | null {
  let fd: number;
  try {
    fd = typeof file === 'number' ? file : fs.openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const eh = Buffer.alloc(64);
    if (fs.readSync(fd, eh, 0, 64, 0) < 52 || eh.readUInt32BE(0) !== 0x7f454c46 || eh[5] !== 1) return null;
    const is64 = eh[4] === 2;
    const phoff = is64 ? Number(eh.readBigUInt64LE(32)) : eh.readUInt32LE(28);
    const phentsize = eh.readUInt16LE(is64 ? 54 : 42),
      phnum = eh.readUInt16LE(is64 ? 56 : 44);
    const ph = Buffer.alloc(phentsize * phnum);
    if (fs.readSync(fd, ph, 0, ph.length, phoff) !== ph.length) return null;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (ph.readUInt32LE(o) !== 4 /* PT_NOTE */) continue;
      const off = is64 ? Number(ph.readBigUInt64LE(o + 8)) : ph.readUInt32LE(o + 4);
      const size = is64 ? Number(ph.readBigUInt64LE(o + 32)) : ph.readUInt32LE(o + 16);
      if (size > 1 << 16) continue;
      const notes = Buffer.alloc(size);
      fs.readSync(fd, notes, 0, size, off);
      for (let n = 0; n + 12 <= size;) {
        const namesz = notes.readUInt32LE(n),
          descsz = notes.readUInt32LE(n + 4),
          type = notes.readUInt32LE(n + 8);
        const name = notes.subarray(n + 12, n + 12 + namesz);
        const desc = n + 12 + ((namesz + 3) & ~3);
        if (type === 3 /* NT_GNU_BUILD_ID */ && name.toString('latin1') === 'GNU\0' && desc + descsz <= size) {
          const id = Buffer.alloc((descsz + 3) & ~3);
          notes.copy(id, 0, desc, desc + descsz);
          return Array.from({ length: id.length / 4 }, (_, k) => id.readUInt32LE(4 * k));
        }
        n = desc + ((descsz + 3) & ~3);
      }
    }
    return null;
  } catch {
    return null;
  } finally {
    if (typeof file !== 'number') fs.closeSync(fd);
  }
}

/** Open the file of a reg_file_entry in the tool, at its position, ready to be sent to a task. */
export function openReg(reg: RegFileEntry, who: string): number {
  const flags = (reg.flags & ~(O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY)) | O.CLOEXEC;
  let fd: number;
  try {
    fd = openInTree(reg.name, flags);
  } catch (e) {
    throw new FileError(who, `cannot open ${reg.name}: ${(e as Error).message}`, {
      object: reg.name,
      hint: 'the file must exist at the same path as at dump time',
    });
  }
  if (reg.build_id?.length) {
    const now = elfBuildId(`/proc/self/fd/${fd}`);
    if (!now || now.join() !== reg.build_id.join()) {
      fs.closeSync(fd);
      throw new FileError(who, `${reg.name} has another ELF build-id than at dump time`, {
        object: reg.name,
        hint: 'the executable or library was replaced after the dump',
      });
    }
  }
  const st = fs.fstatSync(fd, { bigint: true });
  // CRIU's open_path checks the mode (without the rwx bits with --skip-file-rwx-check); a device: its rdev too
  if (reg.mode !== undefined) {
    const mask = regRestoreOptions().skipFileRwxCheck ? ~0o777 : ~0;
    if ((Number(st.mode) & mask) !== (reg.mode & mask)) {
      fs.closeSync(fd);
      const sameType = (Number(st.mode) & 0o170000) === (reg.mode & 0o170000);
      throw new FileError(who, `File ${reg.name} has bad mode 0${st.mode.toString(8)} (expect 0${reg.mode.toString(8)})`, {
        object: reg.name,
        hint: sameType ? 'File r/w/x checks can be skipped with the --skip-file-rwx-check option' : 'another kind of file has that name now',
      });
    }
  }
  try {
    checkDevice(reg.name, reg.mode, st, who);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  if (reg.size !== undefined && (st.mode & 0o170000n) === 0o100000n && st.size !== BigInt(reg.size)) {
    fs.closeSync(fd);
    throw new FileError(who, `${reg.name} has size ${st.size}, the image says ${reg.size}`, { object: reg.name, hint: 'the file changed after the dump' });
  }
  return fd;
}

const PROC_SUPER_MAGIC = 0x9fa0,
  DEVPTS_SUPER_MAGIC = 0x1cd1;

/**
 * An fd on a file by a name it still has (CRIU's dump_one_reg_file): an `--external file[…]`
 * one is recorded by its key; otherwise the name must still lead to the file (check_path_remap):
 * gone, it is link-remapped (--link-remap); another file there is refused, unless it is a device
 * node of the same rdev and --evasive-devices is given.
 */
function dumpRegFd(ctx: DumpFdCtx, id: number): FileEntry {
  const statPath = `/proc/${ctx.pid}/fd/${ctx.fd}`;
  const who = `task ${ctx.pid}: fd ${ctx.fd} (${ctx.link.raw})`;
  const p = ctx.link.path!;
  const st = statOnce(statPath);
  const o = regDumpOptions();
  const key = externalFileKey(ctx.info.mntId, st.ino);
  if (o.externalFiles.has(key)) {
    const e = dumpReg(id, key, statPath, ctx.info.flags, ctx.info.pos);
    e.reg!.ext = true;
    return e;
  }
  let magic = 0;
  try {
    magic = Number(statfsOnce(statPath).type);
  } catch {
    /* the kernel answers for /proc/PID/fd */
  }
  if (magic !== PROC_SUPER_MAGIC && magic !== DEVPTS_SUPER_MAGIC && p.startsWith('/')) {
    let now: fs.BigIntStats | undefined;
    try {
      now = lstatInTree(p);
      if (now.isSymbolicLink() && !st.isSymbolicLink()) now = statInTree(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!now) {
      // not in the tree's view at all: opened outside the tree's mount namespace, not unlinked
      const inNs = treeMountIds();
      if (inNs && !inNs.has(ctx.info.mntId))
        throw new NotSupportedError(`${who}: a file on mount ${ctx.info.mntId}, which is not in the tree's mount namespace`, {
          task: ctx.pid,
          object: p,
          hint: `a file opened outside the tree's mount namespace (a container's stdio, say) is dumped as external with --external ${key}, and given at the restore with --inherit-fd fd[N]:${key}`,
        });
      // still linked, but not by this name: a link remap
      const e = dumpReg(id, p, statPath, ctx.info.flags, ctx.info.pos);
      dumpLinkRemap(ctx, who, id, p, ctx.takeFd());
      return e;
    }
    if (now.ino !== st.ino || now.dev !== st.dev) {
      const device = st.isCharacterDevice() || st.isBlockDevice();
      if (!(o.evasiveDevices && device && now.rdev === st.rdev)) {
        throw new FileError(who, `Unaccessible path opened ${st.dev}:${st.ino}, need ${now.dev}:${now.ino}: ${p} is another file now`, {
          object: p,
          hint: device
            ? '--evasive-devices takes the device node now at that path when it has the same rdev'
            : 'something is mounted over it or it was replaced; the fd cannot be reopened by its name',
        });
      }
    }
  }
  // a leased file is not opened again (that would break the lease): read through the fd's copy
  const leased = ctx.info.locks.some((l) => /^\s*\d+:\s*LEASE\s/.test(l));
  const e = dumpReg(id, p, statPath, ctx.info.flags, ctx.info.pos, leased ? ctx.takeFd : undefined);
  // a lease's holder is signalled through the owner and signal (F_SETSIG) of its description
  if (leased) e.reg!.fown = dumpFown(ctx, ctx.takeFd(), 'leased file');
  return e;
}
/** Regular files, directories and devices opened by path (the REG entries without a remap: see ghost.ts). */
export const regKind: FileKind = {
  name: 'reg',
  type: FdTypes.REG,
  field: 'reg',
  priority: 100,
  match: (link) => link.kind === 'path' && !link.deleted,
  dump: dumpRegFd,
  dumpPath: (id, path, statPath) => dumpReg(id, path, statPath, 0, 0n),
  open: (_ctx, e, _s, who) => {
    const reg = partOf(e, 'reg', who);
    if (reg.ext) {
      throw new FileError(who, `${reg.name} was dumped as external (--external ${reg.name}) and no --inherit-fd gives it`, {
        object: reg.name,
        hint: `pass the file with --inherit-fd fd[N]:${reg.name}`,
      });
    }
    const fd = openReg(reg, who);
    if (reg.fown.pid || reg.fown.signum) restoreFown(fd, reg.fown);
    // O_APPEND writes go to the end, but the offset is still read back; -1: kmsg's, left alone
    if (BigInt(reg.pos) !== NO_POS) lseek(fd, BigInt(reg.pos), 0);
    return fd;
  },
  // CRIU's reg_file_path: the image path without its leading '/' (an external file: its key,
  // file[MNT_ID:INODE]); the caller's file is used as it is
  inheritKey: (_ctx, e) => (e.reg?.ext ? e.reg.name : e.reg?.name.replace(/^\//, '')),
  openInherited: (_ctx, e, fd, who) => {
    const reg = partOf(e, 'reg', who);
    // a file given for its path is used as it is (CRIU's inherited_fd); an external one is
    // reopened through /proc/self/fd with the image's flags and position (CRIU's open_path)
    if (!reg.ext) return fcntl(fd, F_DUPFD_CLOEXEC, 0);
    const mine = openReg({ ...reg, name: `/proc/self/fd/${fd}`, build_id: reg.build_id }, who);
    if (BigInt(reg.pos) !== NO_POS) lseek(mine, BigInt(reg.pos), 0);
    return mine;
  },
  // a mapped file is opened with the mapping's flags, and may have grown since the dump
  openMapped: (_ctx, e, flags, _s, who) => openReg({ ...partOf(e, 'reg', who), flags, size: undefined }, who),
  // the exe is opened to be set as the task's exe; a cwd or root is used by its path
  openPath: (_ctx, e, use, _s, who) => (use === 'exe' ? openReg({ ...partOf(e, 'reg', who), flags: 0, size: undefined }, who) : -1),
};
