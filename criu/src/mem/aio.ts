// AIO rings (io_setup), dump and restore side by side, as CRIU 4.2 keeps them (aio.c,
// proc_parse.c, parasite.c sane_ring, restorer.c restore_aio_ring). A ring is the kernel's
// shared mapping "/[aio] (deleted)" whose address is the context id (aio_context_t): a
// vma_entry with only VMA_AREA_AIORING in its status and MAP_SHARED in its flags, every page
// of it dumped, plus an aio_ring_entry in mm (id = the address, ring_len, nr_req = what
// io_setup must be asked for to make a ring of that size again). The restore maps a
// private anonymous stand-in there and fills it from the pages like any VMA; then, once
// every VMA is in place, the task makes a new ring by an injected io_setup, the tool moves the
// new ring's tail to the dumped one by completed writes to /dev/null and sets its head, copies
// the dumped events in, and an injected mremap puts the ring on the stand-in's place.
import * as fs from 'node:fs';
import type { SmapsVma } from '../proc/index.js';
import type { VmaRec } from '../dump/vmas.js';
import type { AioRingEntry, VmaEntry } from '../images/index.js';
import { VMA, MAP } from '../images/consts.js';
import type { Injector } from '../ptrace/inject.js';
import { errnoName } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';

const PAGE = 4096n;
/** struct aio_ring: id, nr, head, tail, magic, compat_features, incompat_features, header_length */
const HEADER = 32;
const IO_EVENT = 32;
const AIO_RING_MAGIC = 0xa10a10a1;
const IOCB_CMD_PWRITE = 1;

/** The kernel's name of a ring's mapping (CRIU's AIO_FNAME). */
export const isAioRing = (v: Pick<SmapsVma, 'path'>): boolean => v.path === '/[aio]';

interface RingHeader {
  nr: number;
  head: number;
  tail: number;
  magic: number;
  compat: number;
  incompat: number;
  headerLength: number;
}
function header(b: Buffer): RingHeader {
  return {
    nr: b.readUInt32LE(4),
    head: b.readUInt32LE(8),
    tail: b.readUInt32LE(12),
    magic: b.readUInt32LE(16),
    compat: b.readUInt32LE(20),
    incompat: b.readUInt32LE(24),
    headerLength: b.readUInt32LE(28),
  };
}

/** The events a ring of `len` bytes holds (the kernel's nr). */
const ringEvents = (len: bigint): number => Number((len - BigInt(HEADER)) / BigInt(IO_EVENT));

/**
 * What io_setup must be given to make a ring of `len` bytes (CRIU's aio_estimate_nr_reqs): the
 * kernel doubles the request, adds 2 and rounds the ring up to pages, so half of the events
 * less 2 come back to the same size.
 */
export function aioNrReqs(len: bigint): number {
  return Math.floor((ringEvents(len) - 2) / 2);
}

/**
 * The vma_entry of a ring (proc_parse.c: status VMA_AREA_AIORING alone, the flags MAP_SHARED),
 * after the sanity check of CRIU's parasite: the ring's header read from the task's memory
 * must be a ring of that size.
 */
export function aioVma(pid: number, v: SmapsVma, base: Omit<VmaRec, 'flags' | 'status'>, where: string): VmaRec {
  const len = v.end - v.start;
  if (len % PAGE || ringEvents(len) < 4) throw new CriuError(`${where}: an aio ring of ${len} bytes is no ring the kernel makes`, { task: pid });
  const b = Buffer.alloc(HEADER);
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    if (fs.readSync(fd, b, 0, HEADER, Number(v.start)) !== HEADER) throw new CriuError(`${where}: cannot read the aio ring's header`, { task: pid });
  } finally {
    fs.closeSync(fd);
  }
  const h = header(b);
  if (
    h.magic !== AIO_RING_MAGIC ||
    h.compat !== 1 ||
    h.incompat !== 0 ||
    h.headerLength !== HEADER ||
    h.nr !== ringEvents(len) ||
    h.head >= h.nr ||
    h.tail >= h.nr
  ) {
    throw new NotSupportedError(
      `${where}: an aio ring whose header is not the kernel's (magic ${h.magic.toString(16)}, nr ${h.nr}, head ${h.head}, tail ${h.tail})`,
      {
        task: pid,
      },
    );
  }
  return { ...base, pgoff: v.offset, flags: MAP.SHARED, status: VMA.AIORING, dumpPages: true, dumpAll: true, fileBacked: false, ringIno: v.inode };
}

