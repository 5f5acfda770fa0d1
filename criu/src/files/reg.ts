// Regular files, directories and device nodes opened by path: dump and restore side by side.
import * as fs from 'node:fs';
import { FD_TYPES, type FileEntry } from './table.js';
import { CriuError } from '../errors.js';
import { lseek } from '../sys/libc.js';
import type { FileKind } from './kind.js';

export const O = { ACCMODE: 3, RDWR: 2, CREAT: 0o100, EXCL: 0o200, NOCTTY: 0o400, TRUNC: 0o1000, APPEND: 0o2000, LARGEFILE: 0o100000, DIRECTORY: 0o200000, CLOEXEC: 0o2000000, PATH: 0o10000000 } as const;

export interface RegFileEntry {
  id: number; flags: number; pos: bigint; fown: { uid: number; euid: number; signum: number; pid_type: number; pid: number };
  name: string; size?: bigint; mode?: number; mnt_id?: number; ext?: boolean; build_id?: number[];
}

const zeroFown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };

/** A reg_file_entry for `path` as seen through `statPath` (a /proc/PID/fd/N link, or the path). */
export function dumpReg(id: number, path: string, statPath: string, flags: number, pos: bigint): FileEntry {
  const st = fs.statSync(statPath, { bigint: true });
  const reg: RegFileEntry = { id, flags: flags & ~O.CLOEXEC, pos, fown: { ...zeroFown }, name: path };
  if ((st.mode & 0o170000n) === 0o100000n) reg.size = st.size;
  reg.mode = Number(st.mode);
  return { type: FD_TYPES.REG, id, reg };
}

/** Open the file of a reg_file_entry in the tool, at its position, ready to be sent to a task. */
export function openReg(reg: RegFileEntry, who: string): number {
  const flags = reg.flags & ~(O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY) | O.CLOEXEC;
  let fd: number;
  try {
    fd = fs.openSync(reg.name, flags);
  } catch (e) {
    throw new CriuError(`${who}: cannot open ${reg.name}: ${(e as Error).message}`, 'the file must exist at the same path as at dump time');
  }
  const st = fs.fstatSync(fd, { bigint: true });
  if (reg.size !== undefined && (st.mode & 0o170000n) === 0o100000n && st.size !== BigInt(reg.size)) {
    fs.closeSync(fd);
    throw new CriuError(`${who}: ${reg.name} has size ${st.size}, the image says ${reg.size}`, 'the file changed after the dump');
  }
  return fd;
}

/** Regular files, directories and devices opened by path. */
export const regKind: FileKind = {
  name: 'reg',
  type: FD_TYPES.REG,
  field: 'reg',
  match: (link) => link.kind === 'path' && !link.deleted,
  dump: (ctx, id) => dumpReg(id, ctx.link.path!, `/proc/${ctx.pid}/fd/${ctx.fd}`, ctx.info.flags, ctx.info.pos),
  open: (ctx, e) => {
    const reg = e.reg as RegFileEntry;
    const fd = openReg(reg, ctx.who);
    lseek(fd, BigInt(reg.pos), 0); // O_APPEND writes go to the end, but the offset is still read back
    return fd;
  },
};
