// Which pages of a task exist: PAGEMAP_SCAN (6.7+) on /proc/PID/pagemap, with a fallback that
// reads the u64-per-page entries of the same file. Both give merged page ranges for a query.
//
// DESIGN rule 5: resume a scan from max(walk_end, end of the last returned region), because 6.18
// can hand back the last batch again; regions are merged (and duplicates absorbed) afterwards.
// DESIGN rule 11: private pages are selected by the page map, not by write permission.
import { openSync, closeSync } from 'node:fs';
import { ioctl, pread, addrOf, libc, koffi, SysError, E } from '../sys/libc.js';
import { rethrowGone } from './util.js';
import { CriuError } from '../errors.js';
import { readMaps, type Vma } from './maps.js';

export const PAGE_SIZE = 4096;
const PAGE_SHIFT = 12n;

// linux/fs.h (6.7+; PAGE_IS_GUARD 6.14+)
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
export const PAGE_IS_GUARD = 1 << 8;
export const PM_SCAN_WP_MATCHING = 1 << 0;
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;
/** struct pm_scan_arg: 12 × u64 */
export const PM_SCAN_ARG_SIZE = 96;
/** struct page_region: start, end, categories (u64 each) */
export const PAGE_REGION_SIZE = 24;
/** _IOWR('f', 16, struct pm_scan_arg) */
export const PAGEMAP_SCAN = ((3 << 30) >>> 0) + (PM_SCAN_ARG_SIZE << 16) + (0x66 << 8) + 16;

// /proc/PID/pagemap entry bits
export const PM_PFN_MASK = (1n << 55n) - 1n;
export const PM_SOFT_DIRTY = 1n << 55n;
export const PM_MMAP_EXCLUSIVE = 1n << 56n;
export const PM_UFFD_WP = 1n << 57n;
export const PM_FILE = 1n << 61n;
export const PM_SWAP = 1n << 62n;
export const PM_PRESENT = 1n << 63n;

/** One run of pages [start, end) whose categories (& return mask) are equal. */
export interface PageRegion {
  start: bigint;
  end: bigint;
  categories: number;
}

/** The page selection of PAGEMAP_SCAN: a page matches when, with `categoryInverted` bits flipped,
 *  it has every bit of `categoryMask` and (if non-zero) at least one bit of `anyofMask`. */
export interface ScanQuery {
  categoryMask?: number;
  categoryInverted?: number;
  anyofMask?: number;
  /** categories reported per region (regions split where these differ); default PRESENT|SWAPPED */
  returnMask?: number;
  /** stop after this many pages (0: no limit) */
  maxPages?: number;
  /** PM_SCAN_* flags (ioctl path only) */
  flags?: number;
}

/** The kernel's pagemap_scan_is_interesting_page(). */
export function pageMatches(categories: number, q: ScanQuery): boolean {
  const c = categories ^ (q.categoryInverted ?? 0);
  const mask = q.categoryMask ?? 0,
    any = q.anyofMask ?? 0;
  if ((c & mask) !== mask) return false;
  if (any && !(c & any)) return false;
  return true;
}

/**
 * Sort, clip to [start, end) and merge regions: overlapping or adjacent regions with equal
 * categories become one (so a batch the kernel returned twice disappears); with
 * `ignoreCategories` every touching region merges and categories are OR-ed.
 */
export function mergeRegions(regions: readonly PageRegion[], start?: bigint, end?: bigint, ignoreCategories = false): PageRegion[] {
  const rs = regions
    .map((r) => ({
      start: start !== undefined && r.start < start ? start : r.start,
      end: end !== undefined && r.end > end ? end : r.end,
      categories: r.categories,
    }))
    .filter((r) => r.start < r.end);
  // the kernel returns regions in address order: sort only when they are not
  let sorted = true;
  for (let i = 1; i < rs.length && sorted; i++) {
    const a = rs[i - 1],
      b = rs[i];
    if (a.start > b.start || (a.start === b.start && a.end > b.end)) sorted = false;
  }
  if (!sorted) rs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end < b.end ? -1 : a.end > b.end ? 1 : 0));
  const out: PageRegion[] = [];
  for (const r of rs) {
    const p = out[out.length - 1];
    if (p && r.start <= p.end && (ignoreCategories || p.categories === r.categories)) {
      if (r.end > p.end) p.end = r.end;
      if (ignoreCategories) p.categories |= r.categories;
      continue;
    }
    if (p && r.start < p.end) {
      // overlap with different categories: the earlier region keeps the overlap
      if (r.end <= p.end) continue;
      r.start = p.end;
    }
    out.push(r);
  }
  return out;
}

