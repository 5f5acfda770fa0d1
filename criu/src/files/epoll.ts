// epoll: the instance and its watched targets. CRIU 4.2 writes the targets inside the epfd entry
// (repeated `tfd`, each with id 0); the separate eventpoll-tfd.img is the old format, read only.
// The targets' keys are fd numbers of the task that registered them, so on restore the tool
// makes an empty epoll, and once every fd of the task is in place the targets are added by an
// injected epoll_ctl(EPOLL_CTL_ADD) in the task itself.
//
// Adding a target that is ready queues an event at once. For an edge-triggered (or one-shot)
// target whose edge the task had already been told about, that event is new and false. fdinfo
// does not show the ready list, but a poll of the epoll itself says whether any event was
// pending at dump time: when none was, the events the re-adding queued are drained in the task
// (one injected epoll_pwait; level-triggered ones are queued again by the kernel as they were).
// That "nothing pending" mark goes in bit 0 of the epoll's `flags` (O_WRONLY, which an epoll
// never has: its access mode is O_RDWR); CRIU ignores that bit on restore, and without the mark
// (images from CRIU) nothing is drained, which is CRIU's behaviour. An epoll may watch another
// epoll (zdtm epoll01): the targets are added fd by fd and the drains wait until every epoll of
// the task is filled, so an inner epoll filled after its watcher queues no event that stays.
import * as fs from 'node:fs';
import type { FileKind, DumpFdCtx, RestoreFdCtx, TaskAccess } from './kind.js';
import { FileError, partOf } from './kind.js';
import { syscall, kcmp, KCMP, addrOf, errnoName } from '../sys/libc.js';
import { arch } from '../sys/arch.js';
import { NotSupportedError } from '../errors.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import { FdTypes, type FileEntry, type EventpollFileEntry, type EventpollTfdEntry } from '../images/gen/types.js';

const EPOLL_CTL_ADD = 1;
const EPOLLIN = 1;
/** flags bit 0 (see above): the epoll had no pending event when it was dumped */
export const EPOLL_QUIET = 1;
const O_ACCMODE = 3;

/** Does the epoll at the tool's fd `fd` have any event ready? (ppoll with a zero timeout) */
function epollReady(fd: number): boolean {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(EPOLLIN, 4);
  const zero = Buffer.alloc(16);
  return Number(syscall('ppoll', addrOf(pfd), 1, addrOf(zero), 0, 8)) > 0;
}

/**
 * The fd number `tfd` in the task must still be the file the epoll watches: a target closed in
 * the task (kept alive by a dup elsewhere) or an fd number reused for another file would be
 * restored as the wrong file. kcmp(KCMP_EPOLL_TFD) compares them; `toff` tells apart several
 * registrations of one fd number (CRIU's toff).
 */
function checkTarget(ctx: DumpFdCtx, t: { tfd: number }, toff: number): void {
  const slot = Buffer.alloc(12);
  slot.writeUInt32LE(ctx.fd, 0);
  slot.writeUInt32LE(t.tfd, 4);
  slot.writeUInt32LE(toff, 8);
  let same: number;
  try {
    same = kcmp(ctx.pid, ctx.pid, KCMP.EPOLL_TFD, t.tfd, addrOf(slot));
  } catch {
    same = -1;
  }
  if (same !== 0) {
    throw new NotSupportedError(
      `${where(ctx, 'epoll')}: watched fd ${t.tfd} is closed in the task or is now another file`,
      'an epoll watching a file that the task no longer has at that fd number cannot be checkpointed yet',
    );
  }
}

export function dumpEpoll(ctx: DumpFdCtx, id: number): FileEntry {
  const tfds = ctx.info.epoll?.tfds ?? [];
  const seen = new Map<number, number>();
  const tfd: EventpollTfdEntry[] = tfds.map((t) => {
    const toff = seen.get(t.tfd) ?? 0;
    seen.set(t.tfd, toff + 1);
    checkTarget(ctx, t, toff);
    return { id: 0, tfd: t.tfd, events: t.events >>> 0, data: t.data, dev: t.sdev, inode: BigInt(t.ino), pos: t.pos };
  });
  const fd = ctx.takeFd();
  let flags = fileFlags(ctx);
  if ((flags & O_ACCMODE) !== 2) throw new NotSupportedError(`${where(ctx, 'epoll')}: access mode ${flags & O_ACCMODE} is not O_RDWR`);
  if (!epollReady(fd)) flags |= EPOLL_QUIET;
  const epfd: EventpollFileEntry = { id, flags, fown: dumpFown(ctx, fd, 'epoll'), tfd };
  return { type: FdTypes.EVENTPOLL, id, epfd };
}

