// Guard regions (madvise MADV_GUARD_INSTALL, 6.13+), dump and restore side by side, as CRIU 4.2
// keeps them (mem.c collect_madv_guards, restorer.c restore_madv_guard_regions): a guard page
// is no VMA of its own but a marker in the page table of one, which PAGEMAP_SCAN reports as
// PAGE_IS_GUARD (6.14+). Each run of guard pages becomes an extra vma_entry with only
// VMA_AREA_GUARD in its status, appended after every real VMA of mm-PID.img; the restore puts
// the markers back with an injected madvise(MADV_GUARD_INSTALL) once the task's memory is in
// place. The pages under a marker are not present, so no page of them is ever dumped.
import * as fs from 'node:fs';
import { Pagemap, PAGEMAP_SCAN, PAGE_IS_GUARD, PAGE_IS_PRESENT, PM_SCAN_ARG_SIZE, hasPagemapScan, type ScanQuery } from '../proc/pagemap.js';
import { ioctl, errnoName } from '../sys/libc.js';
import { VMA } from '../images/consts.js';
import type { VmaEntry } from '../images/index.js';
import type { VmaRec } from '../dump/vmas.js';
import type { Injector } from '../ptrace/inject.js';
import { CriuError } from '../errors.js';
import { arch } from '../sys/arch.js';

export const MADV_GUARD_INSTALL = 102,
  MADV_GUARD_REMOVE = 103;

let guardScan: boolean | undefined;
/**
 * Does PAGEMAP_SCAN know PAGE_IS_GUARD here (CRIU's kdat.has_pagemap_scan_guard_pages, the
 * `pagemap_scan_guard_pages` feature)? An empty scan of our own pagemap asking for it; cached.
 */
export function hasGuardScan(): boolean {
  if (guardScan !== undefined) return guardScan;
  guardScan = false;
  if (!hasPagemapScan()) return guardScan;
  const fd = fs.openSync('/proc/self/pagemap', 'r');
  try {
    const arg = Buffer.alloc(PM_SCAN_ARG_SIZE);
    arg.writeBigUInt64LE(BigInt(PM_SCAN_ARG_SIZE), 0);
    arg.writeBigUInt64LE(BigInt(PAGE_IS_PRESENT | PAGE_IS_GUARD), 88); // return_mask
    ioctl(fd, PAGEMAP_SCAN, arg);
    guardScan = true;
  } catch {
    guardScan = false;
  } finally {
    fs.closeSync(fd);
  }
  return guardScan;
}

/** Is vma_entry `v` a guard region (not a VMA of the kernel's)? */
export const isGuard = (v: Pick<VmaEntry, 'status'>): boolean => (v.status & VMA.GUARD) !== 0;

/**
 * The guard regions of task `pid`, as CRIU's collect_madv_guards finds them: one scan of the
 * whole user address space for PAGE_IS_GUARD pages, each run one vma_entry (start, end,
 * status VMA_AREA_GUARD, fd -1, all else zero). A kernel whose scan cannot tell guard pages
 * gives none (CRIU warns; vmas.ts refuses a VMA that may hold some).
 */
export function collectGuards(pid: number): VmaRec[] {
  if (!hasGuardScan()) return [];
  const pm = new Pagemap(pid);
  try {
    return pm.scanIoctl(0n, arch.taskSize(), { categoryMask: PAGE_IS_GUARD, returnMask: PAGE_IS_GUARD }).map((r) => ({
      start: r.start,
      end: r.end,
      pgoff: 0n,
      shmid: 0,
      prot: 0,
      flags: 0,
      status: VMA.GUARD,
      fd: -1n,
      madv: 0n,
      dumpPages: false,
      fileBacked: false,
    }));
  } finally {
    pm.close();
  }
}

/** Where guard markers go back: every guard entry of the task's mm, in image order. */
export function guardRanges(vmas: VmaEntry[]): { start: bigint; end: bigint }[] {
  return vmas.filter(isGuard).map((v) => ({ start: BigInt(v.start), end: BigInt(v.end) }));
}

/**
 * Put the task's guard markers back (restorer.c restore_madv_guard_regions), after its pages,
 * protections and locks: in one batch of madvise(MADV_GUARD_INSTALL) calls.
 */
export function installGuards(inj: Injector, pid: number, guards: { start: bigint; end: bigint }[]): void {
  if (!guards.length) return;
  const rs = inj.batch(guards.map((g) => ({ name: 'madvise', args: [g.start, g.end - g.start, MADV_GUARD_INSTALL] })));
  rs.forEach((r, i) => {
    if (r === 0n) return;
    const g = guards[i];
    throw new CriuError(`task ${pid}: madvise(${g.start.toString(16)}, ${g.end - g.start}, MADV_GUARD_INSTALL) failed: ${errnoName(Number(-r))}`, {
      task: pid,
      object: `guard region ${g.start.toString(16)}-${g.end.toString(16)}`,
      hint: 'guard regions need a 6.13+ kernel (MADV_GUARD_INSTALL)',
    });
  });
}

/**
 * A forked child inherits its parent's guard markers in the private VMAs it keeps (fork copies
 * them with the page tables): they go before the child's pages are compared through
 * /proc/PID/mem (a guard page cannot be read) and before its own are installed. Only when
 * some task of the images has guard regions; a VMA the kernel refuses it for has none.
 */
export function dropInheritedGuards(inj: Injector, kept: { start: bigint; end: bigint }[]): void {
  if (!kept.length) return;
  inj.batch(kept.map((k) => ({ name: 'madvise', args: [k.start, k.end - k.start, MADV_GUARD_REMOVE] })));
}

/**
 * A page scan that leaves guard pages out: the kernel counts a guard marker as a swapped page
 * (PAGE_IS_SWAPPED | PAGE_IS_GUARD), and CRIU's should_dump_page skips it; reading it would fail.
 */
export function withoutGuards(q: ScanQuery): ScanQuery {
  if (!hasGuardScan()) return q;
  return { ...q, categoryMask: (q.categoryMask ?? 0) | PAGE_IS_GUARD, categoryInverted: (q.categoryInverted ?? 0) | PAGE_IS_GUARD };
}
