// Pages: runs of the pagemap read straight into the task by injected preadv; in VMAs a forked
// child shares with its parent each page is compared and written only where it differs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Puppet } from './puppet.js';
import { PAGE } from './puppet.js';
import type { DumpImages, TaskImages } from './images.js';
import { isSpecial } from './plan.js';
import type { Range, Run } from './task.js';
import { Pagemap, privateDumpQuery, mergeRegions } from '../proc/pagemap.js';
import type { VmaEntry, PagemapEntry } from '../images/index.js';
import { VMA, PE } from '../images/consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { addrOf, vmWritev, SysError } from '../sys/libc.js';

/** What stats-restore counts: pages restored, compared with the parent's, left shared. */
export const pageStats = { restored: 0n, compared: 0n, skippedCow: 0n };

/** The runs of present pages of a pagemap image: where each goes, and where it lies in the pages file. */
export function pagemapRuns(who: string, entries: PagemapEntry[], base: bigint, skip: Range[]): { runs: Run[]; bytes: bigint } {
  const runs: Run[] = [];
  let off = 0n;
  for (const e of entries) {
    const n = BigInt(e.nr_pages ?? e.compat_nr_pages) * PAGE;
    if ((e.flags ?? 0) & PE.PARENT || e.in_parent) throw new NotSupportedError(`${who}: pages in a parent image (incremental dumps)`);
    if (!((e.flags ?? 0) & PE.PRESENT)) continue;
    runs.push({ a: base + BigInt(e.vaddr), l: n, o: off });
    off += n;
  }
  // a run may go on past a skipped VMA into the next one (the vdso's pages, then ld.so's data
  // right above it on aarch64): only the skipped part is left out
  return { runs: skip.length ? splitRuns(runs, skip).outside : runs, bytes: off };
}

/** Injected preadv from a pages file straight into the task's memory, up to 1024 ranges a call. */
export function preadvRuns(p: Puppet, who: string, pagesPath: string, runs: Run[], bytes: bigint): void {
  let ours: number;
  try {
    ours = fs.openSync(pagesPath, 'r');
  } catch (e) {
    throw new CriuError(`${who}: cannot open ${pagesPath}: ${(e as Error).message}`, 'the pages file of this dump is missing');
  }
  const size = BigInt(fs.fstatSync(ours).size);
  if (bytes > size) {
    fs.closeSync(ours);
    throw new CriuError(`${who}: ${pagesPath} holds ${size} bytes, the pagemap needs ${bytes}`, 'the pages file is truncated');
  }
  const fd = p.receiveFd(ours);
  fs.closeSync(ours);
  const max = Math.floor(p.inj.scratchSize / 16);
  for (let i = 0; i < runs.length;) {
    const batch = [runs[i]];
    while (i + batch.length < runs.length && batch.length < max) {
      const last = batch[batch.length - 1],
        next = runs[i + batch.length];
      if (next.o !== last.o + last.l) break;
      batch.push(next);
    }
    const iov = Buffer.alloc(16 * batch.length);
    let want = 0n;
    batch.forEach((r, k) => {
      iov.writeBigUInt64LE(r.a, 16 * k);
      iov.writeBigUInt64LE(r.l, 16 * k + 8);
      want += r.l;
    });
    p.inj.write(p.scratch, iov);
    const got = p.inj.must('preadv', fd, p.scratch, batch.length, batch[0].o, 0);
    if (got !== want) {
      // a short read (over 2 GiB or a signal): continue where it stopped
      if (got <= 0n) throw new CriuError(`${who}: reading pages at offset ${batch[0].o} gave ${got} of ${want} bytes`);
      let left = got;
      while (left > 0n && left >= runs[i].l) {
        left -= runs[i].l;
        i++;
      }
      if (left > 0n) runs[i] = { a: runs[i].a + left, l: runs[i].l - left, o: runs[i].o + left };
      continue;
    }
    i += batch.length;
  }
  p.inj.must('close', fd);
}

/** The task's private pages, from its pagemap; the vdso's pages are the kernel's own. */
export function fillPages(p: Puppet, t: TaskImages, img: DumpImages, vmas: VmaEntry[], kept: Set<number>): void {
  const who = `task ${t.pid}`;
  const pagesPath = path.join(img.dir, `pages-${t.pagemap.head?.pages_id}.img`);
  const special = vmas.filter(isSpecial).map((v) => ({ s: BigInt(v.start), e: BigInt(v.end) }));
  const { runs, bytes } = pagemapRuns(who, t.pagemap.entries, 0n, special);
  const keptRanges = [...kept].map((i) => ({ s: BigInt(vmas[i].start), e: BigInt(vmas[i].end), file: !!(vmas[i].status & VMA.FILE_PRIVATE) }));
  const { inside, outside } = splitRuns(runs, keptRanges);
  preadvRuns(p, who, pagesPath, outside, bytes);
  if (keptRanges.length) {
    const { compared, skipped } = patchInherited(p.pid, who, pagesPath, inside);
    pageStats.compared += compared;
    pageStats.skippedCow += skipped;
    dropExtraPages(p, keptRanges, inside);
    log.info(`${who}: ${compared} pages compared with the parent's, ${skipped} left shared`);
  }
  pageStats.restored += bytes / PAGE;
  log.info(`${who}: ${bytes / PAGE} pages restored from ${pagesPath} in ${runs.length} runs`);
}