/** Where the next PAGEMAP_SCAN call starts: max(walk_end, end of the last returned region). */
export function nextScanStart(walkEnd: bigint, regions: readonly PageRegion[], from: bigint): bigint {
  let next = walkEnd > from ? walkEnd : from;
  const last = regions[regions.length - 1];
  if (last && last.end > next) next = last.end;
  return next;
}

/** One PAGEMAP_SCAN call: the regions it filled and its walk_end. */
export type ScanCall = (start: bigint, end: bigint) => { regions: PageRegion[]; walkEnd: bigint };

/**
 * Drive scan calls over [start, end) with the resume rule until the walk reaches `end`; the
 * result is merged. Pure: `call` is the ioctl, or a fake in tests.
 */
export function scanLoop(start: bigint, end: bigint, call: ScanCall, maxPages = 0): PageRegion[] {
  const acc: PageRegion[] = [];
  let cur = start,
    pages = 0n;
  while (cur < end) {
    const { regions, walkEnd } = call(cur, end);
    for (const r of regions) {
      acc.push(r);
      pages += (r.end - r.start) >> PAGE_SHIFT;
    }
    const next = nextScanStart(walkEnd, regions, cur);
    if (next <= cur)
      throw new CriuError(`PAGEMAP_SCAN made no progress at 0x${cur.toString(16)} (walk_end 0x${walkEnd.toString(16)})`, {
        object: `pages at 0x${cur.toString(16)}`,
      });
    cur = next;
    if (maxPages && pages >= BigInt(maxPages)) break;
  }
  return mergeRegions(acc, start, end);
}

const DEFAULT_RETURN = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
const FALLBACK_CATEGORIES = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE | PAGE_IS_SOFT_DIRTY | PAGE_IS_WRITTEN | PAGE_IS_PFNZERO;

let scanSupported: boolean | undefined;
/** Does this kernel have PAGEMAP_SCAN? (an empty scan of our own pagemap; cached) */
export function hasPagemapScan(): boolean {
  if (scanSupported !== undefined) return scanSupported;
  const fd = openSync('/proc/self/pagemap', 'r');
  try {
    const arg = Buffer.alloc(PM_SCAN_ARG_SIZE);
    arg.writeBigUInt64LE(BigInt(PM_SCAN_ARG_SIZE), 0);
    arg.writeBigUInt64LE(BigInt(PAGE_IS_PRESENT), 88);
    ioctl(fd, PAGEMAP_SCAN, arg);
    scanSupported = true;
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    scanSupported = false;
  } finally {
    closeSync(fd);
  }
  return scanSupported;
}

let zeroPfnCache: number | null | undefined;
/**
 * PFN of the shared zero page (what a read-only-touched anonymous page maps), learnt from a page
 * of our own and confirmed by /proc/kpageflags; null when PFNs are hidden (no CAP_SYS_ADMIN) or
 * the kernel gave us no zero page. The fallback uses it for PFNZERO (without it, zero pages count
 * as ordinary present pages: dumped, which is harmless).
 */
