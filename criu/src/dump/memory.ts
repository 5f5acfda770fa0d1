// Private memory of a frozen task → pagemap-PID.img entries and pages-N.img bytes.
// Pages are chosen by the page map (present or swapped; in private file mappings only the
// anonymous, COWed ones), read with batched process_vm_readv (or /proc/PID/mem, for what that
// cannot reach) into one reused buffer and appended to the pages file; adjacent runs with the
// same flags become one pagemap entry, as in CRIU.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Pagemap, mergeRegions, pageMatches, privateDumpQuery, PRIVATE_DUMP_SCAN, type PageRegion } from '../proc/pagemap.js';
import { lseek, splice, close, pidfdOpen, pidfdGetfd, addrOf, vmReadv } from '../sys/libc.js';
import { Injector } from '../ptrace/inject.js';
import type { Tracee } from '../ptrace/tracee.js';
import type { Injections } from './collect.js';
import { progress } from '../progress.js';
import { writeAll } from '../sys/io.js';
import { CriuError } from '../errors.js';
import type { VmaRec } from './vmas.js';
import { VMA, MAP } from './vmas.js';
import { withoutGuards } from '../mem/guard.js';

import { PE } from '../images/consts.js';

export { PE };
export const PAGE_SIZE = 4096;

export interface PagemapRec {
  vaddr: bigint;
  nr_pages: bigint;
  flags: number;
}
export interface MemStats {
  pagesScanned: bigint;
  pagesWritten: bigint;
  pagesLazy: bigint;
}

const CHUNK = 4 << 20;
let moved = 0;
let buffer: Buffer | null = null;

/** Moves runs of a task's memory, in order, to the end of a pages file. */
export interface PageMover {
  move(runs: { a: bigint; l: bigint }[], out: number): void;
  close(): void;
}

/**
 * The runs, in order, cut into pieces that fill the reused buffer; `piece` reads each into it
 * at `off`, `ready` (when given) completes the reads before a buffer-full is written out.
 * A sparse memory of many one-page runs costs few writes.
 */
function fillAndWrite(
  runs: { a: bigint; l: bigint }[],
  out: number,
  piece: (buf: Buffer, a: bigint, len: number, off: number) => void,
  ready?: () => void,
): void {
  buffer ??= Buffer.allocUnsafe(CHUNK);
  const buf = buffer;
  let filled = 0;
  const flush = (): void => {
    ready?.();
    writeAll(out, buf, filled);
    moved += filled;
    filled = 0;
    progress.show(`criu: ${(moved / 1048576).toFixed(0)} MiB of pages written`, false, { kind: 'pages', bytes: moved });
  };
  for (const r of runs) {
    for (let a = r.a, end = r.a + r.l; a < end;) {
      if (filled === CHUNK) flush();
      const len = Number(end - a < BigInt(CHUNK - filled) ? end - a : BigInt(CHUNK - filled));
      piece(buf, a, len, filled);
      filled += len;
      a += BigInt(len);
    }
  }
  flush();
}

/** Through /proc/PID/mem and one reused buffer: works on any mapping, readable or not. */
export class MemFileMover implements PageMover {
  private fd: number;
  constructor(readonly pid: number) {
    this.fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  }
  move(runs: { a: bigint; l: bigint }[], out: number): void {
    fillAndWrite(runs, out, (buf, a, len, off) => this.readInto(buf, off, len, a));
  }
  /** len bytes of the task's memory at a, into buf at off. */
  readInto(buf: Buffer, off: number, len: number, a: bigint): void {
    let got: number;
    try {
      got = fs.readSync(this.fd, buf, off, len, Number(a));
    } catch (e) {
      throw new CriuError(`task ${this.pid}: short read of memory at 0x${a.toString(16)} (0 of ${len} bytes: ${(e as { code?: string }).code ?? e})`, {
        task: this.pid,
        object: `memory at 0x${a.toString(16)}`,
      });
    }
    if (got !== len)
      throw new CriuError(`task ${this.pid}: short read of memory at 0x${a.toString(16)} (${got} of ${len} bytes)`, {
        task: this.pid,
        object: `memory at 0x${a.toString(16)}`,
      });
  }
  close(): void {
    fs.closeSync(this.fd);
  }
}

const IOV_MAX = 1024;

/**
 * The default for readable mappings: process_vm_readv with up to IOV_MAX runs of the task's
 * memory per call, straight into the reused buffer, which is written out a buffer-full at a
 * time. A sparse memory of one-page runs costs one call per 1024 runs instead of one per run.
 * Whatever process_vm_readv does not deliver (a page it cannot reach) is read through
 * /proc/PID/mem, which reaches everything.
 */
