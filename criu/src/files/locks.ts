// File locks (`--file-locks`, CRIU's file-lock.c), dump and restore side by side.
//
// Dump: the locks are read from each fd's fdinfo `lock:` lines (CRIU's path on every kernel
// that has them, kdat.has_fdinfo_lock): the kernel lists there the flock and OFD locks of the
// open file description and the POSIX locks the task (its fd table) holds through it, so the
// fd that shows a lock is its holder. Blocked waiters are never in fdinfo (CRIU skips them
// in /proc/locks too: a frozen task waits for nothing; its interrupted flock()/F_SETLKW is
// restarted once it runs again). As CRIU's discard_dup_locks_tail, an fd whose open file
// description was already dumped adds no flock or OFD lock (it is the same lock); a POSIX
// lock is kept per task (CRIU drops it too, losing a lock a child took on an inherited fd).
// Without --file-locks a held lock is refused, with CRIU's message. A lease (F_SETLEASE,
// `LEASE  ACTIVE  READ|WRITE`) is dumped as CRIU does (flag FL_LEASE, type F_RDLCK/F_WRLCK),
// once per open file description like a flock; a lease being broken (`BREAKING`) as CRIU
// writes it too: LEASE_BREAKING | the type it is being broken to (F_GETLEASE).
//
// Restore: each lock is taken again by the task that held it, on its fd, by injected
// flock(LOCK_NB) / fcntl(F_SETLK / F_OFD_SETLK) once the task's fds are in place; one that
// cannot be taken (another process holds the file now) fails the restore, which kills the
// tree and so drops every lock it took. CRIU blocks there (flock without LOCK_NB, F_SETLKW);
// waiting for another process here would hang the restore, so it fails at once instead. A
// lease is set again by injected fcntl(F_SETLEASE) with the task's fsuid the file's owner, as
// CRIU's setfsuid (asFileOwner: a task in a user namespace has no CAP_LEASE of the host). A lease being broken is set, then broken
// again from the tool without a signal to its holder (restoreBreakingLease).
import type { ExtraImages, RestoreFdCtx, TaskAccess } from './kind.js';
import { treePids } from '../proc/nspid.js';
import { FileError } from './kind.js';
import type { FileLockEntry, FdinfoEntry } from '../images/gen/types.js';
import { CriuError, NotSupportedError } from '../errors.js';
import * as fs from 'node:fs';
import { errnoName, fcntl, fcntlBuf, pidfdOpen, pidfdGetfd, close } from '../sys/libc.js';
import { restoreFown } from './fdparams.js';
import { log } from '../log.js';
import { ids as userIds } from '../proc/idmap.js';

export const FILE_LOCKS_IMG = 'filelocks.img';

/** file_lock_entry.flag (CRIU's FL_*) */
export const FL = { POSIX: 1, FLOCK: 2, OFD: 4, LEASE: 8 } as const;
/** file_lock_entry.type for POSIX/OFD/flock: F_RDLCK, F_WRLCK, F_UNLCK */
export const LT = { READ: 0, WRITE: 1, UNLCK: 2 } as const;

const KIND_OF: Record<string, number> = { POSIX: FL.POSIX, FLOCK: FL.FLOCK, OFDLCK: FL.OFD, LEASE: FL.LEASE };
const TYPE_OF: Record<string, number> = { READ: LT.READ, WRITE: LT.WRITE, UNLCK: LT.UNLCK };
const KIND_NAME: Record<number, string> = { [FL.POSIX]: 'POSIX', [FL.FLOCK]: 'FLOCK', [FL.OFD]: 'OFD', [FL.LEASE]: 'LEASE' };
/** CRIU's LEASE_BREAKING bit of file_lock_entry.type for a lease being broken */
export const LEASE_BREAKING = 4;

/** One lock line of fdinfo or /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF". */
export interface LockLine {
  kind: string;
  mode: string;
  type: string;
  owner: number;
  ino: number;
  start: bigint;
  /** the last byte, or null for EOF */
  end: bigint | null;
  blocked: boolean;
}

