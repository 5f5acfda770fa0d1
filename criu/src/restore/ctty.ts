// Sessions and their terminals: a shell job moved into the restoring criu's session (CRIU's
// prepare_pstree_for_shell_job), the controlling terminal of each session leader of the tree
// (TIOCSCTTY, done right after its setsid so that the children it forks inherit it, where CRIU
// does it once the leader's fds are in: its children then have none), and each terminal's
// foreground process group (TIOCSPGRP) once every group exists.
import type { DumpImages } from './images.js';
import type { Task } from './task.js';
import type { PlanTask } from './plan.js';
import type { FileCtx } from '../files/restore-ctx.js';
import { ttyKind, ttyFilesOf, withUnlocked, ttyRpc, type TtyRestore } from '../files/tty.js';
import { TIOC, ioctlErr, ownSession, ownGroup } from '../files/tty-ioctl.js';
import { TtyType, type TtyInfoEntry } from '../images/gen/types.js';
import * as fs from 'node:fs';
import { errnoName, isatty, syscall } from '../sys/libc.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';

const O_RDWR = 2,
  O_NOCTTY = 0o400,
  AT_FDCWD = -100;

/**
 * -j: a root that does not lead its session is a shell's job; its session (and its group, when
 * it does not lead one) become the restoring criu's own, as CRIU's prepare_pstree_for_shell_job.
 */
export function adoptCallerSession(img: DumpImages): void {
  const root = img.tasks[0];
  if (root.pstree.sid === root.pid) return;
  const curSid = ownSession(),
    curGid = ownGroup();
  const clash = (what: string, id: number, t: number): never => {
    throw new CriuError(`Current ${what} ${id} intersects with ${t === id ? 'pid' : `${what} of`} (${t}) in images`, {
      hint: 'restore the shell job from another shell (its session or group id is used in the images)',
    });
  };
  const oldSid = root.pstree.sid;
  if (oldSid !== curSid) {
    log.info(`Migrating process tree (SID ${oldSid}->${curSid})`);
    if (img.tasks.some((t) => t.pid === curSid)) clash('sid', curSid, curSid);
    for (const t of img.tasks) {
      if (t.pstree.sid === curSid) clash('sid', curSid, t.pid);
      if (t.pstree.sid === oldSid) t.pstree.sid = curSid;
      if (t.pstree.pgid === curSid) clash('sid', curSid, t.pid);
      if (t.pstree.pgid === oldSid) t.pstree.pgid = curSid;
    }
  }
  if (root.pstree.pgid === root.pid) return;
  const oldGid = root.pstree.pgid;
  if (oldGid === curGid) return;
  log.info(`Migrating process tree (GID ${oldGid}->${curGid})`);
  if (img.tasks.some((t) => t.pid === curGid)) clash('gid', curGid, curGid);
  for (const t of img.tasks) {
    if (curGid !== curSid && t.pstree.pgid === curGid) clash('gid', curGid, t.pid);
    if (t.pstree.pgid === oldGid) t.pstree.pgid = curGid;
  }
}

/** Foreground groups still to set, per session leader, for one restore. */
const pending = new WeakMap<FileCtx, Map<number, { pgrp: number }>>();

/** The terminal a session leader had as its controlling one: the tty info that names its session. */
function terminalOf(files: FileCtx, sid: number): TtyInfoEntry | undefined {
  const infos = (files.image('tty-info.img', 'TTY_INFO') ?? []).map((r) => r.msg).filter((t) => t.sid === sid && t.termios && t.type !== TtyType.CTTY);
  return infos.find((t) => t.type === TtyType.PTY) ?? infos[0];
}

/** Injected open → ioctl → close in the task, on `path`. */
function onTerminal(task: Task, path: string, req: number, arg: bigint | number, who: string): void {
  const inj = task.p.inj;
  const fd = inj.call('openat', AT_FDCWD, inj.str(path), O_RDWR | O_NOCTTY, 0);
  if (fd < 0n) throw new CriuError(`${who}: cannot open ${path}: ${errnoName(Number(-fd))}`, { task: task.t.pid, object: path });
  const r = inj.call('ioctl', fd, req, arg);
  inj.call('close', fd);
  if (r < 0n)
    throw new CriuError(`${who}: ioctl ${req === TIOC.TIOCSCTTY ? 'TIOCSCTTY' : 'TIOCSPGRP'} on ${path} failed: ${errnoName(Number(-r))}`, {
      task: task.t.pid,
      object: path,
    });
}

