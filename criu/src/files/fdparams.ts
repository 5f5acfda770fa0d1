// What every kind of open file description carries besides its object: the status flags
// (O_NONBLOCK, O_APPEND …) and the owner for SIGIO (fown). Shared by the fd kinds that make
// their object anew on restore (eventfd, epoll, signalfd, timerfd, inotify, memfd, fifo, ghost).
import * as fs from 'node:fs';
import { fcntl } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import type { DumpFdCtx } from './kind.js';

export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = fs.constants.O_NONBLOCK;
const FASYNC = 0o20000;
/** The flags F_SETFL can change (the kernel's SETFL_MASK). */
export const SETFL_MASK = fs.constants.O_APPEND | fs.constants.O_NONBLOCK | FASYNC | (fs.constants.O_DIRECT ?? 0) | (fs.constants.O_NOATIME ?? 0);
const F_GETFL = 3,
  F_SETFL = 4,
  F_GETOWN = 9,
  F_SETSIG = 10,
  F_GETSIG = 11;
export const F_DUPFD_CLOEXEC = 1030;

export interface Fown {
  uid: number;
  euid: number;
  signum: number;
  pid_type: number;
  pid: number;
}
export const zeroFown = (): Fown => ({ uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 });

/** The status flags of a file as CRIU stores them: the fdinfo flags without O_CLOEXEC (an fd flag). */
export const fileFlags = (ctx: DumpFdCtx): number => ctx.info.flags & ~O_CLOEXEC;

/** "task P fd N (what)" for messages. */
export const where = (ctx: DumpFdCtx, what: string): string => `task ${ctx.pid} fd ${ctx.fd} (${what})`;

/**
 * The fown_entry of a file description, read on the tool's copy of it (owner and signal belong to
 * the description, not the fd). An owner (F_SETOWN) names a task or group that may not exist yet
 * when the file is made again: refused for now.
 */
export function dumpFown(ctx: DumpFdCtx, fd: number, what: string): Fown {
  const owner = fcntl(fd, F_GETOWN, 0);
  if (owner !== 0) {
    throw new NotSupportedError(
      `${where(ctx, what)}: the file has an owner for SIGIO (F_SETOWN ${owner})`,
      'a task that asked for SIGIO/SIGURG on this file cannot be checkpointed yet',
    );
  }
  const f = zeroFown();
  f.signum = fcntl(fd, F_GETSIG, 0);
  return f;
}

/** Put status flags and the fown signal back on a file the tool made (CRIU's rst_file_params). */
export function restoreFileParams(fd: number, flags: number, fown?: Partial<Fown>): void {
  const cur = fcntl(fd, F_GETFL, 0);
  const want = (flags & SETFL_MASK) | (cur & ~SETFL_MASK);
  if (want !== cur) fcntl(fd, F_SETFL, want);
  if (fown?.signum) fcntl(fd, F_SETSIG, fown.signum);
}

/** Only the fown signal (CRIU's restore_fown): for a file whose status flags its maker chose (a plugin's). */
export function restoreFown(fd: number, fown?: Partial<Fown>): void {
  if (fown?.signum) fcntl(fd, F_SETSIG, fown.signum);
}

/** A glibc dev_t (as stat gives it) in the kernel's encoding (major << 20 | minor), as fdinfo prints s_dev and CRIU stores devices. */
export function kernelDev(dev: bigint): number {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return ((major << 20) | minor) >>> 0;
}