const LINE = /^\s*\d+:\s*(->\s*)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s+(\d+)\s+(EOF|\d+)\s*$/;

/** A lock line parsed; null for what CRIU cannot parse either. */
export function parseLockLine(s: string): LockLine | null {
  const m = LINE.exec(s);
  if (!m) return null;
  return {
    blocked: m[1] !== undefined,
    kind: m[2],
    mode: m[3],
    type: m[4],
    owner: Number(m[5]),
    ino: Number(m[6]),
    start: BigInt(m[7]),
    end: m[8] === 'EOF' ? null : BigInt(m[8]),
  };
}

/** "POSIX WRITE lock (bytes 0-99)" / "OFD READ lock (bytes 100-EOF)" / "FLOCK READ lock" (for messages). */
export function describeLock(e: Pick<FileLockEntry, 'flag' | 'type' | 'start' | 'len'>): string {
  const kind = KIND_NAME[e.flag] ?? `flag ${e.flag}`;
  const type = e.type === LT.READ ? 'READ' : e.type === LT.WRITE ? 'WRITE' : `type ${e.type}`;
  if (e.flag === FL.FLOCK) return `${kind} ${type} lock`;
  if (e.flag === FL.LEASE && e.type & LEASE_BREAKING) return `lease being broken (to ${['READ', 'WRITE', 'UNLCK'][e.type & 3] ?? e.type & 3})`;
  if (e.flag === FL.LEASE) return `${type} lease`;
  return `${kind} ${type} lock (bytes ${e.start}-${e.len === 0n ? 'EOF' : e.start + e.len - 1n})`;
}

// ---------------------------------------------------------------- dump

/** Where lock lines were seen: the task, its fd, the fd's file id and whether this fd dumped it first. */
export interface LockSite {
  pid: number;
  fd: number;
  raw: string;
  fileId: number;
  fresh: boolean;
  /** the tool's copy of the fd (pidfd_getfd), closed by the caller */
  takeFd(): number;
}

const seenPosix = new WeakMap<ExtraImages, Set<string>>();

const F_GETLEASE = 1025,
  F_GETOWN_EX = 16,
  F_GETOWNER_UIDS = 17;

/**
 * A lease being broken as CRIU writes it: LEASE_BREAKING | the type it is being broken to
 * (F_GETLEASE on the tool's copy of the description, as CRIU's correct_file_leases_type: F_RDLCK
 * for a write lease a reader broke, F_UNLCK otherwise). The type it had before the break is in no
 * kernel interface; the restore takes it from the file's access mode, as CRIU does.
 */
function breakingType(site: LockSite, who: string): number {
  const target = fcntl(site.takeFd(), F_GETLEASE, 0);
  if (target !== LT.READ && target !== LT.UNLCK)
    throw new CriuError(`${who}: a lease being broken to type ${target} (F_GETLEASE)`, {
      task: site.pid,
      object: `fd ${site.fd}`,
      hint: 'CRIU fails on it too',
    });
  return LEASE_BREAKING | target;
}

