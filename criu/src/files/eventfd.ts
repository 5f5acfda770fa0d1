// eventfd: the counter and the status flags come from fdinfo; on restore the tool makes a new
// eventfd with that counter and sends it to the task.
//
// Semaphore mode (EFD_SEMAPHORE) is not a status flag and CRIU 4.2 has no field for it (it loses
// it). We keep it in bit 0 of `flags`, the O_WRONLY bit, which an eventfd never has (its access
// mode is always O_RDWR): CRIU ignores that bit on restore (only SETFL_MASK bits reach F_SETFL),
// so the image stays restorable by CRIU. The kernel shows the mode since 6.6
// ("eventfd-semaphore:"); on older kernels it cannot be seen and is lost, as with CRIU.
import type { FileKind } from './kind.js';
import { syscall, writeFd } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { FileError, partOf } from './kind.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import { FdTypes, type FileEntry, type EventfdFileEntry } from '../images/gen/types.js';

export const EFD_SEMAPHORE = 1;
const O_ACCMODE = 3;

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
    if (ev.semaphore) flags |= EFD_SEMAPHORE;
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
    if (init !== count) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(count);
      writeFd(fd, b);
    }
    restoreFileParams(fd, efd.flags, efd.fown);
    return fd;
  },
};
