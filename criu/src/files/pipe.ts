// Pipes: each end is its own open file description (a file_entry with the pipe's inode as
// pipe_id); the buffered bytes go to pipes-data.img once per pipe, read without consuming them
// (tee into a pipe of ours). On restore the first end asked for creates the pipe, refills it
// and keeps the other end for whoever needs it.
import * as fs from 'node:fs';
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import { pipe2, close, fcntl, syscall, readFd, writeFd, E, SysError } from '../sys/libc.js';
import { FdTypes, type PipeDataEntry } from '../images/gen/types.js';
import { zeroFown } from './fdparams.js';

const F_SETFL = 4,
  F_GETPIPE_SZ = 1032,
  F_SETPIPE_SZ = 1031,
  O_NONBLOCK = 0o4000,
  O_CLOEXEC = 0o2000000;
const SPLICE_F_NONBLOCK = 2;

/** Copy what is buffered in a pipe without taking it out: tee into a pipe of ours, then read that. */
export function peekPipe(fd: number): { data: Buffer; size: number } {
  const size = fcntl(fd, F_GETPIPE_SZ, 0);
  const [r, w] = pipe2(O_CLOEXEC | O_NONBLOCK);
  try {
    fcntl(w, F_SETPIPE_SZ, size);
    let n = 0;
    try {
      n = Number(syscall('tee', fd, w, size, SPLICE_F_NONBLOCK));
    } catch (e) {
      if (!(e instanceof SysError && e.errno === E.EAGAIN)) throw e;
    }
    const data = Buffer.alloc(n);
    let got = 0;
    while (got < n) got += readFd(r, data.subarray(got), n - got);
    return { data, size };
  } finally {
    close(r);
    close(w);
  }
}

/**
 * The buffered bytes of a pipe, once per pipe, taken at its first read end as CRIU does; a pipe
 * whose read ends are all outside the tree is read at the end of the dump through a write end.
 */
function dumpPipeData(ctx: DumpFdCtx, pipeId: number, file: string, seen: string): void {
  const key = `${seen}:${pipeId}`;
  if (ctx.files.seen.has(key)) return;
  if ((ctx.info.flags & 3) !== 0) {
    if (!ctx.extra.deferred.has(key)) {
      const { pid, fd } = ctx;
      ctx.extra.deferred.set(key, () => {
        if (!ctx.files.seen.has(key)) readPipeData({ ...ctx, pid, fd }, pipeId, file, key);
      });
    }
    return;
  }
  readPipeData(ctx, pipeId, file, key);
}

function readPipeData(ctx: DumpFdCtx, pipeId: number, file: string, key: string): void {
  ctx.files.seen.add(key);
  // a read end of our own on the same pipe (the task's fd may be the write end)
  const fd = fs.openSync(`/proc/${ctx.pid}/fd/${ctx.fd}`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const { data, size } = peekPipe(fd);
    const pde: PipeDataEntry = { pipe_id: pipeId, bytes: data.length, size };
    ctx.extra.add('PIPES_DATA', file, pde, data);
  } finally {
    fs.closeSync(fd);
  }
}

/** The pipes the tool made, by pipe_id: both ends kept until the restore ends. */
export type PipeState = Map<number, { r: number; w: number }>;

export const pipeKind: FileKind<PipeState> = {
  name: 'pipe',
  type: FdTypes.PIPE,
  field: 'pipe',
  priority: 500,
  match: (link) => link.kind === 'pipe',
  dump: (ctx, id) => {
    const pipeId = ctx.link.ino!;
    dumpPipeData(ctx, pipeId, 'pipes-data.img', 'pipe');
    return { type: FdTypes.PIPE, id, pipe: { id, pipe_id: pipeId, flags: ctx.info.flags & ~O_CLOEXEC & 0o7777777, fown: zeroFown() } };
  },
  state: { create: () => new Map(), close: closePipes },
  open: (ctx, e, s, who) => {
    const p = partOf(e, 'pipe', who);
    return openPipeEnd(ctx, s, p.pipe_id, p.flags, who);
  },
  // CRIU's pipe_d_name; an inherited pipe is reopened with this end's flags (its data is the caller's)
  inheritKey: (_ctx, e) => (e.pipe ? `pipe:[${e.pipe.pipe_id}]` : undefined),
  openInherited: (_ctx, e, fd, who) => reopenInherited(fd, partOf(e, 'pipe', who).flags, who),
};

/** The caller's fd reopened through /proc/self/fd with `flags` (access mode and status flags), as CRIU reopens an inherited pipe. */
export function reopenInherited(fd: number, flags: number, who: string): number {
  try {
    return fs.openSync(`/proc/self/fd/${fd}`, flags & ~O_CLOEXEC);
  } catch (e) {
    throw new FileError(who, `cannot reopen the inherited fd ${fd}: ${(e as Error).message}`, {
      object: `/proc/self/fd/${fd}`,
      hint: 'pass an fd of the same kind of object as the image has (--inherit-fd)',
    });
  }
}

export function closePipes(s: PipeState): void {
  for (const p of s.values())
    for (const fd of [p.r, p.w]) {
      try {
        close(fd);
      } catch {
        /* closed */
      }
    }
  s.clear();
}

/** One end of pipe `pipeId`: the pipe is made (and refilled from pipes-data.img) the first time either end is wanted. */
export function openPipeEnd(ctx: RestoreFdCtx, s: PipeState, pipeId: number, flags: number, who: string): number {
  const dataFile = 'pipes-data.img';
  let p = s.get(pipeId);
  if (!p) {
    const [r, w] = pipe2(O_CLOEXEC);
    p = { r, w };
    s.set(pipeId, p);
    const rec = (ctx.image(dataFile, 'PIPES_DATA') ?? []).find((x) => Number(x.msg.pipe_id) === pipeId);
    if (rec) {
      if (rec.msg.size) {
        try {
          fcntl(w, F_SETPIPE_SZ, rec.msg.size);
        } catch {
          /* above pipe-max-size */
        }
      }
      const data = rec.blob ?? Buffer.alloc(0);
      if (data.length !== rec.msg.bytes) {
        throw new FileError(who, `pipe ${pipeId}: ${dataFile} holds ${data.length} bytes, the entry says ${rec.msg.bytes}`, {
          object: dataFile,
          hint: 'the image is damaged',
        });
      }
      let off = 0;
      while (off < data.length) off += writeFd(w, data.subarray(off));
    }
  }
  const end = (flags & 3) === 1 ? p.w : p.r;
  // the very end (a dup shares the description), with its status flags
  fcntl(end, F_SETFL, flags & O_NONBLOCK);
  return fcntl(end, 1030 /* F_DUPFD_CLOEXEC */, 3);
}