/** In VMAs shared with the parent: pages the child holds that are not in its image go (MADV_DONTNEED). */
function dropExtraPages(p: Puppet, ranges: { s: bigint; e: bigint; file: boolean }[], runs: Run[]): void {
  const pm = new Pagemap(p.pid);
  try {
    for (const r of ranges) {
      const present = mergeRegions(pm.scan(r.s, r.e, privateDumpQuery(r.file)), undefined, undefined, true);
      for (const reg of present) {
        // the region less the image's runs
        let a = reg.start;
        const cover = runs.filter((x) => x.a < reg.end && x.a + x.l > reg.start).sort((x, y) => (x.a < y.a ? -1 : 1));
        for (const c of [...cover, { a: reg.end, l: 0n, o: 0n }]) {
          if (c.a > a) p.inj.must('madvise', a, c.a - a, 4 /* MADV_DONTNEED */);
          if (c.a + c.l > a) a = c.a + c.l;
        }
      }
    }
  } finally {
    pm.close();
  }
}

/** Split runs of pages into those inside the given ranges and the rest. */
export function splitRuns(runs: Run[], ranges: Range[]): { inside: Run[]; outside: Run[] } {
  const rs = [...ranges].sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
  const inside: Run[] = [],
    outside: Run[] = [];
  for (const r of runs) {
    let a = r.a;
    const end = r.a + r.l;
    while (a < end) {
      const hit = rs.find((x) => a >= x.s && a < x.e);
      if (hit) {
        const e = hit.e < end ? hit.e : end;
        inside.push({ a, l: e - a, o: r.o + (a - r.a) });
        a = e;
      } else {
        const next = rs.find((x) => x.s > a && x.s < end);
        const e = next ? next.s : end;
        outside.push({ a, l: e - a, o: r.o + (a - r.a) });
        a = e;
      }
    }
  }
  return { inside, outside };
}

/**
 * Pages of VMAs a child shares with its parent: each page of the image is compared with what
 * the child sees, and written (breaking the sharing of that page only) where it differs. The
 * rest stays shared copy-on-write. The child's pages are read through /proc/PID/mem
 * (process_vm_readv pins them, and a pin of a shared anonymous page unshares it: the sharing
 * would be lost); the differing stretches of a chunk are written by one process_vm_writev, or
 * through /proc/PID/mem (which also reaches pages the child may not write) where it refuses.
 */
function patchInherited(pid: number, who: string, pagesPath: string, runs: Run[]): { compared: bigint; skipped: bigint } {
  let compared = 0n,
    skipped = 0n;
  const pages = fs.openSync(pagesPath, 'r');
  const mem = fs.openSync(`/proc/${pid}/mem`, 'r+');
  const CH = 1 << 20;
  const want = Buffer.allocUnsafe(CH),
    have = Buffer.allocUnsafe(CH);
  const local = Buffer.alloc(16 * (CH / 4096)),
    remote = Buffer.alloc(16 * (CH / 4096));
  const wantAt = addrOf(want);
  try {
    for (const r of runs) {
      for (let done = 0n; done < r.l;) {
        const len = Number(r.l - done < BigInt(CH) ? r.l - done : BigInt(CH));
        const at = r.a + done;
        if (fs.readSync(pages, want, 0, len, Number(r.o + done)) !== len) throw new CriuError(`${who}: ${pagesPath} is truncated`);
        fs.readSync(mem, have, 0, len, Number(at));
        // the differing pages, a stretch per iovec
        const stretches: [number, number][] = [];
        let from = -1;
        for (let off = 0; off <= len; off += 4096) {
          // off === len closes the last stretch
          const differs = off < len && want.compare(have, off, off + 4096, off, off + 4096) !== 0;
          if (off < len) {
            compared++;
            if (!differs) skipped++;
          }
          if (differs && from < 0) from = off;
          else if (!differs && from >= 0) {
            stretches.push([from, off - from]);
            from = -1;
          }
        }
        if (stretches.length) {
          let bytes = 0;
          stretches.forEach(([o, l], k) => {
            local.writeBigUInt64LE(wantAt + BigInt(o), 16 * k);
            local.writeBigUInt64LE(BigInt(l), 16 * k + 8);
            remote.writeBigUInt64LE(at + BigInt(o), 16 * k);
            remote.writeBigUInt64LE(BigInt(l), 16 * k + 8);
            bytes += l;
          });
          if (!writeChild(pid, local, remote, stretches.length, bytes)) for (const [o, l] of stretches) fs.writeSync(mem, want, o, l, Number(at) + o);
        }
        done += BigInt(len);
      }
    }
  } finally {
    fs.closeSync(pages);
    fs.closeSync(mem);
  }
  return { compared, skipped };
}

/** process_vm_writev of the stretches, false where it cannot write them all (read-only pages) */
function writeChild(pid: number, local: Buffer, remote: Buffer, n: number, bytes: number): boolean {
  try {
    return vmWritev(pid, local, n, remote, n) === bytes;
  } catch (e) {
    if (e instanceof SysError) return false;
    throw e;
  }
}