/** The fd's lock lines into filelocks.img (through `extra`), or the refusal CRIU makes without --file-locks. */
export function noteLocks(site: LockSite, lines: readonly string[], extra: ExtraImages, handle: boolean): void {
  const who = `task ${site.pid}: fd ${site.fd} (${site.raw})`;
  for (const text of lines) {
    if (!text.trim()) continue; // an owner outside our pid namespace (kernels before 4.19), as CRIU
    const l = parseLockLine(text);
    const kind = l ? KIND_OF[l.kind] : undefined;
    if (!l || kind === undefined || l.type === 'MSNFS')
      throw new CriuError(`${who}: unknown file lock (${text.trim()})`, { task: site.pid, object: `fd ${site.fd}`, hint: 'CRIU fails on it too' });
    if (l.blocked) continue;
    const breaking = kind === FL.LEASE && l.mode === 'BREAKING';
    if (kind === FL.LEASE && l.mode !== 'ACTIVE' && !breaking)
      throw new CriuError(`${who}: unknown lease state ${l.mode} (${text.trim()})`, { task: site.pid, object: `fd ${site.fd}` });
    if (!handle) {
      throw new CriuError(`${who} holds a file lock (${text.trim()}): Some file locks are hold by dumping tasks! You can try --file-locks to dump them.`, {
        task: site.pid,
        object: `fd ${site.fd}`,
        hint: 'dump with --file-locks (and restore with it), or release the lock before the dump',
      });
    }
    // the same open file description again: its flock, OFD locks and lease are dumped already, a
    // POSIX lock once per task (a dup()ed fd shows it too)
    if (!site.fresh && kind !== FL.POSIX) continue;
    let type = TYPE_OF[l.type];
    if (breaking) type = breakingType(site, who);
    else if (type === undefined || (kind === FL.LEASE && type === LT.UNLCK))
      throw new CriuError(`${who}: unknown file lock type ${l.type} (${text.trim()})`, { task: site.pid, object: `fd ${site.fd}` });
    const e: FileLockEntry = { flag: kind, type, pid: treePids.image(site.pid), fd: site.fd, start: l.start, len: l.end === null ? 0n : l.end + 1n - l.start };
    if (kind === FL.POSIX) {
      let seen = seenPosix.get(extra);
      if (!seen) seenPosix.set(extra, (seen = new Set()));
      const key = `${site.pid}/${site.fileId}/${e.type}/${e.start}/${e.len}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    log.info(`${who}: ${describeLock(e)} (file id ${site.fileId})`);
    extra.add('FILE_LOCKS', FILE_LOCKS_IMG, e);
  }
}

// ---------------------------------------------------------------- restore

const LOCK_SH = 1,
  LOCK_EX = 2,
  LOCK_NB = 4;
const F_SETLK = 6,
  F_OFD_SETLK = 37,
  F_SETLEASE = 1024;
const SEEK_SET = 0;

/** struct flock (x86_64, aarch64): l_type, l_whence (short), l_start, l_len (off_t), l_pid. */
export function packFlock(type: number, start: bigint, len: bigint, pid = 0): Buffer {
  const b = Buffer.alloc(32);
  b.writeInt16LE(type, 0);
  b.writeInt16LE(SEEK_SET, 2);
  b.writeBigInt64LE(start, 8);
  b.writeBigInt64LE(len, 16);
  b.writeInt32LE(pid, 24);
  return b;
}

/** The locks of filelocks.img task `pid` held, in the image's order. */
export function locksOf(ctx: RestoreFdCtx, pid: number): FileLockEntry[] {
  return (ctx.image(FILE_LOCKS_IMG, 'FILE_LOCKS') ?? []).map((r) => r.msg).filter((e) => e.pid === pid);
}

/** The file an fd of the task names in files.img, for messages. */
function fileName(ctx: RestoreFdCtx, fdinfo: readonly FdinfoEntry[], fd: number): string {
  const id = fdinfo.find((f) => f.fd === fd)?.id;
  const e = id === undefined ? undefined : ctx.file(id);
  return e?.reg?.name ?? (id === undefined ? 'no such fd in the image' : `file id ${id}`);
}

/** Takes task `pid`'s locks again in the task, on their fds; `handle`: --file-locks was given. */
export function restoreLocks(ctx: RestoreFdCtx, task: TaskAccess, fdinfo: readonly FdinfoEntry[], handle: boolean): void {
  const locks = locksOf(ctx, treePids.image(task.pid)); // the images' pid of the task
  if (!locks.length) return;
  if (!handle) {
    // CRIU's prepare_file_locks reads the image only with the option
    log.warn(`task ${task.pid}: ${locks.length} file lock(s) in ${FILE_LOCKS_IMG} are not taken again without --file-locks (as in CRIU)`);
    return;
  }
  for (const e of locks) {
    const who = `task ${task.pid}: fd ${e.fd}`;
    const what = `${describeLock(e)} on ${fileName(ctx, fdinfo, e.fd)}`;
    if (!fdinfo.some((f) => f.fd === e.fd))
      throw new FileError(who, `the ${what} is on an fd the task does not have`, { object: FILE_LOCKS_IMG, hint: 'the image is damaged' });
    let r: bigint;
    if (e.flag === FL.FLOCK) {
      if (e.type !== LT.READ && e.type !== LT.WRITE) throw new FileError(who, `${what}: unknown flock type ${e.type}`, { object: FILE_LOCKS_IMG });
      r = task.inj.call('flock', e.fd, (e.type === LT.READ ? LOCK_SH : LOCK_EX) | LOCK_NB);
    } else if (e.flag === FL.POSIX || e.flag === FL.OFD) {
      task.inj.write(task.scratch, packFlock(e.type, e.start, e.len));
      r = task.inj.call('fcntl', e.fd, e.flag === FL.POSIX ? F_SETLK : F_OFD_SETLK, task.scratch);
    } else if (e.flag === FL.LEASE && e.type & LEASE_BREAKING) {
      restoreBreakingLease(ctx, task, fdinfo, e, who, what);
      continue;
    } else if (e.flag === FL.LEASE) {
      if (e.type !== LT.READ && e.type !== LT.WRITE) throw new FileError(who, `${what}: unknown lease type ${e.type}`, { object: FILE_LOCKS_IMG });
      r = asFileOwner(task, e.fd, () => task.inj.call('fcntl', e.fd, F_SETLEASE, e.type));
    } else {
      throw new NotSupportedError(`${who}: file lock of unknown flag ${e.flag} in ${FILE_LOCKS_IMG}`, {
        task: task.pid,
        object: `fd ${e.fd}`,
      });
    }
    if (r < 0n) throw cannotTake(e, who, what, Number(-r));
    log.debug(`${who}: ${what} taken again`);
  }
}

/**
 * Run fn (an injected F_SETLEASE) with the task's fsuid the file's owner, as CRIU's
 * set_file_lease: fcntl_setlease wants the owner's fsuid or CAP_LEASE in the host's user
 * namespace, which a task in a user namespace of its own never has (its puppet's fsuid is still
 * the host root, unmapped there, until its creds are restored, which sets the fsuid again).
 */
function asFileOwner(task: TaskAccess, fd: number, fn: () => bigint): bigint {
  const owner = userIds.toNs('uid', fs.statSync(`/proc/${task.pid}/fd/${fd}`).uid);
  const before = task.inj.call('setfsuid', owner);
  try {
    return fn();
  } finally {
    if (!userIds.active()) task.inj.call('setfsuid', Number(before));
  }
}

/** The error of a lock the task cannot take again (errno `errno`). */
function cannotTake(e: FileLockEntry, who: string, what: string, errno: number): FileError {
  const err = errnoName(errno);
  const held = err === 'EAGAIN' || err === 'EWOULDBLOCK' || err === 'EACCES';
  return new FileError(who, `cannot take its ${what} again: ${err}`, {
    object: `fd ${e.fd}`,
    hint:
      e.flag === FL.LEASE && err === 'EAGAIN'
        ? 'another open of that file conflicts with the lease now (a writer for a read lease, any other open for a write lease); close it and restore again'
        : held
          ? 'another process holds a conflicting lock on that file now; stop it (or let it release the lock) and restore again'
          : undefined,
  });
}

const O_ACCMODE = 3,
  O_RDONLY = 0,
  O_WRONLY = 1,
  O_NONBLOCK_ = 0o4000,
  O_CLOEXEC_ = 0o2000000;
const F_SETOWN_EX = 15;

/**
 * A lease being broken (CRIU's restore_breaking_file_lease): set as it was before the break, then
 * broken again by a non-blocking open of the same file from the tool, which fails with
 * EWOULDBLOCK and leaves the lease breaking towards the dumped type (an open for reading
 * downgrades a write lease, one for writing unlocks any lease). Its type before the break is in
 * no image: a write lease when it is being downgraded, else the access mode of the fd says
 * (O_RDONLY: a read lease), as CRIU reads it; a write lease another open of the file in the
 * tree forbids now is set as a read lease, broken to the same end.
 *
 * The holder was told of the break before the dump (its lease signal was delivered, or it is
 * among the dumped pending signals), so the break at restore must not signal it again (CRIU's
 * file_lease02 counts a second signal as a ghost): the owner for SIGIO is taken off the
 * description for the open, which then signals nobody, and put back as it was (restoreFown takes
 * the images' pid: the tool read a host pid). The break time starts again from the restore
 * (lease-break-time), as with CRIU.
 */
function restoreBreakingLease(ctx: RestoreFdCtx, task: TaskAccess, fdinfo: readonly FdinfoEntry[], e: FileLockEntry, who: string, what: string): void {
  const target = e.type & ~LEASE_BREAKING;
  if (target !== LT.READ && target !== LT.UNLCK)
    throw new FileError(who, `${what}: a lease being broken to type ${target}`, { object: FILE_LOCKS_IMG, hint: 'the image is damaged' });
  const id = fdinfo.find((f) => f.fd === e.fd)!.id;
  const flags = ctx.file(id)?.reg?.flags;
  if (flags === undefined)
    throw new NotSupportedError(`${who}: the ${what} is on file id ${id}, which is not a regular file`, { task: task.pid, object: `fd ${e.fd}` });
  const wanted = target === LT.READ || (flags & O_ACCMODE) !== O_RDONLY ? LT.WRITE : LT.READ;
  let r = asFileOwner(task, e.fd, () => task.inj.call('fcntl', e.fd, F_SETLEASE, wanted));
  if (r === -11n /* EAGAIN */ && wanted === LT.WRITE && target === LT.UNLCK)
    r = asFileOwner(task, e.fd, () => task.inj.call('fcntl', e.fd, F_SETLEASE, LT.READ));
  if (r < 0n) throw cannotTake(e, who, what, Number(-r));
  const pidfd = pidfdOpen(task.pid);
  let mine = -1;
  try {
    mine = pidfdGetfd(pidfd, e.fd);
    const owner = Buffer.alloc(8);
    fcntlBuf(mine, F_GETOWN_EX, owner);
    const uids = Buffer.alloc(8);
    if (owner.readInt32LE(4) !== 0) fcntlBuf(mine, F_GETOWNER_UIDS, uids);
    fcntlBuf(mine, F_SETOWN_EX, Buffer.alloc(8));
    let broke: string;
    try {
      const fd = fs.openSync(`/proc/self/fd/${mine}`, (target === LT.READ ? O_RDONLY : O_WRONLY) | O_NONBLOCK_ | O_CLOEXEC_);
      fs.closeSync(fd);
      broke = 'the open that should break it did not conflict with it';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      broke = code === 'EWOULDBLOCK' || code === 'EAGAIN' ? '' : `the open that breaks it failed: ${(err as Error).message}`;
    }
    if (owner.readInt32LE(4) !== 0)
      restoreFown(mine, { pid_type: owner.readInt32LE(0), pid: treePids.image(owner.readInt32LE(4)), uid: uids.readUInt32LE(0), euid: uids.readUInt32LE(4) });
    if (broke) throw new FileError(who, `cannot break its ${what} again: ${broke}`, { object: fileName(ctx, fdinfo, e.fd) });
  } finally {
    if (mine >= 0) close(mine);
    close(pidfd);
  }
  log.debug(`${who}: ${what} set and broken again (set as ${wanted === LT.READ ? 'a read' : 'a write'} lease)`);
}