export function zeroPfn(): number | null {
  if (zeroPfnCache !== undefined) return zeroPfnCache;
  const mmap = libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)');
  const munmap = libc.func('int munmap(void *addr, size_t len)');
  const p: unknown = mmap(null, PAGE_SIZE, 1 /* PROT_READ */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
  const addr = BigInt(koffi.address(p) as number | bigint);
  zeroPfnCache = null;
  if (addr !== 0xffffffffffffffffn) {
    try {
      koffi.decode(p, 'uint8_t'); // a read fault maps the zero page
      const fd = openSync('/proc/self/pagemap', 'r');
      try {
        const b = Buffer.alloc(8);
        pread(fd, b, 8, Number(addr >> PAGE_SHIFT) * 8);
        const e = b.readBigUInt64LE(0);
        const pfn = Number(e & PM_PFN_MASK);
        // Trust it only when /proc/kpageflags says KPF_ZERO_PAGE: some kernels (this 6.18 VM)
        // give a read fault a fresh anonymous page, whose PFN is reused once we unmap it.
        if (e & PM_PRESENT && pfn !== 0 && isZeroPagePfn(pfn)) zeroPfnCache = pfn;
      } finally {
        closeSync(fd);
      }
    } finally {
      munmap(p, PAGE_SIZE);
    }
  }
  return zeroPfnCache;
}

