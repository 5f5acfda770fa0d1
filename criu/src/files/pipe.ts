// Pipes: each end is its own open file description (a file_entry with the pipe's inode as
// pipe_id); the buffered bytes go to pipes-data.img once per pipe, read without consuming them
// (tee into a pipe of ours). On restore the first end asked for creates the pipe, refills it
// and keeps the other end for whoever needs it.
import * as fs from 'node:fs';
import { FD_TYPES } from './table.js';
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { pipe2, close, fcntl, syscall, readFd, writeFd, E, SysError } from '../sys/libc.js';
import { CriuError } from '../errors.js';

const F_SETFL = 4, F_GETPIPE_SZ = 1032, F_SETPIPE_SZ = 1031, O_NONBLOCK = 0o4000, O_CLOEXEC = 0o2000000;
const SPLICE_F_NONBLOCK = 2;
export const zeroFown = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };

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
    close(r); close(w);
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
      ctx.extra.deferred.set(key, () => { if (!ctx.files.seen.has(key)) readPipeData({ ...ctx, pid, fd }, pipeId, file, key); });
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
    ctx.extra.add(file, { pipe_id: pipeId, bytes: data.length, size }, data);
  } finally {
    fs.closeSync(fd);
  }
}

export const pipeKind: FileKind = {
  name: 'pipe',
  type: FD_TYPES.PIPE,
  field: 'pipe',
  match: (link) => link.kind === 'pipe',
  dump: (ctx, id) => {
    const pipeId = ctx.link.ino!;
    dumpPipeData(ctx, pipeId, 'pipes-data.img', 'pipe');
    return { type: FD_TYPES.PIPE, id, pipe: { id, pipe_id: pipeId, flags: ctx.info.flags & ~O_CLOEXEC & 0o7777777, fown: { ...zeroFown } } };
  },
  open: (ctx, e) => openPipeEnd(ctx, (e.pipe as any).pipe_id, (e.pipe as any).flags, 'pipes-data.img'),
};

interface MadePipe { r: number; w: number }

/** One end of pipe `pipeId`: the pipe is made (and refilled) the first time either end is wanted. */
export function openPipeEnd(ctx: RestoreFdCtx, pipeId: number, flags: number, dataFile: string): number {
  const key = `pipe:${pipeId}`;
  let p = ctx.state.get(key) as MadePipe | undefined;
  if (!p) {
    const [r, w] = pipe2(O_CLOEXEC);
    p = { r, w };
    ctx.state.set(key, p);
    const rec = (ctx.image(dataFile) ?? []).find((x) => Number(x.msg.pipe_id) === pipeId);
    if (rec) {
      if (rec.msg.size) { try { fcntl(w, F_SETPIPE_SZ, rec.msg.size); } catch { /* above pipe-max-size */ } }
      const data = rec.blob ?? Buffer.alloc(0);
      if (data.length !== rec.msg.bytes) throw new CriuError(`${ctx.who}: pipe ${pipeId}: ${dataFile} holds ${data.length} bytes, the entry says ${rec.msg.bytes}`);
      let off = 0;
      while (off < data.length) off += writeFd(w, data.subarray(off));
    }
  }
  const end = (flags & 3) === 1 ? p.w : p.r;
  // the very end (a dup shares the description), with its status flags
  fcntl(end, F_SETFL, flags & O_NONBLOCK);
  return fcntl(end, 1030 /* F_DUPFD_CLOEXEC */, 3);
}
