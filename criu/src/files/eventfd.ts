// eventfd: the counter and the status flags come from fdinfo; on restore the tool makes a new
// eventfd with that counter and sends it to the task.
//
// Semaphore mode (EFD_SEMAPHORE) is not a status flag and CRIU 4.2 has no field for it (it loses
// it). We keep it in bit 0 of `flags`, the O_WRONLY bit, which an eventfd never has (its access
// mode is always O_RDWR): CRIU ignores that bit on restore (only SETFL_MASK bits reach F_SETFL),
// so the image stays restorable by CRIU. The kernel shows the mode since 6.6
// ("eventfd-semaphore:"); on older kernels (which CRIU reads as "not a semaphore", losing it) the
// dump asks the eventfd itself (semaphoreByProbe): a read gives 1 in semaphore mode, the whole
// counter otherwise, and the counter is put back as it was.
import type { FileKind } from './kind.js';
import { syscall, writeFd, readFd, fcntl } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { FileError, partOf } from './kind.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC, O_NONBLOCK, F_GETFL, F_SETFL } from './fdparams.js';
import { FdTypes, type FileEntry, type EventfdFileEntry } from '../images/gen/types.js';

export const EFD_SEMAPHORE = 1;
const O_ACCMODE = 3;

const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

/**
 * Semaphore mode where fdinfo does not show it: add to the counter (2 on an empty one), read
 * once (1 in semaphore mode, the whole counter otherwise), then put the counter back as it was.
 * The tree is frozen; the open file is the task's, its O_NONBLOCK set meanwhile.
 */
export function semaphoreByProbe(fd: number, count: bigint, who: string): boolean {
  const add = count === 0n ? 2n : 1n;
  if (count + add > 0xfffffffffffffffen)
    throw new NotSupportedError(`${who}: an eventfd counter at its maximum, on a kernel whose fdinfo does not show EFD_SEMAPHORE (before 6.6)`);
  const fl = fcntl(fd, F_GETFL, 0);
  if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  try {
    writeFd(fd, u64(add));
    const b = Buffer.alloc(8);
    readFd(fd, b);
    const got = b.readBigUInt64LE(0);
    const semaphore = got === 1n;
    if (semaphore && add === 2n) readFd(fd, b);
    if (!semaphore && count > 0n) writeFd(fd, u64(count));
    return semaphore;
  } finally {
    if (!(fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl);
  }
}

export const eventfdKind: FileKind = {
  name: 'eventfd',
  type: FdTypes.EVENTFD,
  field: 'efd',
  priority: 450,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'eventfd',
  dump: (ctx, id): FileEntry => {
    const ev = ctx.info.eventfd;
    if (!ev) throw new NotSupportedError(`${where(ctx, 'eventfd')}: no eventfd-count in its fdinfo`);
    let flags = fileFlags(ctx);
    if ((flags & O_ACCMODE) !== 2) throw new NotSupportedError(`${where(ctx, 'eventfd')}: access mode ${flags & O_ACCMODE} is not O_RDWR`);
    if (ev.semaphore ?? semaphoreByProbe(ctx.takeFd(), ev.count, where(ctx, 'eventfd'))) flags |= EFD_SEMAPHORE;
    const efd: EventfdFileEntry = { id, flags, fown: dumpFown(ctx, ctx.takeFd(), 'eventfd'), counter: ev.count };
    return { type: FdTypes.EVENTFD, id, efd };
  },
  open: (_ctx, e, _s, who) => {
    const efd = partOf(e, 'efd', who);
    // eventfd2 takes an unsigned int: a larger counter is written after creation
    const count = BigInt(efd.counter);
    const init = count <= 0xffffffffn ? count : 0n;
    let fd: number;
    try {
      fd = Number(syscall('eventfd2', init, O_CLOEXEC | (efd.flags & EFD_SEMAPHORE)));
    } catch (err) {
      throw new FileError(who, `cannot create eventfd ${efd.id}: ${(err as Error).message}`, { object: `eventfd ${efd.id}` });
    }
    if (init !== count) writeFd(fd, u64(count));
    restoreFileParams(fd, efd.flags, efd.fown);
    return fd;
  },
};
