// Character devices held as fds (CRIU's files.c dump_chrdev): the memory devices (major 1:
// /dev/null, zero, full, random, urandom, kmsg …) and autofs' misc device are regular files of
// the images, reopened by path (reg.ts); a tun fd (misc 10:200) and every other device without a
// handler are refused by name. Terminals (majors 4, 5, 136-143) are tty.ts's and left alone here.
// At restore, a device reopened under one of the memory devices' names must be that device
// (its st_rdev): reg_file_entry has no rdev, so the name tells which one it was.
import type * as fs from 'node:fs';
import { NotSupportedError } from '../errors.js';
import { FileError } from './kind.js';

export const MEM_MAJOR = 1;
export const MISC_MAJOR = 10;
export const TUN_MINOR = 200;
export const AUTOFS_MINOR = 235;
export const KMSG_MINOR = 11;

/** glibc's major()/minor() of a userspace dev_t */
export const major = (rdev: bigint): number => Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
export const minor = (rdev: bigint): number => Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));

/** tty majors: 4 (virtual consoles, serial), 5 (/dev/tty, /dev/console, /dev/ptmx), 136-143 (/dev/pts/N) */
export const isTtyMajor = (maj: number): boolean => maj === 4 || maj === 5 || (maj >= 136 && maj <= 143);

/** The memory devices' usual names and minors (drivers/char/mem.c). */
const MEM_DEVICES: Readonly<Record<string, number>> = {
  '/dev/mem': 1,
  '/dev/kmem': 2,
  '/dev/null': 3,
  '/dev/port': 4,
  '/dev/zero': 5,
  '/dev/full': 7,
  '/dev/random': 8,
  '/dev/urandom': 9,
  '/dev/kmsg': 11,
};

/**
 * Refuses a device fd that no kind handles (called for every fd before its kind dumps it):
 * tun, other character devices than memory and autofs ones, block devices. Terminals pass.
 */
export function refuseDevice(pid: number, fd: number, raw: string, st: fs.BigIntStats): void {
  const what = `task ${pid}: fd ${fd} (${raw})`;
  if (st.isBlockDevice()) {
    throw new NotSupportedError(`${what}: block device ${major(st.rdev)}:${minor(st.rdev)}`, { task: pid, object: `fd ${fd}` });
  }
  if (!st.isCharacterDevice()) return;
  const maj = major(st.rdev),
    min = minor(st.rdev);
  if (maj === MEM_MAJOR || isTtyMajor(maj)) return;
  if (maj === MISC_MAJOR && min === TUN_MINOR) return; // files/tun.ts
  if (maj === MISC_MAJOR && min === AUTOFS_MINOR) return;
  throw new NotSupportedError(`${what}: character device ${maj}:${min}`, {
    task: pid,
    object: `fd ${fd}`,
    hint: 'only the memory devices (/dev/null, zero, full, random, urandom, kmsg …) are reopened by path',
  });
}

/** CRIU's kmsg rule: a write-only /dev/kmsg at 0 gets position -1, not set again at restore. */
export const NO_POS = 0xffffffffffffffffn;
export function devicePos(st: fs.BigIntStats, flags: number, pos: bigint): bigint {
  if (st.isCharacterDevice() && major(st.rdev) === MEM_MAJOR && minor(st.rdev) === KMSG_MINOR && (flags & 3) === 1 && pos === 0n) return NO_POS;
  return pos;
}

/** At restore: a device reopened under a memory device's name must be that device. */
export function checkDevice(name: string, mode: number | undefined, st: fs.BigIntStats, who: string): void {
  if (mode === undefined || (mode & 0o170000) !== 0o020000) return;
  const want = MEM_DEVICES[name];
  if (want === undefined) return;
  if (!st.isCharacterDevice() || major(st.rdev) !== MEM_MAJOR || minor(st.rdev) !== want) {
    const now = st.isCharacterDevice() ? `character device ${major(st.rdev)}:${minor(st.rdev)}` : `not a character device (mode 0${st.mode.toString(8)})`;
    throw new FileError(who, `${name} is ${now}, it was ${MEM_MAJOR}:${want}`, {
      object: name,
      hint: `make ${name} the memory device again (mknod ${name} c ${MEM_MAJOR} ${want})`,
    });
  }
}
