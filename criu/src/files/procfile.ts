// Files of /proc held open. Most are regular REG entries reopened by path (reg.ts), as CRIU
// does: a task's /proc/PID/… files name its pid, which the restore gives back (the kernel's link
// already says /proc/PID for /proc/self), a child's name the child's, and /proc/meminfo or
// /proc/sys/… are the same files after the restore (zdtm proc_files00).
//
// This kind takes a /proc/PID file of a task that has exited (the directory's link ends in
// " (deleted)"; a file below it keeps its name, so the directory is looked for), as CRIU's
// check_path_remap / dump_dead_process_remap: a REG entry of its path and, once per dead pid,
// a remap-fpath entry of type PROCFS whose remap_id is the pid. The restore forks a helper task
// on that pid (restore/proc-helpers.ts, CRIU's TASK_HELPER) before any fd is made, opens the
// files by path while it lives (the entry with the remap here, the other files of that pid are
// plain REG entries, reg.ts's) and lets it exit once every fd table is in place: the fds then
// name a task that is gone, as at dump time. It sits above ghost.ts, which would take the deleted
// directory for a deleted file, and claims the REG entries with a PROCFS remap (ghost.ts claims
// every other remap); a cwd in a dead task's /proc/PID gets the same remap and is entered by path
// while the helper lives. A /proc/PID/task/TID file of a thread that has exited while its process
// lives on has no such remap in CRIU and is refused by name.
import type { FileKind, RestoreFdCtx, ExtraImages } from './kind.js';
import type { FdLink } from '../proc/index.js';
import { FileError, partOf } from './kind.js';
import { NotSupportedError } from '../errors.js';
import { taskName } from './ext.js';
import { dumpReg, openReg } from './reg.js';
import { NO_POS } from './chardev.js';
import { lseek } from '../sys/libc.js';
import { ghostKind } from './ghost.js';
import { treePids } from '../proc/nspid.js';
import { existsInTree, treeRootPid } from '../sys/tree-root.js';
import { FdTypes, RemapType, type FileEntry, type RemapFilePathEntry } from '../images/gen/types.js';
import { statfsOnce } from './fd-stat.js';

const PROC_PID = /^\/proc\/(\d+)(\/|$)/;
const PROC_TID = /^\/proc\/(\d+)\/task\/(\d+)(\/|$)/;
export const REMAP_FPATH = 'remap-fpath.img';
const PROC_SUPER_MAGIC = 0x9fa0;

/** The pid of a /proc/PID/… path, or undefined. */
export function procPid(path: string): number | undefined {
  const m = PROC_PID.exec(path);
  return m ? Number(m[1]) : undefined;
}

/** A /proc/PID path (on procfs) whose task, or thread of /proc/PID/task/TID, is gone. */
function deadProcPath(link: FdLink, at?: { pid: number; fd: number }): boolean {
  if (link.kind !== 'path' || !link.path) return false;
  const pid = procPid(link.path);
  if (pid === undefined) return false;
  if (at) {
    // only files of procfs (a directory named /proc/123 on another filesystem is a plain file)
    if (!onProcfs(`/proc/${at.pid}/fd/${at.fd}`)) return false;
  }
  if (link.deleted || !existsInTree(`/proc/${pid}`)) return true;
  const t = PROC_TID.exec(link.path);
  return t !== null && !existsInTree(`/proc/${t[1]}/task/${t[2]}`);
}

/** The dead pids that have their PROCFS remap in this dump already (CRIU's have_seen_dead_pid). */
const seenDead = new WeakMap<ExtraImages, Set<number>>();

/** The dead pids the images need a helper task for: the remap_id of each PROCFS remap. */
export function deadPids(ctx: Pick<RestoreFdCtx, 'image'>): number[] {
  const out = new Set<number>();
  for (const r of ctx.image(REMAP_FPATH, 'REMAP_FPATH') ?? []) if (r.msg.remap_type === RemapType.PROCFS) out.add(r.msg.remap_id >>> 0);
  return [...out];
}

