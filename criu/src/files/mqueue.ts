// POSIX message queues (mq_open): files of the mqueue filesystem. CRIU 4.2 knows that
// filesystem only as a mount type (filesystems.c), not the queues of an open fd, and nor do we:
// an fd of one is refused by name rather than dumped as a regular (or deleted) file whose
// contents are the queue's status text.
import * as fs from 'node:fs';
import { NotSupportedError } from '../errors.js';
import { FdTypes } from '../images/gen/types.js';
import { FileError, type FileKind } from './kind.js';

const MQUEUE_MAGIC = 0x19800202;

export const mqueueKind: FileKind = {
  name: 'mqueue',
  // it writes no entry: UND, so that no REG file_entry is ever offered to it
  type: FdTypes.UND,
  field: 'reg',
  priority: 950,
  match(link, _info, at) {
    if (!at || link.kind !== 'path') return false;
    try {
      return fs.statfsSync(`/proc/${at.pid}/fd/${at.fd}`).type === MQUEUE_MAGIC;
    } catch {
      return false;
    }
  },
  dump(ctx) {
    throw new NotSupportedError(`task ${ctx.pid}: fd ${ctx.fd}: a POSIX message queue (${ctx.link.raw})`, {
      task: ctx.pid,
      hint: 'POSIX message queues are not dumped (CRIU 4.2 neither): close it before the dump',
    });
  },
  claims: () => false,
  open(_ctx, e, _s, who) {
    throw new FileError(who, `file ${e.id}: the mqueue kind restores nothing`);
  },
};
