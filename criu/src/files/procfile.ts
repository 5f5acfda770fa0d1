// Files of /proc held open. Most are regular REG entries reopened by path (reg.ts), as CRIU
// does: a task's /proc/PID/… files name its pid, which the restore gives back (the kernel's link
// already says /proc/PID for /proc/self), a child's name the child's, and /proc/meminfo or
// /proc/sys/… are the same files after the restore (zdtm proc_files00).
//
// This kind only takes what reopening by path would get wrong: a /proc/PID file of a task that
// has exited (the directory's link ends in " (deleted)"; a file below it keeps its name, so the
// directory is looked for). CRIU restores those with a dead helper task of that pid
// (dump_dead_process_remap); we refuse them by name: reopened, the path would be missing or name
// whichever task has that pid by then. It sits above ghost.ts, which would take the deleted
// directory for a deleted file.
import * as fs from 'node:fs';
import type { FileKind } from './kind.js';
import type { FdLink } from '../proc/index.js';
import { FileError } from './kind.js';
import { NotSupportedError } from '../errors.js';
import { taskName } from './ext.js';
import { FdTypes } from '../images/gen/types.js';

const PROC_PID = /^\/proc\/(\d+)(\/|$)/;

/** The pid of a /proc/PID/… path, or undefined. */
export function procPid(path: string): number | undefined {
  const m = PROC_PID.exec(path);
  return m ? Number(m[1]) : undefined;
}

/** A /proc/PID path (on procfs) whose task is gone. */
function deadProcPath(link: FdLink, at?: { pid: number; fd: number }): boolean {
  if (link.kind !== 'path' || !link.path) return false;
  const pid = procPid(link.path);
  if (pid === undefined) return false;
  if (at) {
    // only files of procfs (a directory named /proc/123 on another filesystem is a plain file)
    try {
      const st = fs.statfsSync(`/proc/${at.pid}/fd/${at.fd}`);
      if (st.type !== 0x9fa0 /* PROC_SUPER_MAGIC */) return false;
    } catch {
      return false;
    }
  }
  return link.deleted || !fs.existsSync(`/proc/${pid}`);
}

export const procfileKind: FileKind = {
  name: 'procfile',
  type: FdTypes.REG,
  field: 'reg',
  priority: 760,
  match: (link, _info, at) => deadProcPath(link, at),
  dump: (ctx) => {
    const pid = procPid(ctx.link.path!)!;
    throw new NotSupportedError(`${taskName(ctx.pid)}: fd ${ctx.fd} (${ctx.link.raw}): a /proc file of task ${pid}, which has exited`, {
      task: ctx.pid,
      object: `fd ${ctx.fd}`,
      hint: 'CRIU restores these with a dead helper task of that pid; criu-ts does not yet: close the fd before the dump',
    });
  },
  // every REG entry is reg.ts's or ghost.ts's
  claims: () => false,
  open: (_ctx, e, _s, who) => {
    throw new FileError(who, `file id ${e.id}: procfile restores nothing`, { object: `file id ${e.id}` });
  },
};