export class ReadvMover implements PageMover {
  private readonly riov = Buffer.alloc(16 * IOV_MAX);
  private readonly liov = Buffer.alloc(16);
  constructor(
    readonly pid: number,
    private readonly slow: MemFileMover,
  ) {}
  move(runs: { a: bigint; l: bigint }[], out: number): void {
    const riov = this.riov;
    let n = 0,
      start = 0,
      want = 0; // pieces pending, where in the buffer they begin, their bytes
    let buf: Buffer | null = null;
    const read = (): void => {
      if (!n || !buf) return;
      this.liov.writeBigUInt64LE(addrOf(buf) + BigInt(start), 0);
      this.liov.writeBigUInt64LE(BigInt(want), 8);
      let got = 0;
      try {
        got = vmReadv(this.pid, this.liov, 1, riov, n);
      } catch {
        got = 0;
      }
      if (got < want) {
        // the rest, run by run, the slow way
        let off = start;
        for (let k = 0; k < n; k++) {
          const a = riov.readBigUInt64LE(16 * k),
            l = Number(riov.readBigUInt64LE(16 * k + 8));
          const skip = Math.max(0, Math.min(l, start + got - off));
          if (skip < l) this.slow.readInto(buf, off + skip, l - skip, a + BigInt(skip));
          off += l;
        }
      }
      n = 0;
      want = 0;
    };
    fillAndWrite(
      runs,
      out,
      (b, a, len, off) => {
        if (n === IOV_MAX) read();
        if (!n) {
          buf = b;
          start = off;
        }
        riov.writeBigUInt64LE(a, 16 * n);
        riov.writeBigUInt64LE(BigInt(len), 16 * n + 8);
        n++;
        want += len;
      },
      read,
    );
  }
  close(): void {
    /* the slow mover is closed by its owner */
  }
}

/**
 * Without a copy through the tool (DESIGN.md): a pipe made in the task by an injected pipe2,
 * whose read end the tool takes with pidfd_getfd; an injected vmsplice(SPLICE_F_GIFT) puts up to
 * a pipe-full of the task's pages in it by reference, and the tool splices them into the pages
 * file. Readable mappings only.
 */
export class VmspliceMover implements PageMover {
  private r = -1;
  private w = -1;
  private mine = -1;
  private pidfd = -1;
  private size = 0;
  constructor(readonly inj: Injector) {
    const s = inj.scratch;
    inj.must('pipe2', s, 0o2000000 /* O_CLOEXEC */);
    const fds = inj.read(s, 8);
    this.r = fds.readInt32LE(0);
    this.w = fds.readInt32LE(4);
    const F_SETPIPE_SZ = 1031;
    this.size = Number(inj.call('fcntl', this.w, F_SETPIPE_SZ, PIPE_MAX));
    if (this.size <= 0) this.size = Number(inj.must('fcntl', this.w, 1032 /* F_GETPIPE_SZ */, 0));
    this.pidfd = pidfdOpen(inj.tid);
    this.mine = pidfdGetfd(this.pidfd, this.r);
  }
  move(runs: { a: bigint; l: bigint }[], out: number): void {
    const max = Math.min(1024, Math.floor(this.inj.scratchSize / 16));
    const pipeSize = BigInt(this.size);
    let i = 0,
      done = 0n; // run i, bytes of it already moved
    while (i < runs.length) {
      const iov = Buffer.alloc(16 * max);
      let n = 0,
        total = 0n;
      for (let k = i, skip = done; k < runs.length && n < max && total < pipeSize; k++, skip = 0n) {
        const l0 = runs[k].l - skip;
        const l = l0 < pipeSize - total ? l0 : pipeSize - total;
        iov.writeBigUInt64LE(runs[k].a + skip, 16 * n);
        iov.writeBigUInt64LE(l, 16 * n + 8);
        n++;
        total += l;
      }
      this.inj.write(this.inj.scratch, iov.subarray(0, 16 * n));
      const got = this.inj.must('vmsplice', this.w, this.inj.scratch, n, 8 /* SPLICE_F_GIFT */);
      for (let moved = 0; moved < Number(got);) moved += splice(this.mine, null, out, null, Number(got) - moved, 1 /* SPLICE_F_MOVE */);
      // advance over what went through
      let left = got;
      while (left > 0n) {
        const rest = runs[i].l - done;
        if (left >= rest) {
          left -= rest;
          i++;
          done = 0n;
        } else {
          done += left;
          left = 0n;
        }
      }
    }
  }
  close(): void {
    if (this.mine >= 0) close(this.mine);
    if (this.pidfd >= 0) close(this.pidfd);
    for (const fd of [this.r, this.w]) if (fd >= 0) this.inj.call('close', fd);
    this.mine = this.pidfd = this.r = this.w = -1;
  }
}