/** The targets of an epoll entry: inline (CRIU 4.x) and, from old images, eventpoll-tfd.img. */
export function epollTargets(ctx: RestoreFdCtx, epfd: EventpollFileEntry): EventpollTfdEntry[] {
  const old = (ctx.image('eventpoll-tfd.img', 'EVENTPOLL_TFD') ?? []).map((r) => r.msg).filter((t) => t.id === epfd.id);
  return [...(epfd.tfd ?? []), ...old];
}

/** bytes of scratch memory a puppet offers (GADGET_PAGES - 1 pages) */
const SCRATCH = 4 * 4096;

/** struct epoll_event: packed (12 bytes) on x86_64, naturally aligned (16) elsewhere. */
function epollEvent(events: number, data: bigint): Buffer {
  const packed = arch.name === 'x86_64';
  const b = Buffer.alloc(packed ? 12 : 16);
  b.writeUInt32LE(events >>> 0, 0);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(data)), packed ? 4 : 8);
  return b;
}

/** Add the watched targets to the epoll at `fd` in the task, by injected epoll_ctl calls. */
export function addEpollTargets(ctx: RestoreFdCtx, e: FileEntry, fd: number, p: TaskAccess, s: EpollState, who: string): void {
  const epfd = partOf(e, 'epfd', who);
  const task = taskState(s, p.pid);
  task.seen++;
  // one description shared by several tasks (or fds) is filled once: the first task to get it
  // is the one that was dumped first, whose fd numbers the targets name
  if (!s.filled.has(epfd.id)) {
    s.filled.set(epfd.id, p.pid);
    const ev = p.scratch;
    const targets = epollTargets(ctx, epfd);
    for (const t of targets) {
      p.inj.write(ev, epollEvent(t.events, BigInt(t.data)));
      const r = p.inj.call('epoll_ctl', fd, EPOLL_CTL_ADD, t.tfd, ev);
      if (r < 0n) {
        throw new FileError(
          who,
          `epoll ${epfd.id} at fd ${fd}: cannot watch fd ${t.tfd} (events 0x${(t.events >>> 0).toString(16)}): ${errnoName(Number(-r))}`,
          {
            object: `epoll ${epfd.id}`,
            hint: 'the watched fd must be restored in the same task',
          },
        );
      }
    }
    if (epfd.flags & EPOLL_QUIET && targets.length) task.drains.push({ fd, n: targets.length, id: epfd.id });
  }
  // an epoll may watch another epoll (nested): the false events are drained once every epoll
  // of the task has its targets, so that an inner one filled later cannot queue one again
  if (task.seen >= task.expected) drainEpolls(p, task, who);
}

/** The epoll fds of the restored task, all in place by the time the first afterInstall runs. */
function countEpolls(pid: number): number {
  let n = 0;
  for (const f of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${f}`) === 'anon_inode:[eventpoll]') n++;
    } catch {
      /* gone */
    }
  }
  return n;
}

function taskState(s: EpollState, pid: number): EpollTask {
  let t = s.tasks.get(pid);
  if (!t) {
    t = { seen: 0, expected: countEpolls(pid), drains: [] };
    s.tasks.set(pid, t);
  }
  return t;
}

function drainEpolls(p: TaskAccess, task: EpollTask, who: string): void {
  const evSize = arch.name === 'x86_64' ? 12 : 16;
  const max = Math.floor((SCRATCH - 64) / evSize);
  for (const d of task.drains.splice(0)) {
    if (d.n > max) continue;
    // each queued event is reported once by one call; edge-triggered and one-shot ones go
    const r = p.inj.call('epoll_pwait', d.fd, p.scratch + 64n, d.n, 0, 0, 8);
    if (r < 0n) throw new FileError(who, `epoll ${d.id} at fd ${d.fd}: epoll_pwait: ${errnoName(Number(-r))}`, { object: `epoll ${d.id}` });
  }
}

interface EpollTask {
  /** epoll fds of the task handled so far, of `expected` */
  seen: number;
  expected: number;
  /** quiet epolls whose re-added events are to be drained */
  drains: { fd: number; n: number; id: number }[];
}
/** The epolls whose targets are added already (epoll id → the task that added them), and per task the drains to do. */
export interface EpollState {
  filled: Map<number, number>;
  tasks: Map<number, EpollTask>;
}

export const epollKind: FileKind<EpollState> = {
  name: 'epoll',
  type: FdTypes.EVENTPOLL,
  field: 'epfd',
  priority: 440,
  match: (link) => link.kind === 'anon_inode' && link.anonType === 'eventpoll',
  dump: dumpEpoll,
  state: {
    create: () => ({ filled: new Map(), tasks: new Map() }),
    close: (s) => {
      s.filled.clear();
      s.tasks.clear();
    },
  },
  open: (_ctx, e, _s, who) => {
    const epfd = partOf(e, 'epfd', who);
    const fd = Number(syscall('epoll_create1', O_CLOEXEC));
    restoreFileParams(fd, epfd.flags, epfd.fown);
    return fd;
  },
  afterInstall: addEpollTargets,
};
