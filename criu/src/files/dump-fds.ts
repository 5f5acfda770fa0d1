// The dump's side of the fd kinds: each fd of a task, read from /proc, claimed by its kind and
// given the id of its open file description (shared ones found by kcmp).
import * as fs from 'node:fs';
import type { FileTable } from './table.js';
import type { DumpFdCtx, ExtraImages } from './kind.js';
import { kindFor } from './registry.js';
import { listFds, readFdLink, readFdinfo } from '../proc/index.js';
import { pidfdOpen, pidfdGetfd, close } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import type { FdinfoEntry } from '../images/gen/types.js';
import { log } from '../log.js';

/** tty majors: 4 (virtual consoles, serial), 5 (/dev/tty, /dev/console, /dev/ptmx), 136-143 (/dev/pts/N) */
const isTtyMajor = (major: number): boolean => major === 4 || major === 5 || (major >= 136 && major <= 143);

/**
 * What every kind would otherwise take wrong: a file lock held through the fd (CRIU refuses it
 * without --file-locks: it would be lost) and a terminal (its path opened again is another
 * pty, without its termios, session or queued input).
 */
function refuseUnhandled(pid: number, fd: number, raw: string, locks: string[]): void {
  if (locks.length) {
    throw new NotSupportedError(`task ${pid}: fd ${fd} (${raw}) holds a file lock (${locks[0].trim()})`, {
      task: pid,
      object: `fd ${fd}`,
      hint: 'CRIU dumps file locks only with --file-locks, which is not supported yet; release the lock before the dump',
    });
  }
  if (!raw.startsWith('/')) return;
  let st: fs.BigIntStats;
  try {
    st = fs.statSync(`/proc/${pid}/fd/${fd}`, { bigint: true });
  } catch {
    return;
  }
  if (st.isCharacterDevice() && isTtyMajor(Number(st.rdev >> 8n) & 0xfff)) {
    throw new NotSupportedError(`task ${pid}: fd ${fd} (${raw}): a terminal`, {
      task: pid,
      object: `fd ${fd}`,
      hint: 'terminals and shell jobs (-j/--shell-job) are not supported yet; start the program with its stdio on files, pipes or /dev/null',
    });
  }
}

/** The fdinfo entries of task `pid`, its new file descriptions added to `files`. */
export function dumpFds(
  pid: number,
  files: FileTable,
  extra: ExtraImages,
  ghostLimit: number,
  allocPagesId: () => number,
  inet?: DumpFdCtx['inet'],
): FdinfoEntry[] {
  const out: FdinfoEntry[] = [];
  let pidfd = -1;
  const taken: number[] = [];
  try {
    for (const fd of listFds(pid)) {
      const link = readFdLink(pid, fd);
      const info = readFdinfo(pid, fd);
      const cloexec = (info.flags & 0o2000000) !== 0 ? 1 : 0;
      const kind = kindFor(link, info, { pid, fd });
      if (!kind) throw new NotSupportedError(`task ${pid}: fd ${fd} (${link.raw})`, { task: pid, object: `fd ${fd}` });
      refuseUnhandled(pid, fd, link.raw, info.locks);
      let id = files.sameAs(pid, fd, info.ino);
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
          takeFd: () => {
            if (pidfd < 0) pidfd = pidfdOpen(pid);
            const mine = pidfdGetfd(pidfd, fd);
            taken.push(mine);
            return mine;
          },
        };
        files.add(kind.dump(ctx, id));
        files.noteFd(pid, fd, info.ino, id);
        log.debug(`task ${pid}: fd ${fd} (${link.raw}) -> ${kind.name} file id ${id}`);
      }
      out.push({ id, flags: cloexec, type: kind.type, fd });
    }
  } finally {
    for (const f of taken) close(f);
    if (pidfd >= 0) close(pidfd);
  }
  return out;
}