/** A session leader takes its controlling terminal right after its setsid (the terminal's master opened first). */
export function takeTerminal(task: Task, pt: PlanTask, files: FileCtx): void {
  if (pt.session !== 'setsid') return;
  const pid = task.t.pid;
  const tie = terminalOf(files, pid);
  if (!tie) return;
  const who = `task ${pid}`;
  const s = files.stateOf<TtyRestore>(ttyKind);
  let path: string;
  if (tie.type === TtyType.PTY) {
    const index = tie.pty?.index ?? 0;
    const master = ttyFilesOf(files, (index << 1) | 1)[0];
    const slave = ttyFilesOf(files, index << 1)[0];
    if (master) files.open(master.id, `${who}: controlling terminal`);
    else if (slave && ttyRpc.orphanPtsMaster)
      files.open(slave.id, `${who}: controlling terminal`); // its master goes to the RPC caller
    else {
      log.info(`${who}: its terminal /dev/pts/${index} has no master in the images: not restored as its controlling terminal`);
      return;
    }
    const reg = slave?.tty?.regf_id !== undefined ? files.file(slave.tty.regf_id)?.reg : undefined;
    path = reg?.name ?? `/dev/pts/${index}`;
    withUnlocked(s, index, () => onTerminal(task, path, TIOC.TIOCSCTTY, 1, who));
  } else {
    const f = ttyFilesOf(files, tie.id)[0];
    const reg = f?.tty?.regf_id !== undefined ? files.file(f.tty.regf_id)?.reg : undefined;
    if (!reg) return;
    path = reg.name;
    onTerminal(task, path, TIOC.TIOCSCTTY, 1, who);
  }
  log.info(`Restore session ${pid} by ${pid} tty (${path})`);
  let m = pending.get(files);
  if (!m) pending.set(files, (m = new Map<number, { pgrp: number }>()));
  if (tie.pgrp) m.set(pid, { pgrp: tie.pgrp });
}

/**
 * Once every group exists: each restored terminal gets its foreground group back; with -j,
 * criu's own terminal gets the job's group in the foreground, as CRIU's pty_open_unpaired_slave.
 */
export function foregroundGroups(tasks: Task[], files: FileCtx, img: DumpImages): void {
  for (const [pid, { pgrp }] of pending.get(files) ?? []) {
    const task = tasks.find((t) => t.t.pid === pid);
    if (!task) continue;
    const s = task.p.scratch + 512n;
    const b = Buffer.alloc(4);
    b.writeInt32LE(pgrp);
    task.p.inj.write(s, b);
    onTerminal(task, '/dev/tty', TIOC.TIOCSPGRP, s, `task ${pid}`);
  }
  pending.delete(files);
  const st = files.stateOf<TtyRestore>(ttyKind);
  const root = img.tasks[0];
  if (!files.shellJob || !st.inherited || root.pstree.sid === root.pid || !isatty(0)) return;
  const pg = root.pstree.pgid === root.pid ? root.pid : ownGroup();
  const fg = Buffer.alloc(4);
  // only from the foreground: a background criu would be stopped by SIGTTOU
  if (ioctlErr(0, TIOC.TIOCGPGRP, fg) || fg.readInt32LE(0) !== ownGroup()) {
    log.warn(`the shell job's group ${pg} is not put in the foreground: criu does not run in the foreground of its terminal`);
    return;
  }
  const b = Buffer.alloc(4);
  b.writeInt32LE(pg);
  const err = ioctlErr(0, TIOC.TIOCSPGRP, b);
  if (err) throw new CriuError(`Failed to set group ${pg} on criu's terminal: ${errnoName(err)}`, { object: 'stdin' });
  log.info(`the shell job's group ${pg} is in the foreground of criu's terminal`);
}

/**
 * Node puts back, when it exits, the terminal modes its stdio had at its start (its ResetStdio,
 * on every fd 0-2 still on the same file), which would undo the job's modes set on criu's
 * terminal: once the job runs, criu's own fds on that terminal are moved to /dev/null.
 */
export function leaveTerminal(files: FileCtx): void {
  if (!files.shellJob || !files.stateOf<TtyRestore>(ttyKind).inherited || !isatty(0)) return;
  const rdev = fs.fstatSync(0).rdev;
  log.info("criu's stdio leaves the job's terminal (Node would reset its modes at exit)");
  const nul = fs.openSync('/dev/null', 'r+');
  try {
    for (const fd of [0, 1, 2]) {
      if (isatty(fd) && fs.fstatSync(fd).rdev === rdev) syscall('dup3', nul, fd, 0);
    }
  } finally {
    fs.closeSync(nul);
  }
}
