// FIFOs (named pipes). As CRIU does, the path and flags go to a reg_file_entry of their own id
// (`regf_id`), and the FIFO entry names that id and the pipe's inode (`pipe_id`); the buffered
// bytes go to fifo-data.img once per FIFO, read without taking them out.
//
// On restore an open of one end would wait for the other end; so the tool first opens the FIFO
// read-write (which never waits and keeps the FIFO alive), opens the wanted end, refills the
// buffer through its read-write end once per FIFO, then lets it go.
import * as fs from 'node:fs';
import { openInTree } from '../sys/tree-root.js';
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import type { FdLink, Fdinfo } from '../proc/index.js';
import { dumpReg, O } from './reg.js';
import { peekPipe } from './pipe.js';
import { fcntl, writeFd, close } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { dumpFown, where, O_CLOEXEC, O_NONBLOCK } from './fdparams.js';
import { FdTypes, type FileEntry, type FifoEntry, type PipeDataEntry } from '../images/gen/types.js';
import { statOnce } from './fd-stat.js';

const F_SETPIPE_SZ = 1031;
const S_IFMT = 0o170000,
  S_IFIFO = 0o010000;
export const FIFO_DATA = 'fifo-data.img';

/** Is this fd a FIFO? Seen through /proc/PID/fd/N when the caller says which fd, else by its path. */
export function isFifo(link: FdLink, info: Fdinfo, at?: { pid: number; fd: number }): boolean {
  if (link.kind !== 'path' || link.deleted) return false;
  try {
    const st = at ? statOnce(`/proc/${at.pid}/fd/${at.fd}`) : fs.statSync(link.path!, { bigint: true });
    return (Number(st.mode) & S_IFMT) === S_IFIFO && (at !== undefined || !info.ino || Number(st.ino) === info.ino);
  } catch {
    return false;
  }
}

/**
 * Save what is buffered in the FIFO, once per FIFO, at its first readable end as CRIU does (so
 * fifo-data.img is in CRIU's order); a FIFO the tree holds only write ends of is read at the end
 * of the dump, through a read end of the tool's own (CRIU saves no data for it).
 */
function dumpFifoData(ctx: DumpFdCtx, pipeId: number): void {
  const key = `fifo:${pipeId}`;
  if (ctx.files.seen.has(key)) return;
  const { pid, fd } = ctx;
  if ((ctx.info.flags & O.ACCMODE) === 1) {
    if (!ctx.extra.deferred.has(key))
      ctx.extra.deferred.set(key, () => {
        if (!ctx.files.seen.has(key)) readFifoData(ctx, pid, fd, pipeId, key);
      });
    return;
  }
  readFifoData(ctx, pid, fd, pipeId, key);
}

function readFifoData(ctx: DumpFdCtx, pid: number, fd: number, pipeId: number, key: string): void {
  ctx.files.seen.add(key);
  // a read end of our own (never waits with O_NONBLOCK): the task's fd may be write-only
  const r = fs.openSync(`/proc/${pid}/fd/${fd}`, fs.constants.O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  try {
    const { data, size } = peekPipe(r);
    const pde: PipeDataEntry = { pipe_id: pipeId, bytes: data.length, size };
    ctx.extra.add('FIFO_DATA', FIFO_DATA, pde, data);
  } finally {
    fs.closeSync(r);
  }
}

export function dumpFifo(ctx: DumpFdCtx, id: number): FileEntry {
  const statPath = `/proc/${ctx.pid}/fd/${ctx.fd}`;
  const st = statOnce(statPath);
  if ((Number(st.mode) & S_IFMT) !== S_IFIFO)
    throw new NotSupportedError(`${where(ctx, ctx.link.raw)}: not a FIFO any more`, { task: ctx.pid, object: `fd ${ctx.fd}` });
  const pipeId = Number(st.ino);
  const fd = ctx.takeFd();
  const rfId = ctx.files.allocId();
  const regEntry = dumpReg(rfId, ctx.link.path!, statPath, ctx.info.flags, ctx.info.pos);
  partOf(regEntry, 'reg', where(ctx, 'fifo')).fown = dumpFown(ctx, fd, 'fifo');
  ctx.files.add(regEntry);
  dumpFifoData(ctx, pipeId);
  const fifo: FifoEntry = { id, pipe_id: pipeId, regf_id: rfId };
  return { type: FdTypes.FIFO, id, fifo };
}

/** The FIFOs (by pipe_id) whose buffered bytes are put back already. */
export type FifoState = Set<number>;

export function openFifo(ctx: RestoreFdCtx, e: FileEntry, s: FifoState, who: string): number {
  const fifo = partOf(e, 'fifo', who);
  const regId = fifo.regf_id ?? fifo.id;
  const reg = ctx.file(regId)?.reg;
  if (!reg) throw new FileError(who, `FIFO ${fifo.id}: files.img has no path entry ${regId}`, { object: `file id ${regId}`, hint: 'the image is damaged' });
  let keep: number;
  try {
    keep = openInTree(reg.name, fs.constants.O_RDWR | O_NONBLOCK | O_CLOEXEC);
  } catch (err) {
    throw new FileError(who, `cannot open FIFO ${reg.name}: ${(err as Error).message}`, {
      object: reg.name,
      hint: 'the FIFO must exist at the same path as at dump time',
    });
  }
  try {
    if (!fs.fstatSync(keep).isFIFO()) throw new FileError(who, `${reg.name} is not a FIFO any more`, { object: reg.name });
    const flags = (reg.flags & ~(O.CREAT | O.EXCL | O.TRUNC | O.NOCTTY)) | O_CLOEXEC;
    const fd = openInTree(reg.name, flags);
    if (!s.has(fifo.pipe_id)) {
      s.add(fifo.pipe_id);
      const rec = (ctx.image(FIFO_DATA, 'FIFO_DATA') ?? []).find((x) => Number(x.msg.pipe_id) === fifo.pipe_id);
      if (rec) {
        const data = rec.blob ?? Buffer.alloc(0);
        if (data.length !== Number(rec.msg.bytes))
          throw new FileError(who, `FIFO ${reg.name}: ${FIFO_DATA} holds ${data.length} bytes, the entry says ${rec.msg.bytes}`, {
            object: FIFO_DATA,
            hint: 'the image is damaged',
          });
        if (rec.msg.size && data.length) {
          try {
            fcntl(keep, F_SETPIPE_SZ, Number(rec.msg.size));
          } catch {
            /* above pipe-max-size */
          }
        }
        let off = 0;
        while (off < data.length) off += writeFd(keep, data.subarray(off));
      }
    }
    return fd;
  } finally {
    close(keep);
  }
}

export const fifoKind: FileKind<FifoState> = {
  name: 'fifo',
  type: FdTypes.FIFO,
  field: 'fifo',
  priority: 800,
  match: isFifo,
  dump: dumpFifo,
  state: { create: () => new Set(), close: (s) => s.clear() },
  open: openFifo,
};
