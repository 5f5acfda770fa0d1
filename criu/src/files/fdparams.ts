// What every kind of open file description carries besides its object: the status flags
// (O_NONBLOCK, O_APPEND …) and the owner for SIGIO (fown). Shared by the fd kinds that make
// their object anew on restore (eventfd, epoll, signalfd, timerfd, inotify, memfd, fifo, ghost).
import * as fs from 'node:fs';
import { treePids } from '../proc/nspid.js';
import { fcntl, fcntlBuf, prctl, syscall } from '../sys/libc.js';
import { CriuError } from '../errors.js';
import type { DumpFdCtx } from './kind.js';
import { ids as userIds } from '../proc/idmap.js';

export const O_CLOEXEC = 0o2000000;
export const O_NONBLOCK = fs.constants.O_NONBLOCK;
const FASYNC = 0o20000;
/** The flags F_SETFL can change (the kernel's SETFL_MASK). */
export const SETFL_MASK = fs.constants.O_APPEND | fs.constants.O_NONBLOCK | FASYNC | (fs.constants.O_DIRECT ?? 0) | (fs.constants.O_NOATIME ?? 0);
export const F_GETFL = 3,
  F_SETFL = 4;
const F_SETSIG = 10,
  F_GETSIG = 11,
  F_SETOWN_EX = 15,
  F_GETOWN_EX = 16,
  F_GETOWNER_UIDS = 17;
const PR_SET_DUMPABLE = 4;
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
 * the description, not the fd): the owner for SIGIO/SIGURG (F_SETOWN, F_SETOWN_EX: a thread, a
 * process or a process group, pid 0 when none), the uid and euid of whoever set it (the kernel
 * checks them before it sends the signal) and the signal (F_SETSIG), as CRIU's parasite reads them.
 */
export function dumpFown(_ctx: DumpFdCtx, fd: number, _what: string): Fown {
  const f = zeroFown();
  f.signum = fcntl(fd, F_GETSIG, 0);
  const ex = Buffer.alloc(8);
  fcntlBuf(fd, F_GETOWN_EX, ex);
  f.pid_type = ex.readInt32LE(0);
  f.pid = treePids.image(ex.readInt32LE(4)); // as the tree's root sees it (proc/nspid.ts)
  if (f.pid !== 0) {
    const uids = Buffer.alloc(8);
    fcntlBuf(fd, F_GETOWNER_UIDS, uids);
    // as the task's user namespace sees them (CRIU's parasite reads them in the task)
    f.uid = userIds.toNs('uid', uids.readUInt32LE(0));
    f.euid = userIds.toNs('uid', uids.readUInt32LE(4));
  } else f.pid_type = 0;
  return f;
}

/** Put status flags and the fown back on a file the tool made (CRIU's rst_file_params). */
export function restoreFileParams(fd: number, flags: number, fown?: Partial<Fown>): void {
  const cur = fcntl(fd, F_GETFL, 0);
  const want = (flags & SETFL_MASK) | (cur & ~SETFL_MASK);
  if (want !== cur) fcntl(fd, F_SETFL, want);
  restoreFown(fd, fown);
}

/**
 * The fown alone (CRIU's restore_fown): the signal, then the owner set under the uid and euid that
 * set it at first (the kernel records them with the owner). The tasks exist by then with their
 * PIDs (the tree is forked before the fds are made). setresuid is the raw syscall: it changes only
 * the calling thread's credentials, the tool's main thread, and goes back at once.
 */
export function restoreFown(fd: number, fown?: Partial<Fown>): void {
  if (fown?.signum) fcntl(fd, F_SETSIG, fown.signum);
  if (!fown?.pid) return;
  const ex = Buffer.alloc(8);
  ex.writeInt32LE(fown.pid_type ?? 0, 0);
  ex.writeInt32LE(treePids.host(fown.pid), 4); // set from the tool: its host pid
  const ruid = process.getuid?.() ?? 0,
    euid = process.geteuid?.() ?? 0;
  const uid = userIds.toHost('uid', fown.uid ?? 0),
    ownerEuid = userIds.toHost('uid', fown.euid ?? 0);
  const asOwner = uid !== ruid || ownerEuid !== euid;
  if (asOwner) syscall('setresuid', uid, ownerEuid, -1);
  let err: unknown = null;
  try {
    fcntlBuf(fd, F_SETOWN_EX, ex);
  } catch (e) {
    err = e;
  } finally {
    if (asOwner) {
      syscall('setresuid', ruid, euid, -1);
      prctl(PR_SET_DUMPABLE, 1);
    }
  }
  if (err) {
    throw new CriuError(
      `the owner for SIGIO of a file (${['thread', 'process', 'process group'][fown.pid_type ?? 0] ?? 'type ' + String(fown.pid_type)} ${fown.pid}) cannot be set: ${String(err)}`,
      {
        hint: 'the owner must be a task of the restored tree or still exist; restore on the old PIDs',
      },
    );
  }
}

/** A glibc dev_t (as stat gives it) in the kernel's encoding (major << 20 | minor), as fdinfo prints s_dev and CRIU stores devices. */
export function kernelDev(dev: bigint): number {
  const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
  const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
  return ((major << 20) | minor) >>> 0;
}
