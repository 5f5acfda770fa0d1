// The dump's side of the fd kinds: each fd of a task, read from /proc, claimed by its kind and
// given the id of its open file description (shared ones found by kcmp). Terminals are tty.ts's.
import * as fs from 'node:fs';
import type { FileTable } from './table.js';
import type { DumpFdCtx, ExtraImages } from './kind.js';
import { kindFor } from './registry.js';
import { noteLocks } from './locks.js';
import { refuseDevice } from './chardev.js';
import { listFds, readFdLink, readFdinfo } from '../proc/index.js';
import { pidfdOpen, pidfdGetfd, close } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import type { FdinfoEntry } from '../images/gen/types.js';
import { log } from '../log.js';
import { fdStatScope, statOnce } from './fd-stat.js';

/** Devices no kind restores right (tun, block and other devices without a handler: chardev.ts); terminals are tty.ts's. */
function refuseUnhandled(pid: number, fd: number, raw: string): void {
  if (!raw.startsWith('/')) return;
  let st: fs.BigIntStats;
  try {
    st = statOnce(`/proc/${pid}/fd/${fd}`);
  } catch {
    return;
  }
  refuseDevice(pid, fd, raw, st);
}

/**
 * The fdinfo entries of task `pid`, its new file descriptions added to `files`, the locks held
 * through its fds to filelocks.img (`fileLocks`: --file-locks; without it a lock is refused).
 */
export function dumpFds(
  pid: number,
  files: FileTable,
  extra: ExtraImages,
  ghostLimit: number,
  allocPagesId: () => number,
  inet?: DumpFdCtx['inet'],
  fileLocks = false,
): FdinfoEntry[] {
  const out: FdinfoEntry[] = [];
  let pidfd = -1;
  const taken: number[] = [];
  try {
    for (const fd of listFds(pid)) {
      fdStatScope(pid, fd);
      const link = readFdLink(pid, fd);
      const info = readFdinfo(pid, fd);
      const cloexec = (info.flags & 0o2000000) !== 0 ? 1 : 0;
      const kind = kindFor(link, info, { pid, fd });
      if (!kind) throw new NotSupportedError(`task ${pid}: fd ${fd} (${link.raw})`, { task: pid, object: `fd ${fd}` });
      refuseUnhandled(pid, fd, link.raw);
      let id = files.sameAs(pid, fd, info.ino);
      const fresh = id === undefined;
      const takeFd = (): number => {
        if (pidfd < 0) pidfd = pidfdOpen(pid);
        const mine = pidfdGetfd(pidfd, fd);
        taken.push(mine);
        return mine;
      };
      if (id === undefined) {
        id = files.allocId();
        const ctx: DumpFdCtx = {
          pid,
          fd,
          link,
          info,
          files,
          extra,
          ghostLimit,
          allocPagesId,
          inet,
          takeFd,
        };
        files.add(kind.dump(ctx, id));
        files.noteFd(pid, fd, info.ino, id);
        log.debug(`task ${pid}: fd ${fd} (${link.raw}) -> ${kind.name} file id ${id}`);
      }
      if (info.locks.length) noteLocks({ pid, fd, raw: link.raw, fileId: id, fresh, takeFd }, info.locks, extra, fileLocks);
      out.push({ id, flags: cloexec, type: kind.type, fd });
    }
  } finally {
    fdStatScope();
    for (const f of taken) close(f);
    if (pidfd >= 0) close(pidfd);
  }
  return out;
}
