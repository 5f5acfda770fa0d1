// signalfd: the signal mask comes from fdinfo ("sigmask:"); on restore the tool makes a signalfd
// with that mask. The signals it reports are the reading task's, so nothing else is kept.
import { FD_TYPES, type FileEntry } from './table.js';
import type { FileKind } from './kind.js';
import { syscall, addrOf } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import type { SignalfdEntry } from '../images/index.js';

const SFD_CLOEXEC = O_CLOEXEC;

export const signalfdKind: FileKind = {
  name: 'signalfd',
  type: FD_TYPES.SIGNALFD,
  field: 'sgfd',
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'signalfd',
  dump: (ctx, id): FileEntry => {
    const sfd = ctx.info.signalfd;
    if (!sfd) throw new NotSupportedError(`${where(ctx, 'signalfd')}: no sigmask in its fdinfo`);
    const sgfd: SignalfdEntry = { id, flags: fileFlags(ctx), fown: dumpFown(ctx, ctx.takeFd(), 'signalfd'), sigmask: sfd.sigmask };
    return { type: FD_TYPES.SIGNALFD, id, sgfd };
  },
  open: (ctx, e) => {
    const sgfd = e.sgfd as SignalfdEntry;
    const mask = Buffer.alloc(8);
    mask.writeBigUInt64LE(BigInt.asUintN(64, BigInt(sgfd.sigmask)));
    let fd: number;
    try {
      fd = Number(syscall('signalfd4', -1, addrOf(mask), 8, SFD_CLOEXEC));
    } catch (err) {
      throw new CriuError(`${ctx.who}: cannot create signalfd ${sgfd.id}: ${(err as Error).message}`);
    }
    restoreFileParams(fd, sgfd.flags, sgfd.fown);
    return fd;
  },
};
