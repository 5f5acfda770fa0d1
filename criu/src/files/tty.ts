// Terminals, as CRIU 4.2's tty.c: unix98 ptys (the /dev/ptmx master and its /dev/pts/N
// slaves), /dev/tty (the controlling terminal's alias), /dev/console and virtual terminals.
// Each fd gets a TTY file_entry (tty_file_entry: its tty_info_id is index*2, +1 for a master)
// pointing at a REG entry of its path (regf_id), written just before it; each terminal end gets
// one tty_info_entry in tty-info.img (termios, locked termios, window size, sid and foreground
// group, lock, exclusive and packet modes, owner), and what is queued in a pty whose both ends
// the tree holds goes to tty-data.img, read at the end of the dump (written back when the tree
// runs on). On restore a master is opened on its index again (ptmx opened until TIOCGPTN says
// it, the others held meanwhile: a taken index fails naming it), its slave's parameters and the
// queued data are put back through it; a slave whose master is outside the tree is a shell
// job's terminal: with -j the restoring criu's own terminal (its stdin) stands for it. The
// sessions' controlling terminals are the engine's (restore/ctty.ts, with the helpers below).
import * as fs from 'node:fs';
import { treePids } from '../proc/nspid.js';
import { openInTree } from '../sys/tree-root.js';
import { FdTypes, TtyType, type FileEntry, type TtyFileEntry, type TtyInfoEntry } from '../images/gen/types.js';
import { FileError, partOf, type FileKind, type DumpFdCtx, type RestoreFdCtx } from './kind.js';
import type { FileTable } from './table.js';
import { dumpReg } from './reg.js';
import { fileFlags, dumpFown, restoreFileParams, O_CLOEXEC, O_NONBLOCK, F_DUPFD_CLOEXEC } from './fdparams.js';
import { TIOC, ioctlErr, getInt, setInt, getTermios, getWinsize, termiosBuf, winsizeBuf } from './tty-ioctl.js';
import { readStat } from '../proc/index.js';
import { close, fcntl, writeFd, isatty, errnoName, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { hasRpcNotifier, rpcSendFd } from '../notify.js';
import { externals } from './external.js';
import { log } from '../log.js';
import { ids as userIds } from '../proc/idmap.js';
import { statOnce } from './fd-stat.js';

const O_RDWR = 2,
  O_NOCTTY = 0o400;
/** CRIU's limits: a pty index above MAX_PTY_INDEX is refused */
const MAX_PTY_INDEX = 1000;
const INDEX = { console: 1002, vt: 1004, ctty: 1006 } as const;

/**
 * The RPC's `orphan_pts_master` (no command-line option in CRIU): a slave whose master is outside
 * the tree is dumped, and restored on a new pty of its index whose master goes to the RPC caller
 * (the `orphan-pts-master` notification, with the fd), as runc's console socket wants.
 */
export const ttyRpc = { orphanPtsMaster: false };

export type Driver = 'ptmx' | 'pts' | 'console' | 'ctty' | 'vt' | 'serial' | 'ext';

export const devMajor = (d: number): number => ((d >>> 8) & 0xfff) >>> 0;
export const devMinor = (d: number): number => ((d & 0xff) | ((d >>> 12) & ~0xff)) >>> 0;

/** The driver of a terminal by its rdev, as CRIU's get_tty_driver (null: not a terminal). */
export function driverOf(rdev: number): Driver | null {
  const major = devMajor(rdev),
    minor = devMinor(rdev);
  if (major === 5) return minor === 2 ? 'ptmx' : minor === 1 ? 'console' : minor === 0 ? 'ctty' : null;
  if (major === 4) return minor >= 1 && minor <= 63 ? 'vt' : 'serial';
  if (major === 188 || major === 204) return 'serial';
  if (major >= 128 && major <= 135) return 'ptmx';
  if (major >= 136 && major <= 143) return 'pts';
  return null;
}
const TYPE: Record<Driver, number> = {
  ptmx: TtyType.PTY,
  pts: TtyType.PTY,
  console: TtyType.CONSOLE,
  ctty: TtyType.CTTY,
  vt: TtyType.VT,
  serial: TtyType.SERIAL,
  ext: TtyType.EXT_TTY,
};
/** CRIU's ETTY_INDEX: external terminals are numbered from here, one more each (ext_fd_get_index) */
const ETTY_INDEX = 1012,
  ETTY_INDEX_MAX = 1076;
const extIndex = new WeakMap<FileTable, number>();
const isMasterDriver = (d: Driver): boolean => d !== 'pts';

function statFd(pid: number, fd: number): fs.BigIntStats | null {
  try {
    return statOnce(`/proc/${pid}/fd/${fd}`);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- dump

/** One terminal end seen by the dump (CRIU's tty_dump_info). */
export interface DumpedTty {
  infoId: number;
  driver: Driver;
  index: number;
  sid: number;
  pgrp: number;
  pid: number;
  fd: number;
  path: string;
  hung: boolean;
  /** the tool's own fd on it (ptys: for the queued data), closed at the end of the dump */
  lfd: number;
  flags: number;
  data?: Buffer;
}
const dumped = new WeakMap<FileTable, DumpedTty[]>();
/** The dump is over: the list goes (its fds are closed by tty-dump.ts). */
export const forgetTtys = (files: FileTable): boolean => dumped.delete(files);
/** The terminals a dump saw (in the order their infos were written). */
export const dumpedTtys = (files: FileTable): DumpedTty[] => dumped.get(files) ?? [];

/** sid and foreground group of a terminal end, as CRIU's parasite asks them (TIOCGSID/TIOCGPGRP in the task). */
function sessionOf(ctx: DumpFdCtx, lfd: number, driver: Driver, rdev: number): { sid: number; pgrp: number } {
  if (driver === 'ptmx') {
    const sid = getInt(lfd, TIOC.TIOCGSID),
      pgrp = getInt(lfd, TIOC.TIOCGPGRP);
    return { sid: typeof sid === 'number' ? sid : 0, pgrp: typeof pgrp === 'number' ? pgrp : 0 };
  }
  // on a slave the kernel answers only the task whose controlling terminal it is: /proc says
  // which terminal that is, its session and its foreground group
  const st = readStat(ctx.pid);
  const own = driver === 'ctty' ? st.tty_nr !== 0 : st.tty_nr === rdev;
  return own ? { sid: st.session, pgrp: st.tpgid > 0 ? st.tpgid : 0 } : { sid: 0, pgrp: 0 };
}

function dumpInfo(ctx: DumpFdCtx, lfd: number, infoId: number, driver: Driver, index: number, st: fs.BigIntStats): TtyInfoEntry {
  const rdev = Number(st.rdev) >>> 0;
  const excl = getInt(lfd, TIOC.TIOCGEXCL);
  const pty = TYPE[driver] === TtyType.PTY;
  const pckt = pty ? getInt(lfd, TIOC.TIOCGPKT) : 0;
  const lock = pty ? getInt(lfd, TIOC.TIOCGPTLCK) : 0;
  const hung = excl === 'EIO' || pckt === 'EIO' || lock === 'EIO';
  const { sid, pgrp } = hung ? { sid: 0, pgrp: 0 } : sessionOf(ctx, lfd, driver, rdev);
  const info: TtyInfoEntry = {
    id: infoId,
    type: TYPE[driver],
    locked: lock === 1,
    exclusive: excl === 1,
    packet_mode: pckt === 1,
    sid,
    pgrp,
    rdev,
    dev: Number(st.dev) >>> 0,
    uid: userIds.toNs('uid', Number(st.uid)),
    gid: userIds.toNs('gid', Number(st.gid)),
  };
  if (pty) info.pty = { index };
  if (hung) return info; // a hung-up terminal: the minimum CRIU writes
  const where = `task ${ctx.pid}: fd ${ctx.fd} (${ctx.link.raw})`;
  const t = getTermios(lfd, TIOC.TCGETS),
    tl = getTermios(lfd, TIOC.TIOCGLCKTRMIOS),
    w = getWinsize(lfd);
  for (const [what, v] of [
    ['termios', t],
    ['locked termios', tl],
    ['window size', w],
  ] as const) {
    if (typeof v === 'number') throw new FileError(where, `cannot read the terminal's ${what}: ${errnoName(v)}`, { object: ctx.link.raw });
  }
  info.termios = t as Exclude<typeof t, number>;
  info.termios_locked = tl as Exclude<typeof tl, number>;
  info.winsize = w as Exclude<typeof w, number>;
  return info;
}

function dumpTty(ctx: DumpFdCtx, id: number): FileEntry {
  const where = `task ${ctx.pid}: fd ${ctx.fd} (${ctx.link.raw})`;
  const st = statFd(ctx.pid, ctx.fd);
  const name = st ? `tty[${(Number(st.rdev) >>> 0).toString(16)}:${(Number(st.dev) >>> 0).toString(16)}]` : '';
  // --external tty[RDEV:DEV]: restored only from --inherit-fd (CRIU's ext driver)
  const driver: Driver | null = st && (externals().ttys?.includes(name) ? 'ext' : driverOf(Number(st.rdev) >>> 0));
  if (!st || !driver) throw new FileError(where, 'is not a terminal any more', { object: ctx.link.raw });
  if (driver === 'serial') {
    throw new NotSupportedError(`${where}: a serial terminal`, {
      task: ctx.pid,
      object: `fd ${ctx.fd}`,
      hint: 'ptys, /dev/tty, /dev/console and virtual terminals are handled; serial lines are not yet',
    });
  }
  const lfd = ctx.takeFd();
  let index: number;
  if (driver === 'ptmx') {
    const n = getInt(lfd, TIOC.TIOCGPTN);
    if (typeof n !== 'number') throw new FileError(where, "cannot read the pty's index (TIOCGPTN)", { object: ctx.link.raw });
    index = n;
  } else if (driver === 'pts') {
    const m = /\/(\d+)$/.exec(ctx.link.path ?? '');
    if (!m) throw new FileError(where, `unexpected pts path ${ctx.link.raw}`, { object: ctx.link.raw });
    index = Number(m[1]);
  } else if (driver === 'ext') {
    index = ETTY_INDEX + (extIndex.get(ctx.files) ?? 0) + 1;
    extIndex.set(ctx.files, index - ETTY_INDEX);
    if (index > ETTY_INDEX_MAX) throw new FileError(where, 'Too many external terminals', { object: name });
  } else index = INDEX[driver];
  if ((driver === 'ptmx' || driver === 'pts') && index > MAX_PTY_INDEX)
    throw new FileError(where, `pty index ${index} is too big (CRIU's limit is ${MAX_PTY_INDEX})`);
  const infoId = (index << 1) + (isMasterDriver(driver) ? 1 : 0);
  // an external terminal has no REG entry: it is inherited on restore
  const regId = driver === 'ext' ? undefined : ctx.files.allocId();
  if (regId !== undefined) ctx.files.add(dumpReg(regId, ctx.link.path!, `/proc/${ctx.pid}/fd/${ctx.fd}`, ctx.info.flags, ctx.info.pos));
  const key = `tty-info:${infoId}`;
  if (!ctx.files.seen.has(key)) {
    ctx.files.seen.add(key);
    const info = dumpInfo(ctx, lfd, infoId, driver, index, st);
    // sid and group as the tree's root sees them (proc/nspid.ts), the checks below use the tool's
    ctx.extra.add('TTY_INFO', 'tty-info.img', { ...info, sid: treePids.image(info.sid), pgrp: treePids.image(info.pgrp) });
    const list = dumped.get(ctx.files) ?? [];
    dumped.set(ctx.files, list);
    const pty = info.pty !== undefined;
    list.push({
      infoId,
      driver,
      index,
      sid: info.sid,
      pgrp: info.pgrp,
      pid: ctx.pid,
      fd: ctx.fd,
      path: ctx.link.raw,
      hung: !info.termios,
      lfd: pty ? fcntl(lfd, F_DUPFD_CLOEXEC, 0) : -1,
      flags: ctx.info.flags & ~O_CLOEXEC,
    });
  }
  const tty: TtyFileEntry = { id, tty_info_id: infoId, flags: fileFlags(ctx), fown: dumpFown(ctx, lfd, 'tty') };
  if (regId !== undefined) tty.regf_id = regId;
  return { type: FdTypes.TTY, id, tty };
}

// ---------------------------------------------------------------- restore

/** What the kind keeps during one restore: the masters it opened (by index), whether it handed out criu's own terminal. */
export interface TtyRestore {
  masters: Map<number, { fd: number; locked: boolean }>;
  inherited: boolean;
  /** the masters made for slaves whose master was outside (sent to the RPC caller), closed at the end */
  orphans: number[];
  dataDone: Set<number>;
}

export function ttyInfoOf(ctx: RestoreFdCtx, infoId: number, who: string): TtyInfoEntry {
  const all = ctx.image('tty-info.img', 'TTY_INFO') ?? [];
  const r = all.find((x) => x.msg.id === infoId);
  if (!r) throw new FileError(who, `tty info ${infoId} is not in tty-info.img`, { object: `tty info ${infoId}`, hint: 'the image is damaged or incomplete' });
  return r.msg;
}
const queued = (ctx: RestoreFdCtx, infoId: number): Buffer | undefined =>
  (ctx.image('tty-data.img', 'TTY_DATA') ?? []).find((x) => x.msg.tty_id === infoId)?.msg.data;

/** A terminal's name as CRIU prints it (tty_d_name), the key of `--inherit-fd fd[N]:tty[RDEV:DEV]`. */
export const ttyName = (tie: TtyInfoEntry): string => `tty[${(tie.rdev >>> 0).toString(16)}:${((tie.dev ?? 0) >>> 0).toString(16)}]`;

/** The TTY entries of the images whose tty_info_id is `infoId`. */
export function ttyFilesOf(ctx: RestoreFdCtx, infoId: number): FileEntry[] {
  return [...ctx.entries()].filter((e) => e.type === FdTypes.TTY && e.tty?.tty_info_id === infoId);
}

function pathOf(ctx: RestoreFdCtx, tfe: TtyFileEntry, tie: TtyInfoEntry): string {
  const reg = tfe.regf_id !== undefined ? ctx.file(tfe.regf_id)?.reg : undefined;
  if (reg) return reg.name;
  return tie.id & 1 ? '/dev/ptmx' : `/dev/pts/${tie.pty?.index ?? 0}`;
}

function openPath(p: string, flags: number, who: string): number {
  try {
    return openInTree(p, (flags & ~(O_NONBLOCK | 0o100 | 0o200 | 0o1000)) | O_NOCTTY | O_CLOEXEC);
  } catch (e) {
    throw new FileError(who, `cannot open ${p}: ${(e as Error).message}`, { object: p });
  }
}

/** termios, locked termios and window size of `tie` onto `fd`, and the owner of its node (CRIU's restore_tty_params). */
export function restoreTtyParams(fd: number, tie: TtyInfoEntry, who: string, chown = true): void {
  const fail = (what: string, err: number): never => {
    throw new FileError(who, `cannot set the terminal's ${what}: ${errnoName(err)}`, { object: `tty info ${tie.id}` });
  };
  if (chown && tie.uid !== undefined && tie.gid !== undefined) fs.fchownSync(fd, userIds.toHost('uid', tie.uid), userIds.toHost('gid', tie.gid));
  if (tie.termios_locked) {
    const want = termiosBuf(tie.termios_locked);
    const err = ioctlErr(fd, TIOC.TIOCSLCKTRMIOS, want);
    if (err) {
      // without the privilege it needs, an equal value is fine (CRIU's check)
      const cur = Buffer.alloc(want.length);
      if (err !== E.EPERM || ioctlErr(fd, TIOC.TIOCGLCKTRMIOS, cur) || !cur.equals(want)) fail('locked termios', err);
    }
  }
  if (tie.termios) {
    const err = ioctlErr(fd, TIOC.TCSETS, termiosBuf(tie.termios));
    if (err) fail('termios', err);
  }
  if (tie.winsize) {
    const err = ioctlErr(fd, TIOC.TIOCSWINSZ, winsizeBuf(tie.winsize));
    if (err) fail('window size', err);
  }
}

/**
 * A new master on pty `index` (CRIU's __pty_open_ptmx_index): ptmx is opened until TIOCGPTN
 * gives that index, the lower ones held meanwhile (so the kernel hands out the next), then all
 * but the wanted one closed. A taken index fails naming it.
 */
export function openPtmxIndex(ptmx: string, index: number, flags: number, who: string): number {
  const given = madeMasters.get(index);
  if (given !== undefined) {
    madeMasters.delete(index);
    log.debug(`${who}: the master of pty ${index} made with the mounts (its slave is bound)`);
    return given;
  }
  const held: number[] = [];
  try {
    for (let i = 0; i < 32; i++) {
      const fd = openPath(ptmx, flags, who);
      const n = getInt(fd, TIOC.TIOCGPTN);
      if (typeof n !== 'number') {
        close(fd);
        throw new FileError(who, `cannot read the index of a new pty on ${ptmx}`, { object: ptmx });
      }
      if (n === index) return fd;
      held.push(fd);
      if (n < index && index - n < 32) continue;
      break;
    }
  } finally {
    for (const fd of held) close(fd);
  }
  throw new FileError(who, `cannot open a pty with index ${index}: /dev/pts/${index} is taken`, {
    object: `/dev/pts/${index}`,
    hint: 'another pty uses that index now; close it (or restore where it is free)',
  });
}

/**
 * Masters of ptys the mount namespace's restore made because a slave is bound somewhere (runc's
 * /dev/console, CRIU's devpts_restore): the terminal's restore takes them instead of new ones.
 */
const madeMasters = new Map<number, number>();
export function givePtyMaster(index: number, fd: number): void {
  const old = madeMasters.get(index);
  if (old !== undefined) close(old);
  madeMasters.set(index, fd);
}

/** Runs `f` with the master of pty `index` unlocked (if this restore locked it again). */
export function withUnlocked<T>(s: TtyRestore, index: number, f: () => T): T {
  const m = s.masters.get(index);
  if (m?.locked) setInt(m.fd, TIOC.TIOCSPTLCK, 0);
  try {
    return f();
  } finally {
    if (m?.locked) setInt(m.fd, TIOC.TIOCSPTLCK, 1);
  }
}

const slavePath = (ptmx: string, index: number): string =>
  ptmx.endsWith('/ptmx') ? `${ptmx.slice(0, -'ptmx'.length)}${ptmx.startsWith('/dev/pts/') ? '' : 'pts/'}${index}` : `/dev/pts/${index}`;

function openMaster(ctx: RestoreFdCtx, e: FileEntry, tfe: TtyFileEntry, tie: TtyInfoEntry, s: TtyRestore, who: string): number {
  const index = tie.pty!.index;
  const ptmx = pathOf(ctx, tfe, tie);
  const fd = openPtmxIndex(ptmx, index, tfe.flags | O_RDWR, who);
  try {
    setInt(fd, TIOC.TIOCSPTLCK, 0);
    restoreTtyParams(fd, tie, who, false);
    if (tie.packet_mode && setInt(fd, TIOC.TIOCPKT, 1)) throw new FileError(who, `cannot set packet mode on pty ${index}`, { object: `/dev/pts/${index}` });
    // the slave end: its parameters, and the data queued each way
    const slaveId = tie.id & ~1;
    const slaveInfo = (ctx.image('tty-info.img', 'TTY_INFO') ?? []).find((x) => x.msg.id === slaveId)?.msg;
    const sp = slavePath(ptmx, index);
    const sfd = openPath(sp, O_RDWR, who);
    try {
      if (slaveInfo?.termios) restoreTtyParams(sfd, slaveInfo, who);
      if (slaveInfo?.exclusive) ioctlErr(sfd, TIOC.TIOCEXCL, null);
      const toSlave = queued(ctx, tie.id),
        toMaster = queued(ctx, slaveId);
      if (toSlave) writeFd(sfd, toSlave);
      if (toMaster) writeFd(fd, toMaster);
      if (toSlave || toMaster) log.debug(`${who}: pty ${index}: ${toSlave?.length ?? 0} + ${toMaster?.length ?? 0} queued bytes back`);
    } finally {
      close(sfd);
    }
    if (tie.exclusive) ioctlErr(fd, TIOC.TIOCEXCL, null);
    if (tie.locked) setInt(fd, TIOC.TIOCSPTLCK, 1);
    restoreFileParams(fd, tfe.flags, tfe.fown);
  } catch (err) {
    close(fd);
    throw err;
  }
  s.masters.set(index, { fd, locked: tie.locked });
  log.info(`${who}: pty master ${index} (file id ${e.id}) opened on its index`);
  return fd;
}

function openSlave(ctx: RestoreFdCtx, tfe: TtyFileEntry, tie: TtyInfoEntry, s: TtyRestore, who: string): number {
  const index = tie.pty!.index;
  const p = pathOf(ctx, tfe, tie);
  const hasMaster = ttyFilesOf(ctx, tie.id | 1).length > 0;
  if (hasMaster) {
    const fd = withUnlocked(s, index, () => openPath(p, tfe.flags, who));
    restoreFileParams(fd, tfe.flags, tfe.fown);
    return fd;
  }
  if (!tie.termios) {
    // a hung-up slave: made on a master of its own that is closed at once (CRIU's fake master)
    const m = openPtmxIndex('/dev/ptmx', index, O_RDWR, who);
    try {
      setInt(m, TIOC.TIOCSPTLCK, 0);
      const fd = openPath(p, tfe.flags, who);
      restoreFileParams(fd, tfe.flags, tfe.fown);
      return fd;
    } finally {
      close(m);
    }
  }
  if (ttyRpc.orphanPtsMaster && hasRpcNotifier() && (tie.sid || ctx.shellJob)) {
    const fd = orphanSlave(p, index, tfe, tie, s, who);
    if (fd >= 0) return fd;
  }
  if (!ctx.shellJob) {
    throw new FileError(who, `no task found with sid ${tie.sid}: ${p} has no master in the images`, {
      object: p,
      hint: 'a shell job is restored with -j/--shell-job, on the terminal criu runs in',
    });
  }
  if (!isatty(0)) throw new FileError(who, "Don't have tty to inherit session from, aborting", { object: p, hint: "with -j, criu's stdin must be a terminal" });
  const fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  restoreTtyParams(fd, tie, who, false);
  s.inherited = true;
  log.info(`${who}: migrated slave peer ${tfe.id} (${p}) to criu's terminal`);
  return fd;
}

/**
 * orphan-pts-master (CRIU's pty_open_unpaired_slave): a new pty on the slave's index whose master
 * goes to the RPC caller; -1 when the caller refuses it (then -j's way is tried). The tool keeps
 * its copy of the master until the restore ends, so the slave can be opened meanwhile.
 */
function orphanSlave(p: string, index: number, tfe: TtyFileEntry, tie: TtyInfoEntry, s: TtyRestore, who: string): number {
  const ptmx = p.replace(/[^/]+$/, 'ptmx');
  const m = openPtmxIndex(fs.existsSync(ptmx) ? ptmx : '/dev/ptmx', index, O_RDWR, who);
  s.orphans.push(m);
  setInt(m, TIOC.TIOCSPTLCK, 0);
  if (rpcSendFd('orphan-pts-master', m) !== 0) return -1;
  const fd = openPath(p, tfe.flags, who);
  try {
    restoreTtyParams(fd, tie, who);
    restoreFileParams(fd, tfe.flags, tfe.fown);
  } catch (err) {
    close(fd);
    throw err;
  }
  log.info(`${who}: ${p} is on a new pty whose master went to the RPC caller (orphan-pts-master)`);
  return fd;
}

/** /dev/tty: a stand-in now, the task opens its own controlling terminal once its fds are in (afterInstall). */
function openCtty(): number {
  return fs.openSync('/dev/null', fs.constants.O_RDONLY | O_CLOEXEC);
}

export const ttyKind: FileKind<TtyRestore> = {
  name: 'tty',
  type: FdTypes.TTY,
  field: 'tty',
  priority: 750,
  match: (link, _info, at) => {
    if (link.kind !== 'path' || !at) return false;
    const st = statFd(at.pid, at.fd);
    return !!st && st.isCharacterDevice() && driverOf(Number(st.rdev) >>> 0) !== null;
  },
  dump: dumpTty,
  state: {
    create: () => ({ masters: new Map(), inherited: false, dataDone: new Set(), orphans: [] }),
    close: (s) => {
      // the masters in `masters` are fds FileCtx closes
      for (const fd of s.orphans) close(fd);
      for (const fd of madeMasters.values()) close(fd);
      madeMasters.clear();
    },
  },
  waitsFor: (ctx, e) => {
    const tfe = e.tty;
    if (!tfe || tfe.tty_info_id & 1) return [];
    return ttyFilesOf(ctx, tfe.tty_info_id | 1)
      .slice(0, 1)
      .map((m) => m.id);
  },
  open: (ctx, e, s, who) => {
    const tfe = partOf(e, 'tty', who);
    const tie = ttyInfoOf(ctx, tfe.tty_info_id, who);
    switch (tie.type) {
      case TtyType.PTY:
        return tie.id & 1 ? openMaster(ctx, e, tfe, tie, s, who) : openSlave(ctx, tfe, tie, s, who);
      case TtyType.CTTY:
        return openCtty();
      case TtyType.CONSOLE:
      case TtyType.VT: {
        const fd = openPath(pathOf(ctx, tfe, tie), tfe.flags, who);
        restoreTtyParams(fd, tie, who);
        restoreFileParams(fd, tfe.flags, tfe.fown);
        return fd;
      }
      case TtyType.EXT_TTY:
        throw new FileError(who, `the external terminal ${ttyName(tie)} is not given`, {
          object: ttyName(tie),
          hint: `it was dumped with --external ${ttyName(tie)}: restore with --inherit-fd fd[N]:${ttyName(tie)}`,
        });
      default:
        throw new NotSupportedError(`${who}: a terminal of type ${tie.type} (${pathOf(ctx, tfe, tie)})`, { object: `tty info ${tie.id}` });
    }
  },
  // CRIU's tty_d_name: `tty[RDEV:DEV]` in hex; the caller's terminal gets the dumped modes (open_ext_tty)
  inheritKey: (ctx, e) => {
    const tie = e.tty && (ctx.image('tty-info.img', 'TTY_INFO') ?? []).find((x) => x.msg.id === e.tty!.tty_info_id)?.msg;
    return tie ? ttyName(tie) : undefined;
  },
  openInherited: (ctx, e, fd, who) => {
    const tie = ttyInfoOf(ctx, partOf(e, 'tty', who).tty_info_id, who);
    const mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    try {
      if (!isatty(mine)) throw new FileError(who, `the inherited fd for ${ttyName(tie)} is not a terminal`, { object: ttyName(tie) });
      if (tie.termios) restoreTtyParams(mine, tie, who, false);
    } catch (err) {
      close(mine);
      throw err;
    }
    return mine;
  },
  afterInstall: (ctx, e, fd, task, _s, who) => {
    const tfe = partOf(e, 'tty', who);
    const tie = ttyInfoOf(ctx, tfe.tty_info_id, who);
    if (tie.type !== TtyType.CTTY) return;
    // the task's own /dev/tty, on its controlling terminal (set at its session's birth)
    const inj = task.inj;
    const cloexec = inj.call('fcntl', fd, 1 /* F_GETFD */);
    const nfd = inj.call('openat', -100, inj.str('/dev/tty'), (tfe.flags & ~O_CLOEXEC) | O_NOCTTY, 0);
    if (nfd < 0n) {
      throw new FileError(who, `cannot open /dev/tty in the task: ${errnoName(Number(-nfd))}`, {
        object: '/dev/tty',
        hint: 'the task has no controlling terminal: its session leader and terminal must be in the tree, or -j used',
      });
    }
    const r = inj.call('dup3', nfd, fd, cloexec > 0n && (cloexec & 1n) !== 0n ? O_CLOEXEC : 0);
    inj.call('close', nfd);
    if (r < 0n) throw new FileError(who, `cannot put /dev/tty on fd ${fd}: ${errnoName(Number(-r))}`, { object: '/dev/tty' });
  },
};