/**
 * A ring mapped by two tasks of the tree: a child forked after io_setup keeps the ring's mapping
 * (the same pages) but not the context, which only the task that made it has. Restored, each
 * would get a ring and a context of its own: refused by name, naming both tasks.
 */
export function refuseInheritedRings(tasks: { pid: number; vmas: VmaRec[] }[]): void {
  const seen = new Map<number, number>();
  for (const t of tasks) {
    for (const v of t.vmas) {
      if (v.ringIno === undefined) continue;
      const other = seen.get(v.ringIno);
      if (other !== undefined && other !== t.pid)
        throw new NotSupportedError(
          `task ${t.pid}: VMA ${v.start.toString(16)}-${v.end.toString(16)}: an aio ring that task ${other} maps too (inherited across fork)`,
          {
            task: t.pid,
            hint: 'only the task that called io_setup has the context; unmap the ring in the child (or fork before io_setup)',
          },
        );
      seen.set(v.ringIno, t.pid);
    }
  }
}

/** mm's aio_ring_entry list: one per ring, in VMA order (aio.c dump_aio_ring). */
export function aioEntries(vmas: VmaRec[]): AioRingEntry[] {
  return vmas.filter((v) => v.status & VMA.AIORING).map((v) => ({ id: v.start, nr_req: aioNrReqs(v.end - v.start), ring_len: Number(v.end - v.start) }));
}

/** An aio ring to make again: its entry and its stand-in VMA of the images. */
export interface PlannedRing {
  addr: bigint;
  len: bigint;
  nrReq: number;
  madv: bigint;
}

/** The rings of a task's mm, each with the stand-in VMA at its address (the images must agree). */
export function plannedRings(pid: number, mm: { vmas?: VmaEntry[]; aios?: AioRingEntry[] }): PlannedRing[] {
  return (mm.aios ?? []).map((a) => {
    const addr = BigInt(a.id);
    const v = (mm.vmas ?? []).find((x) => BigInt(x.start) === addr && x.status & VMA.AIORING);
    if (!v || BigInt(v.end) - addr !== BigInt(a.ring_len))
      throw new CriuError(`task ${pid}: aio ring ${addr.toString(16)} (${a.ring_len} bytes) has no VMA_AREA_AIORING VMA of that size in mm-${pid}.img`, {
        task: pid,
        object: `aio ring ${addr.toString(16)}`,
      });
    return { addr, len: BigInt(a.ring_len), nrReq: a.nr_req, madv: BigInt(v.madv ?? 0) };
  });
}

/**
 * Make each ring again in the task (restorer.c restore_aio_ring): the stand-in at the ring's
 * address holds the dumped ring, pages filled. Runs once every VMA is in place and before the
 * madvise bits of the rings are set. `inj` has a scratch area of at least one page.
 */
export function restoreAioRings(inj: Injector, pid: number, rings: PlannedRing[]): void {
  for (const r of rings) restoreRing(inj, pid, r);
}