/** The PROCFS remap of file `id`, the first /proc file of dead task `pid` in this dump (CRIU writes one per pid). */
function noteDeadPid(extra: ExtraImages, id: number, pid: number): void {
  let seen = seenDead.get(extra);
  if (!seen) seenDead.set(extra, (seen = new Set()));
  if (seen.has(pid)) return;
  seen.add(pid);
  const rpe: RemapFilePathEntry = { orig_id: id, remap_id: pid, remap_type: RemapType.PROCFS };
  extra.add('REMAP_FPATH', REMAP_FPATH, rpe);
}

function onProcfs(statPath: string): boolean {
  try {
    return statfsOnce(statPath).type === PROC_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** The helper task of a /proc/PID path must be alive while its files are opened. */
function helperThere(name: string, who: string): void {
  const pid = procPid(name);
  if (pid === undefined) throw new FileError(who, `${name} has a procfs remap but is no /proc/PID path`, { object: REMAP_FPATH, hint: 'the image is damaged' });
  if (!existsInTree(`/proc/${pid}`))
    throw new FileError(who, `${name}: the helper task on PID ${pid} is not there`, {
      object: name,
      hint: 'restore/proc-helpers.ts forks it before the fds are made',
    });
}

const hasProcfsRemap = (ctx: RestoreFdCtx, id: number): boolean =>
  (ctx.image(REMAP_FPATH, 'REMAP_FPATH') ?? []).some((r) => r.msg.orig_id === id && r.msg.remap_type === RemapType.PROCFS);

export const procfileKind: FileKind = {
  name: 'procfile',
  type: FdTypes.REG,
  field: 'reg',
  priority: 760,
  match: (link, _info, at) => deadProcPath(link, at),
  dump: (ctx, id): FileEntry => {
    const path = ctx.link.path!;
    const pid = procPid(path)!;
    const t = PROC_TID.exec(path);
    if (t && existsInTree(`/proc/${pid}`)) {
      throw new NotSupportedError(`${taskName(ctx.pid)}: fd ${ctx.fd} (${ctx.link.raw}): a /proc file of thread ${t[2]} of task ${pid}, which has exited`, {
        task: ctx.pid,
        object: `fd ${ctx.fd}`,
        hint: 'CRIU has no helper for a dead thread of a live process either: close the fd before the dump',
      });
    }
    // with its own pid and mount namespaces the tree's /proc is its namespace's: the pid is the
    // namespace's, and the helper is made there; a host /proc names a host pid, which in the
    // namespace was another
    if (treePids.own && treeRootPid() === null)
      throw new NotSupportedError(
        `${taskName(ctx.pid)}: fd ${ctx.fd} (${ctx.link.raw}): a /proc file of task ${pid}, which has exited, in a tree with a pid namespace of its own but the host's mount namespace`,
        {
          task: ctx.pid,
          object: `fd ${ctx.fd}`,
          hint: 'its helper task would need that pid on the host and in the namespace; close the fd before the dump',
        },
      );
    const e = dumpReg(id, path, `/proc/${ctx.pid}/fd/${ctx.fd}`, ctx.info.flags, ctx.info.pos);
    noteDeadPid(ctx.extra, id, pid);
    return e;
  },
  // a cwd in a dead task's /proc/PID (CRIU's zdtm unhashed_proc): the same remap; other removed
  // directories are ghost.ts's
  dumpRemovedDir: (env, id, path, statPath) => {
    const pid = procPid(path);
    if (pid === undefined || !onProcfs(statPath)) return ghostKind.dumpRemovedDir!(env, id, path, statPath);
    if (treePids.own && treeRootPid() === null)
      throw new NotSupportedError(`a cwd in ${path}, the /proc of a task that has exited, in a tree with a pid namespace of its own`, { object: path });
    noteDeadPid(env.extra, id, pid);
  },
  claims: (ctx, e) => hasProcfsRemap(ctx, e.id),
  // the chdir goes by path while the helper lives
  openPath: (ctx, e, use, _s, who) => {
    if (use !== 'cwd' || !hasProcfsRemap(ctx, e.id)) return undefined;
    const reg = partOf(e, 'reg', who);
    helperThere(reg.name, who);
    return -1;
  },
  open: (_ctx, e, _s, who) => {
    const reg = partOf(e, 'reg', who);
    helperThere(reg.name, who);
    const fd = openReg(reg, who);
    if (BigInt(reg.pos) !== NO_POS && BigInt(reg.pos) !== 0n) lseek(fd, BigInt(reg.pos), 0);
    return fd;
  },
};
