// signalfd: the signal mask comes from fdinfo ("sigmask:"); on restore the tool makes a signalfd
// with that mask. The signals it reports are the reading task's, so nothing else is kept.
import type { FileKind } from './kind.js';
import { syscall, addrOf } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { FileError, partOf } from './kind.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import { FdTypes, type FileEntry, type SignalfdEntry } from '../images/gen/types.js';

const SFD_CLOEXEC = O_CLOEXEC;

export const signalfdKind: FileKind = {
  name: 'signalfd',
  type: FdTypes.SIGNALFD,
  field: 'sgfd',
  priority: 430,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'signalfd',
  dump: (ctx, id): FileEntry => {
    const sfd = ctx.info.signalfd;
    if (!sfd) throw new NotSupportedError(`${where(ctx, 'signalfd')}: no sigmask in its fdinfo`);
    const sgfd: SignalfdEntry = { id, flags: fileFlags(ctx), fown: dumpFown(ctx, ctx.takeFd(), 'signalfd'), sigmask: sfd.sigmask };
    return { type: FdTypes.SIGNALFD, id, sgfd };
  },
  open: (_ctx, e, _s, who) => {
    const sgfd = partOf(e, 'sgfd', who);
    const mask = Buffer.alloc(8);
    mask.writeBigUInt64LE(BigInt.asUintN(64, BigInt(sgfd.sigmask)));
    let fd: number;
    try {
      fd = Number(syscall('signalfd4', -1, addrOf(mask), 8, SFD_CLOEXEC));
    } catch (err) {
      throw new FileError(who, `cannot create signalfd ${sgfd.id}: ${(err as Error).message}`, { object: `signalfd ${sgfd.id}` });
    }
    restoreFileParams(fd, sgfd.flags, sgfd.fown);
    return fd;
  },
};