function restoreRing(inj: Injector, pid: number, r: PlannedRing): void {
  const who = `task ${pid}: aio ring ${r.addr.toString(16)}`;
  const fail = (what: string, res?: bigint): CriuError =>
    new CriuError(`${who}: ${what}${res !== undefined ? `: ${errnoName(Number(-res))}` : ''}`, { task: pid, object: `aio ring ${r.addr.toString(16)}` });
  const old = inj.read(r.addr, Number(r.len));
  const h = header(old);
  const s = inj.scratch;
  inj.write(s, Buffer.alloc(8));
  const rs = inj.call('io_setup', r.nrReq, s);
  if (rs < 0n) throw fail(`io_setup(${r.nrReq})`, rs);
  const ctx = inj.read(s, 8).readBigUInt64LE(0);
  const nh = header(inj.read(ctx, HEADER));
  const want = ringEvents(r.len);
  if (h.nr !== want || nh.nr !== want || h.head >= h.nr || h.tail >= h.nr)
    throw fail(`the new ring holds ${nh.nr} events, the dumped one ${h.nr} in ${r.len} bytes (head ${h.head}, tail ${h.tail})`);
  if (h.head || h.tail) moveTail(inj, ctx, h, fail);
  // the events as they were; the header is the new ring's (its id, and head and tail as set)
  inj.write(ctx + BigInt(HEADER), old.subarray(HEADER));
  const MREMAP_MAYMOVE = 1,
    MREMAP_FIXED = 2;
  const m = inj.call('mremap', ctx, r.len, r.len, MREMAP_MAYMOVE | MREMAP_FIXED, r.addr);
  if (m !== r.addr) throw fail(`mremap of the new ring from ${ctx.toString(16)}`, m < 0n ? m : undefined);
  for (let a = 0; a < 64; a++) if (r.madv & (1n << BigInt(a))) inj.call('madvise', r.addr, r.len, a);
  log.debug(`${who}: made again (nr ${h.nr}, head ${h.head}, tail ${h.tail})`);
}

/**
 * The kernel keeps the ring's tail to itself: it moves by completed requests only. Writes of
 * one byte to /dev/null complete at once, so `tail` of them (a full turn more when the tail is
 * behind the head, else the kernel's count of completed events would be off) bring it where it
 * was; the head is the ring's own word, set between the submissions so that their events never
 * fill the ring, and at the end to the dumped head.
 */
function moveTail(inj: Injector, ctx: bigint, h: RingHeader, fail: (what: string, res?: bigint) => CriuError): void {
  const s = inj.scratch;
  const path = inj.str('/dev/null', 0);
  const fd = inj.call('openat', -100, path, 1 /* O_WRONLY */, 0);
  if (fd < 0n) throw fail('open /dev/null for the ring', fd);
  const IOCB = s + 64n,
    BUF = s + 128n,
    PTRS = s + 256n;
  const iocb = Buffer.alloc(64);
  iocb.writeUInt16LE(IOCB_CMD_PWRITE, 16);
  iocb.writeUInt32LE(Number(fd), 20);
  iocb.writeBigUInt64LE(BUF, 24);
  iocb.writeBigUInt64LE(1n, 32);
  inj.write(IOCB, iocb);
  const count = h.tail < h.head ? h.nr + h.tail : h.tail;
  const maxr = Math.min(count, h.nr - 1, Math.floor((inj.scratchSize - 256) / 8));
  const ptrs = Buffer.alloc(8 * maxr);
  for (let i = 0; i < maxr; i++) ptrs.writeBigUInt64LE(IOCB, 8 * i);
  inj.write(PTRS, ptrs);
  const head = Buffer.alloc(4);
  try {
    for (let done = 0; done < count;) {
      const n = inj.call('io_submit', ctx, Math.min(count - done, maxr), PTRS);
      if (n <= 0n) throw fail(`io_submit to move the tail (${done} of ${count} done)`, n < 0n ? n : undefined);
      done += Number(n);
      // the events so far count as read: their slots are free again
      head.writeUInt32LE(done < h.head ? done : h.head);
      inj.write(ctx + 8n, head);
    }
  } finally {
    inj.call('close', fd);
  }
  const nh = header(inj.read(ctx, HEADER));
  if (nh.tail !== h.tail || nh.head !== h.head) throw fail(`head and tail came to ${nh.head}/${nh.tail}, not ${h.head}/${h.tail}`);
}