const KPF_ZERO_PAGE = 24;
function isZeroPagePfn(pfn: number): boolean {
  let fd: number;
  try {
    fd = openSync('/proc/kpageflags', 'r');
  } catch {
    return false;
  }
  try {
    const b = Buffer.alloc(8);
    if (pread(fd, b, 8, pfn * 8) !== 8) return false;
    return ((b.readBigUInt64LE(0) >> BigInt(KPF_ZERO_PAGE)) & 1n) === 1n;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

let chunk: Buffer | undefined;
const CHUNK_ENTRIES = 1 << 17; // 1 MiB of entries = 512 MiB of address space per pread

/**
 * Regions of [start, end) that match `q`, computed from /proc/PID/pagemap entries of an open
 * pagemap fd. Only categories a pagemap entry can tell are supported: PRESENT, SWAPPED, FILE,
 * SOFT_DIRTY, WRITTEN (not uffd-wp), PFNZERO (when the zero PFN is known).
 */
export function regionsFromPagemapFd(fd: number, start: bigint, end: bigint, q: ScanQuery): PageRegion[] {
  const used = (q.categoryMask ?? 0) | (q.categoryInverted ?? 0) | (q.anyofMask ?? 0) | (q.returnMask ?? DEFAULT_RETURN);
  if (used & ~FALLBACK_CATEGORIES)
    throw new CriuError(`pagemap fallback cannot tell categories 0x${(used & ~FALLBACK_CATEGORIES).toString(16)} (WPALLOWED/HUGE/GUARD need PAGEMAP_SCAN)`);
  const ret = q.returnMask ?? DEFAULT_RETURN;
  const zp = used & PAGE_IS_PFNZERO ? zeroPfn() : null;
  const zlo = zp === null ? -1 : zp % 0x100000000,
    zhi = zp === null ? -1 : Math.floor(zp / 0x100000000);
  const buf = (chunk ??= Buffer.alloc(CHUNK_ENTRIES * 8));
  const out: PageRegion[] = [];
  let runStart = -1,
    runCats = 0;
  const startPg = Number(start >> PAGE_SHIFT),
    endPg = Number((end + BigInt(PAGE_SIZE - 1)) >> PAGE_SHIFT);
  const maxPages = q.maxPages ?? 0;
  let matched = 0;
  const flush = (pg: number): void => {
    if (runStart >= 0) out.push({ start: BigInt(runStart) << PAGE_SHIFT, end: BigInt(pg) << PAGE_SHIFT, categories: runCats });
    runStart = -1;
  };
  let pg = startPg;
  while (pg < endPg) {
    const n = Math.min(CHUNK_ENTRIES, endPg - pg);
    const got = pread(fd, buf, n * 8, pg * 8) >> 3;
    if (got <= 0) break;
    for (let i = 0; i < got; i++, pg++) {
      const hi = buf.readUInt32LE(i * 8 + 4);
      let cats = 0;
      if (hi & 0x80000000) {
        cats |= PAGE_IS_PRESENT;
        if (zp !== null && (hi & 0x7fffff) === zhi && buf.readUInt32LE(i * 8) === zlo) cats |= PAGE_IS_PFNZERO;
      }
      if (hi & 0x40000000) cats |= PAGE_IS_SWAPPED;
      if (cats && !(hi & 0x02000000)) cats |= PAGE_IS_WRITTEN;
      if (hi & 0x20000000) cats |= PAGE_IS_FILE;
      if (hi & 0x00800000) cats |= PAGE_IS_SOFT_DIRTY;
      if (pageMatches(cats, q)) {
        const rc = cats & ret;
        if (runStart >= 0 && rc !== runCats) flush(pg);
        if (runStart < 0) {
          runStart = pg;
          runCats = rc;
        }
        if (maxPages && ++matched >= maxPages) {
          flush(pg + 1);
          return out;
        }
      } else if (runStart >= 0) {
        flush(pg);
      }
    }
  }
  flush(pg);
  return mergeRegions(out, start, end);
}

/** VMAs the kernel's scan walks (PAGEMAP_SCAN skips VM_PFNMAP areas like [vvar]; [vsyscall] is no VMA). */
function walkedVmas(vmas: readonly Pick<Vma, 'start' | 'end' | 'kind'>[]): Pick<Vma, 'start' | 'end' | 'kind'>[] {
  return vmas.filter((v) => v.kind !== 'vvar' && v.kind !== 'vvar_vclock' && v.kind !== 'vsyscall');
}

/** /proc/PID/pagemap opened once for the many scans of one task; close() when done. */
export class Pagemap {
  readonly fd: number;
  private arg = Buffer.alloc(PM_SCAN_ARG_SIZE);
  private vec: Buffer;
  private vecLen: number;
  private vmas?: Pick<Vma, 'start' | 'end' | 'kind'>[];

  /** `vecLen`: page_region slots per ioctl (small values exercise the resume path). */
  constructor(
    readonly pid: number,
    opts: { vecLen?: number } = {},
  ) {
    try {
      this.fd = openSync(`/proc/${pid}/pagemap`, 'r');
    } catch (e) {
      rethrowGone(e, pid);
    }
    this.vecLen = opts.vecLen ?? 4096;
    this.vec = Buffer.alloc(this.vecLen * PAGE_REGION_SIZE);
  }
  close(): void {
    closeSync(this.fd);
  }

  /** PAGEMAP_SCAN when the kernel has it, else the pagemap entries. */
  scan(start: bigint, end: bigint, q: ScanQuery = {}): PageRegion[] {
    return hasPagemapScan() ? this.scanIoctl(start, end, q) : this.scanEntries(start, end, q);
  }

  /** One raw PAGEMAP_SCAN ioctl. */
  scanOnce(start: bigint, end: bigint, q: ScanQuery): { regions: PageRegion[]; walkEnd: bigint } {
    const a = this.arg;
    a.writeBigUInt64LE(BigInt(PM_SCAN_ARG_SIZE), 0);
    a.writeBigUInt64LE(BigInt(q.flags ?? 0), 8);
    a.writeBigUInt64LE(start, 16);
    a.writeBigUInt64LE(end, 24);
    a.writeBigUInt64LE(0n, 32);
    a.writeBigUInt64LE(addrOf(this.vec), 40);
    a.writeBigUInt64LE(BigInt(this.vecLen), 48);
    a.writeBigUInt64LE(BigInt(q.maxPages ?? 0), 56);
    a.writeBigUInt64LE(BigInt(q.categoryInverted ?? 0), 64);
    a.writeBigUInt64LE(BigInt(q.categoryMask ?? 0), 72);
    a.writeBigUInt64LE(BigInt(q.anyofMask ?? 0), 80);
    a.writeBigUInt64LE(BigInt(q.returnMask ?? DEFAULT_RETURN), 88);
    let n: number;
    try {
      n = ioctl(this.fd, PAGEMAP_SCAN, a);
    } catch (e) {
      if (e instanceof SysError && e.errno === E.ESRCH) rethrowGone(e, this.pid);
      throw e;
    }
    const regions: PageRegion[] = [];
    for (let i = 0; i < n; i++) {
      const o = i * PAGE_REGION_SIZE;
      regions.push({ start: this.vec.readBigUInt64LE(o), end: this.vec.readBigUInt64LE(o + 8), categories: Number(this.vec.readBigUInt64LE(o + 16)) });
    }
    return { regions, walkEnd: a.readBigUInt64LE(32) };
  }

  /** PAGEMAP_SCAN over [start, end) with the resume rule; merged regions. */
  scanIoctl(start: bigint, end: bigint, q: ScanQuery = {}): PageRegion[] {
    return scanLoop(start, end, (s, e) => this.scanOnce(s, e, q), q.maxPages ?? 0);
  }

  /**
   * The fallback: the same answer from /proc/PID/pagemap entries, limited to the VMAs the
   * kernel's scan would walk (`vmas`, or the task's maps read once and cached).
   */
  scanEntries(start: bigint, end: bigint, q: ScanQuery = {}, vmas?: readonly Pick<Vma, 'start' | 'end' | 'kind'>[]): PageRegion[] {
    const vs = vmas ? walkedVmas(vmas) : (this.vmas ??= walkedVmas(readMaps(this.pid)));
    const out: PageRegion[] = [];
    let left = q.maxPages ?? 0;
    for (const v of vs) {
      if (v.end <= start || v.start >= end) continue;
      const s = v.start > start ? v.start : start,
        e = v.end < end ? v.end : end;
      const rs = regionsFromPagemapFd(this.fd, s, e, left ? { ...q, maxPages: left } : q);
      out.push(...rs);
      if (left) {
        for (const r of rs) left -= Number((r.end - r.start) >> PAGE_SHIFT);
        if (left <= 0) break;
      }
    }
    return mergeRegions(out, start, end);
  }
}

/** Pages worth dumping of a private mapping: present or swapped, not the zero page, and for a
 *  file mapping not a page of the file (only the private copies). */
export function privateDumpQuery(fileBacked: boolean): ScanQuery {
  const not = fileBacked ? PAGE_IS_FILE | PAGE_IS_PFNZERO : PAGE_IS_PFNZERO;
  return { anyofMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED, categoryMask: not, categoryInverted: not, returnMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED };
}
/**
 * One scan over many private VMAs at once: what privateDumpQuery(false) finds, with
 * PAGE_IS_FILE returned, so that each VMA's own rule (pageMatches with privateDumpQuery of
 * that VMA) can be applied to the regions afterwards.
 */
export const PRIVATE_DUMP_SCAN: ScanQuery = { ...privateDumpQuery(false), returnMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_FILE };
/** Pages of a shared (shmem/memfd/SysV) mapping that exist: present or swapped, file pages included. */
export const SHARED_RESIDENT_QUERY: ScanQuery = { anyofMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED, returnMask: PAGE_IS_PRESENT | PAGE_IS_SWAPPED };

/** Is a VMA backed by a file as far as page selection goes (its unmodified pages are the file's)? */
export function isFileBacked(v: Pick<Vma, 'kind'>): boolean {
  return v.kind === 'file' || v.kind === 'deleted' || v.kind === 'memfd' || v.kind === 'shmem' || v.kind === 'sysv';
}

/**
 * "Private pages worth dumping in [start, end)" of a private VMA: ranges (categories OR-ed,
 * PRESENT and/or SWAPPED) merged regardless of present/swapped. Empty for [vsyscall] and
 * [vvar]/[vvar_vclock] (not task memory; the kernel provides them).
 */
export function privatePagesToDump(pm: Pagemap, vma: Pick<Vma, 'start' | 'end' | 'kind'>, start = vma.start, end = vma.end): PageRegion[] {
  // [vsyscall] lies above TASK_SIZE (PAGEMAP_SCAN: EFAULT); [vvar*] are VM_PFNMAP (never walked)
  if (vma.kind === 'vsyscall' || vma.kind === 'vvar' || vma.kind === 'vvar_vclock') return [];
  return mergeRegions(pm.scan(start, end, privateDumpQuery(isFileBacked(vma))), undefined, undefined, true);
}

/** Total bytes of a region list. */
export const regionBytes = (rs: readonly PageRegion[]): bigint => rs.reduce((s, r) => s + (r.end - r.start), 0n);
