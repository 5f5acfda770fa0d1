// Regular files, directories and device nodes opened by path: dump and restore side by side.
import * as fs from 'node:fs';
import { FdTypes, type FileEntry, type RegFileEntry } from '../images/gen/types.js';
import { lseek } from '../sys/libc.js';
import { FileError, partOf, type FileKind } from './kind.js';
import { zeroFown } from './fdparams.js';

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

/** A reg_file_entry for `path` as seen through `statPath` (a /proc/PID/fd/N link, or the path). */
export function dumpReg(id: number, path: string, statPath: string, flags: number, pos: bigint): FileEntry {
  const st = fs.statSync(statPath, { bigint: true });
  const reg: RegFileEntry = { id, flags: flags & ~O.CLOEXEC, pos, fown: zeroFown(), name: path };
  if ((st.mode & 0o170000n) === 0o100000n) {
    reg.size = st.size;
    const id = elfBuildId(statPath);
    if (id) reg.build_id = id;
  }
  reg.mode = Number(st.mode);
  return { type: FdTypes.REG, id, reg };
}

/**
 * The GNU build-id note of an ELF file, as CRIU keeps it to check at restore that an executable
 * is still the same: the note's bytes as little-endian 32-bit words. null for anything else.
 */
export function elfBuildId(file: string): number[] | null {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
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
    fs.closeSync(fd);
  }
}

/** Open the file of a reg_file_entry in the tool, at its position, ready to be sent to a task. */
export function openReg(reg: RegFileEntry, who: string): number {
  const flags = (reg.flags & ~(O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY)) | O.CLOEXEC;
  let fd: number;
  try {
    fd = fs.openSync(reg.name, flags);
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
  if (reg.size !== undefined && (st.mode & 0o170000n) === 0o100000n && st.size !== BigInt(reg.size)) {
    fs.closeSync(fd);
    throw new FileError(who, `${reg.name} has size ${st.size}, the image says ${reg.size}`, { object: reg.name, hint: 'the file changed after the dump' });
  }
  return fd;
}

/** Regular files, directories and devices opened by path (the REG entries without a remap: see ghost.ts). */
export const regKind: FileKind = {
  name: 'reg',
  type: FdTypes.REG,
  field: 'reg',
  priority: 100,
  match: (link) => link.kind === 'path' && !link.deleted,
  dump: (ctx, id) => dumpReg(id, ctx.link.path!, `/proc/${ctx.pid}/fd/${ctx.fd}`, ctx.info.flags, ctx.info.pos),
  dumpPath: (id, path, statPath) => dumpReg(id, path, statPath, 0, 0n),
  open: (_ctx, e, _s, who) => {
    const reg = partOf(e, 'reg', who);
    const fd = openReg(reg, who);
    lseek(fd, BigInt(reg.pos), 0); // O_APPEND writes go to the end, but the offset is still read back
    return fd;
  },
  // CRIU's reg_file_path: the image path without its leading '/'; the caller's file is used as it is
  inheritKey: (_ctx, e) => e.reg?.name.replace(/^\//, ''),
  // a mapped file is opened with the mapping's flags, and may have grown since the dump
  openMapped: (_ctx, e, flags, _s, who) => openReg({ ...partOf(e, 'reg', who), flags, size: undefined }, who),
  // the exe is opened to be set as the task's exe; a cwd or root is used by its path
  openPath: (_ctx, e, use, _s, who) => (use === 'exe' ? openReg({ ...partOf(e, 'reg', who), flags: 0, size: undefined }, who) : -1),
};
