// pidfds (CRIU 4.2's pidfd.c): a pidfd_entry in files.img with the pidfs inode, the status flags
// without O_RDWR (PIDFD_NONBLOCK is O_NONBLOCK), the owner for SIGIO and `nspid`, the target's
// pid in its innermost pid namespace (fdinfo's last NSpid column), -1 once the task is reaped.
// As CRIU: a pidfd of a task outside the dumped tree is refused (it would not exist on restore),
// and so is a PIDFD_THREAD one (O_EXCL in its flags).
//
// Restore: a live target is the restored task of that pid (the tree is forked before fds are
// made), opened with pidfd_open. A dead one is what CRIU makes: a helper process the tool
// starts, one pidfd_open per description of that inode while it lives, then SIGKILL and a reap
// (waitid on the pidfd), so every pidfd of it says "exited" and names no pid (Pid: -1).
import { childProcess } from '../sys/tools.js';
import { treePids } from '../proc/nspid.js';
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import { syscall, errnoName, SysError, close, E } from '../sys/libc.js';
import { inNamespaceOf } from '../sys/setns.js';
import { NotSupportedError } from '../errors.js';
import { fileFlags, dumpFown, restoreFileParams, O_NONBLOCK } from './fdparams.js';
import { taskName } from './ext.js';
import { FdTypes, type FileEntry, type PidfdEntry } from '../images/gen/types.js';

// loaded only when a dead pidfd needs its helper: child_process pulls in net and dgram, milliseconds of every dump

const O_RDWR = 2;
/** PIDFD_THREAD is O_EXCL */
const PIDFD_THREAD = 0o200;
const SIGKILL = 9;
const P_PIDFD = 3,
  WEXITED = 4;

function dumpPidfd(ctx: DumpFdCtx, id: number): FileEntry {
  const what = `${taskName(ctx.pid)}: fd ${ctx.fd} (${ctx.link.raw})`;
  const p = ctx.info.pidfd;
  if (!p || !p.nspid.length) throw new NotSupportedError(`${what}: a pidfd without Pid/NSpid lines in its fdinfo`, { task: ctx.pid, object: `fd ${ctx.fd}` });
  const flags = fileFlags(ctx);
  if (flags & PIDFD_THREAD)
    throw new NotSupportedError(`${what}: a pidfd of a thread (PIDFD_THREAD)`, {
      task: ctx.pid,
      object: `fd ${ctx.fd}`,
      hint: 'CRIU 4.2 does not restore PIDFD_THREAD pidfds either',
    });
  if (p.pid !== -1 && !ctx.files.tree.has(p.pid)) {
    throw new NotSupportedError(`${what}: a pidfd of task ${p.pid}, which is not in the dumped tree`, {
      task: ctx.pid,
      object: `fd ${ctx.fd}`,
      hint: 'the task it names would not exist after the restore; dump a tree that contains it',
    });
  }
  // the restore opens the pid from the tool's own pid namespace: the one it sees must be the one restored
  // (the tree's root's pid namespace: its pid at that level, proc/nspid.ts)
  const level = treePids.depth;
  if (p.pid !== -1 && p.nspid.length > level + 1)
    throw new NotSupportedError(`${what}: a pidfd of task ${p.pid}, which is in a nested pid namespace (pid ${p.nspid[p.nspid.length - 1]} there)`, {
      task: ctx.pid,
      object: `fd ${ctx.fd}`,
      hint: 'pidfds of tasks in pid namespaces below the root’s are not restored yet',
    });
  const pidfd: PidfdEntry = {
    id,
    ino: ctx.info.ino >>> 0,
    flags: flags & ~O_RDWR,
    nspid: p.pid === -1 ? -1 : p.nspid[level],
    fown: dumpFown(ctx, ctx.takeFd(), 'pidfd'),
  };
  return { type: FdTypes.PIDFD, id, pidfd };
}

function pidfdOpen(pid: number, flags: number, who: string, id: number): number {
  try {
    return Number(syscall('pidfd_open', pid, flags & O_NONBLOCK));
  } catch (e) {
    throw new FileError(who, `pidfd ${id}: pidfd_open(${pid}): ${e instanceof SysError ? errnoName(e.errno) : (e as Error).message}`, {
      object: `pidfd ${id}`,
      hint: 'the task a live pidfd names must be restored with its pid',
    });
  }
}

/** The pidfds of dead tasks made already (file id → the tool's fd), waiting for their open. */
export type PidfdState = Map<number, number>;

/**
 * Every description of the dead task of inode `ino`: a helper process lives while each is opened
 * on it, then is killed and reaped, as CRIU's create_tmp_process/kill_helper.
 */
function openDead(ctx: RestoreFdCtx, s: PidfdState, ino: number, who: string): void {
  const group: PidfdEntry[] = [];
  for (const e of ctx.entries()) if (e.type === FdTypes.PIDFD && e.pidfd && e.pidfd.nspid === -1 && e.pidfd.ino === ino) group.push(e.pidfd);
  // in the tree's pid namespace, where the task died: a pidfd of a task outside it cannot signal (EINVAL, not ESRCH)
  const spawn = () => childProcess().spawn('/bin/sleep', ['3600'], { stdio: 'ignore' });
  const child = treePids.own ? inNamespaceOf(treePids.host(1), 'pid', spawn) : spawn();
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new FileError(who, `pidfd of a dead task (inode ${ino}): cannot start a helper process`, { object: `pidfd inode ${ino}` });
  const made: number[] = [];
  let helper = -1;
  try {
    helper = Number(syscall('pidfd_open', pid, 0));
    for (const pe of group) {
      made.push(pidfdOpen(pid, pe.flags, who, pe.id));
      s.set(pe.id, made[made.length - 1]);
    }
    syscall('pidfd_send_signal', helper, SIGKILL, 0, 0);
    // reaped here, so the pidfds name no pid; libuv's own wait finds nothing (ECHILD) and lets it be
    try {
      syscall('waitid', P_PIDFD, helper, 0, WEXITED, 0);
    } catch (e) {
      // reaped by someone else already: dead all the same
      if (!(e instanceof SysError && e.errno === E.ECHILD)) throw e;
    }
  } catch (e) {
    for (const f of made) close(f);
    for (const pe of group) s.delete(pe.id);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    throw e;
  } finally {
    if (helper >= 0) close(helper);
  }
}

export const pidfdKind: FileKind<PidfdState> = {
  name: 'pidfd',
  type: FdTypes.PIDFD,
  field: 'pidfd',
  priority: 404,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'pidfd',
  dump: dumpPidfd,
  state: {
    create: () => new Map(),
    close: (s) => {
      for (const fd of s.values()) close(fd);
      s.clear();
    },
  },
  open: (ctx, e, s, who) => {
    const pe = partOf(e, 'pidfd', who);
    let fd: number;
    if (pe.nspid !== -1) fd = pidfdOpen(treePids.host(pe.nspid), pe.flags, who, pe.id);
    else {
      if (!s.has(pe.id)) openDead(ctx, s, pe.ino, who);
      fd = s.get(pe.id)!;
      s.delete(pe.id);
    }
    restoreFileParams(fd, pe.flags, pe.fown);
    return fd;
  },
};
