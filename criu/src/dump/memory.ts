// Private memory of a frozen task → pagemap-PID.img entries and pages-N.img bytes.
// Pages are chosen by the page map (present or swapped; in private file mappings only the
// anonymous, COWed ones), read from /proc/PID/mem through one reused buffer and appended to
// the pages file; adjacent runs with the same flags become one pagemap entry, as in CRIU.
import * as fs from 'node:fs';
import { Pagemap, privateDumpQuery, mergeRegions, type PageRegion } from '../proc/pagemap.js';
import { lseek } from '../sys/libc.js';
import type { VmaRec } from './vmas.js';
import { VMA } from './vmas.js';

export const PE = { PARENT: 1, LAZY: 2, PRESENT: 4 } as const;
export const PAGE_SIZE = 4096;

export interface PagemapRec { vaddr: bigint; nr_pages: bigint; flags: number }
export interface MemStats { pagesScanned: bigint; pagesWritten: bigint; pagesLazy: bigint }

const CHUNK = 4 << 20;
let buffer: Buffer | null = null;

export function dumpMemory(pid: number, vmas: VmaRec[], pagesFd: number, stats: MemStats): PagemapRec[] {
  const out: PagemapRec[] = [];
  const mem = fs.openSync(`/proc/${pid}/mem`, 'r');
  const pm = new Pagemap(pid);
  buffer ??= Buffer.allocUnsafe(CHUNK);
  const buf = buffer;
  try {
    for (const v of vmas) {
      stats.pagesScanned += (v.end - v.start) / BigInt(PAGE_SIZE);
      if (!v.dumpPages) continue;
      const flags = v.status & (VMA.VDSO) || v.fileBacked ? PE.PRESENT : PE.LAZY | PE.PRESENT;
      const ranges: PageRegion[] = mergeRegions(pm.scan(v.start, v.end, privateDumpQuery(v.fileBacked)), undefined, undefined, true);
      for (const r of ranges) {
        const n = (r.end - r.start) / BigInt(PAGE_SIZE);
        const last = out[out.length - 1];
        if (last && last.flags === flags && last.vaddr + last.nr_pages * BigInt(PAGE_SIZE) === r.start) last.nr_pages += n;
        else out.push({ vaddr: r.start, nr_pages: n, flags });
        for (let a = r.start; a < r.end;) {
          const len = Number(r.end - a < BigInt(CHUNK) ? r.end - a : BigInt(CHUNK));
          const got = fs.readSync(mem, buf, 0, len, Number(a));
          if (got !== len) throw new Error(`task ${pid}: short read of memory at 0x${a.toString(16)} (${got} of ${len} bytes)`);
          let off = 0;
          while (off < len) off += fs.writeSync(pagesFd, buf, off, len - off);
          a += BigInt(len);
        }
        stats.pagesWritten += n;
        if (flags & PE.LAZY) stats.pagesLazy += 0n;
      }
    }
  } finally {
    fs.closeSync(mem);
    pm.close();
  }
  return out;
}

export interface ShmemObject { shmid: number; pid: number; start: bigint; end: bigint }

/**
 * The pages of one shared anonymous object, found by SEEK_DATA/SEEK_HOLE on the object itself
 * (through /proc/PID/map_files: pages another sharer touched, or swapped out, count too) and
 * recorded at their offsets in the object, as CRIU's pagemap-shmem images do.
 */
export function dumpShmem(o: ShmemObject, pagesFd: number, stats: MemStats): PagemapRec[] {
  const SEEK_DATA = 3, SEEK_HOLE = 4;
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
        let w = 0;
        while (w < len) w += fs.writeSync(pagesFd, buf, w, len - w);
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