const PIPE_MAX = 1 << 20;

/** The pages worth dumping of every VMA, into pagemap entries, moved by `fast` where it can. */
export function dumpMemory(pid: number, vmas: VmaRec[], pagesFd: number, stats: MemStats, fast?: PageMover): PagemapRec[] {
  const out: PagemapRec[] = [];
  const pm = new Pagemap(pid);
  const slow = new MemFileMover(pid);
  fast ??= new ReadvMover(pid, slow);
  try {
    let batch: { a: bigint; l: bigint }[] = [];
    let batchFast = true;
    const flush = (): void => {
      if (batch.length) (batchFast && fast ? fast : slow).move(batch, pagesFd);
      batch = [];
    };
    // one scan over every VMA with pages to dump (not one per VMA): present or swapped pages,
    // not the zero page, with PAGE_IS_FILE telling a file mapping's own pages from its COWed ones
    const dumped = vmas.filter((v) => v.dumpPages);
    const all = dumped.length ? pm.scan(dumped[0].start, dumped[dumped.length - 1].end, withoutGuards(PRIVATE_DUMP_SCAN)) : [];
    let ri = 0;
    for (const v of vmas) {
      stats.pagesScanned += (v.end - v.start) / BigInt(PAGE_SIZE);
      if (!v.dumpPages) continue;
      // as CRIU's vma_entry_can_be_lazy: not the vdso, an aio ring, a file's or hugetlb memory
      const flags = v.status & (VMA.VDSO | VMA.AIORING) || v.fileBacked || v.flags & MAP.HUGETLB ? PE.PRESENT : PE.LAZY | PE.PRESENT;
      const readable = (v.prot & 1) !== 0;
      if (readable !== batchFast) {
        flush();
        batchFast = readable;
      }
      while (ri < all.length && all[ri].end <= v.start) ri++;
      const mine: PageRegion[] = [];
      const rule = privateDumpQuery(v.fileBacked);
      for (let k = ri; k < all.length && all[k].start < v.end; k++) {
        const r = all[k];
        if (!pageMatches(r.categories, rule)) continue;
        mine.push({ start: r.start > v.start ? r.start : v.start, end: r.end < v.end ? r.end : v.end, categories: r.categories });
      }
      const ranges: PageRegion[] = v.dumpAll ? [{ start: v.start, end: v.end, categories: 0 }] : mergeRegions(mine, undefined, undefined, true);
      for (const r of ranges) {
        const n = (r.end - r.start) / BigInt(PAGE_SIZE);
        const last = out[out.length - 1];
        if (last && last.flags === flags && last.vaddr + last.nr_pages * BigInt(PAGE_SIZE) === r.start) last.nr_pages += n;
        else out.push({ vaddr: r.start, nr_pages: n, flags });
        batch.push({ a: r.start, l: r.end - r.start });
        stats.pagesWritten += n;
      }
    }
    flush();
  } finally {
    slow.close();
    pm.close();
  }
  return out;
}

export interface ShmemObject {
  shmid: number;
  pid: number;
  start: bigint;
  end: bigint;
}

/**
 * The pages of one shared anonymous object, found by SEEK_DATA/SEEK_HOLE on the object itself
 * (through /proc/PID/map_files: pages another sharer touched, or swapped out, count too) and
 * recorded at their offsets in the object, as CRIU's pagemap-shmem images do.
 */
export function dumpShmem(o: ShmemObject, pagesFd: number, stats: MemStats): PagemapRec[] {
  const SEEK_DATA = 3,
    SEEK_HOLE = 4;
  const fd = fs.openSync(`/proc/${o.pid}/map_files/${o.start.toString(16)}-${o.end.toString(16)}`, 'r');
  const out: PagemapRec[] = [];
  buffer ??= Buffer.allocUnsafe(CHUNK);
  const buf = buffer;
  try {
    const size = BigInt(fs.fstatSync(fd).size);
    let off = 0n;
    while (off < size) {
      let data: bigint, hole: bigint;
      try {
        data = lseek(fd, off, SEEK_DATA);
      } catch (e) {
        if ((e as { code?: string }).code === 'ENXIO') break;
        throw e;
      }
      hole = lseek(fd, data, SEEK_HOLE);
      if (hole > size) hole = size;
      const n = (hole - data + BigInt(PAGE_SIZE) - 1n) / BigInt(PAGE_SIZE);
      out.push({ vaddr: data, nr_pages: n, flags: PE.PRESENT });
      for (let a = data; a < data + n * BigInt(PAGE_SIZE);) {
        const len = Number(data + n * BigInt(PAGE_SIZE) - a < BigInt(CHUNK) ? data + n * BigInt(PAGE_SIZE) - a : BigInt(CHUNK));
        buf.fill(0, 0, len);
        fs.readSync(fd, buf, 0, len, Number(a));
        writeAll(pagesFd, buf, len);
        a += BigInt(len);
      }
      stats.pagesWritten += n;
      off = data + n * BigInt(PAGE_SIZE);
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** A shared anonymous object's pagemap: its pages file and runs. */
export interface ShmemMap {
  shmid: number;
  pagesId: number;
  entries: PagemapRec[];
}

/** What the memory step wrote: per task its runs (in pages-1..N), then the shared objects'. */
export interface TreePages {
  pagemaps: PagemapRec[][];
  shmemMaps: ShmemMap[];
}

/**
 * Every task's private memory, one pages file per task in pstree order, then the shared anonymous
 * objects, once each. `tracees[i]`: task i's main thread (for CRIU_PAGE_MOVER=vmsplice);
 * `written` gets each file as it is created; `injections` holds an injector while it is begun.
 */
export function dumpPages(
  dir: string,
  tasks: { pid: number; gadget: bigint; vmas: VmaRec[] }[],
  tracees: Tracee[],
  lastPagesId: number,
  stats: MemStats,
  written: string[],
  injections: Injections,
): TreePages {
  const pagemaps: PagemapRec[][] = [];
  tasks.forEach((t, i) => {
    const pagesName = `pages-${i + 1}.img`;
    const pagesFd = fs.openSync(path.join(dir, pagesName), 'w', 0o600);
    written.push(pagesName);
    // Pages go through batched process_vm_readv by default (/proc/PID/mem for what it cannot
    // reach): on this kernel that measured faster than vmsplice into a pipe spliced to the file
    // (0.7-2 GB/s); CRIU_PAGE_MOVER=vmsplice picks the zero-copy path (criu/ARCHITECTURE.md)
    let inj: Injector | undefined;
    let mover: VmspliceMover | undefined;
    if (process.env.CRIU_PAGE_MOVER === 'vmsplice') {
      inj = new Injector(tracees[i], t.gadget);
      injections.active = [inj];
      inj.begin();
      inj.mapScratch();
      mover = new VmspliceMover(inj);
    }
    try {
      pagemaps.push(dumpMemory(t.pid, t.vmas, pagesFd, stats, mover));
    } finally {
      mover?.close();
      fs.closeSync(pagesFd);
    }
    if (inj) {
      inj.unmapScratch();
      inj.end();
      injections.active = [];
    }
  });
  return { pagemaps, shmemMaps: dumpShmems(dir, tasks, lastPagesId, stats, written) };
}

/** shared anonymous objects: once each, after the tasks' own pages (pages-N.img from lastPagesId + 1) */
function dumpShmems(dir: string, tasks: { pid: number; vmas: VmaRec[] }[], lastPagesId: number, stats: MemStats, written: string[]): ShmemMap[] {
  const shmems = new Map<number, ShmemObject>();
  for (const t of tasks) {
    for (const v of t.vmas)
      if (v.status & VMA.ANON_SHARED && !shmems.has(v.shmid)) shmems.set(v.shmid, { shmid: v.shmid, pid: t.pid, start: v.start, end: v.end });
  }
  let pagesId = lastPagesId;
  const shmemMaps: ShmemMap[] = [];
  for (const o of shmems.values()) {
    const id = ++pagesId;
    const pagesName = `pages-${id}.img`;
    const pagesFd = fs.openSync(path.join(dir, pagesName), 'w', 0o600);
    written.push(pagesName);
    try {
      shmemMaps.push({ shmid: o.shmid, pagesId: id, entries: dumpShmem(o, pagesFd, stats) });
    } finally {
      fs.closeSync(pagesFd);
    }
  }
  return shmemMaps;
}
