// hugetlb memory (MAP_HUGETLB anonymous mappings), dump and restore side by side, as CRIU 4.2
// writes it (proc_parse.c, hugetlb.c): the kernel shows such a mapping as the deleted file
// "/anon_hugepage" on a hugetlbfs, VmFlags `ht`. Its vma_entry is anonymous (MAP_ANONYMOUS,
// VMA_ANON_PRIVATE or VMA_ANON_SHARED) with CRIU's hugetlb_flag in its flags: MAP_HUGETLB and
// log2 of the huge page size at MAP_HUGE_SHIFT (MAP_HUGE_2MB = 21 << 26). A private one's
// pages are found by the page scan, which reports hugetlb pages whole, so they are dumped at
// huge page granularity; a shared one is a shmem object of its own (its inode the shmid),
// dumped once to pagemap-shmem-SHMID.img as CRIU does on kernels without memfd hugetlb (CRIU
// 4.2 with it writes a memfd entry instead; both restore). The restore maps with the same flags,
// so the restoring host must have free huge pages of that size (vm.nr_hugepages).
import * as fs from 'node:fs';
import type { SmapsVma } from '../proc/index.js';
import { MAP } from '../images/consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { libc, koffi } from '../sys/libc.js';

export const MAP_HUGE_SHIFT = 26;
/** MAP_HUGETLB and the huge page size bits of mmap flags */
export const HUGETLB_FLAGS = (MAP.HUGETLB | (0x3f << MAP_HUGE_SHIFT)) >>> 0;

/** A MAP_HUGETLB anonymous mapping (private or shared): "/anon_hugepage (deleted)". */
export const isAnonHugetlb = (v: Pick<SmapsVma, 'path' | 'deleted'>): boolean => v.deleted && v.path === '/anon_hugepage';

/** CRIU's hugetlb_flag of a VMA: MAP_HUGETLB | log2(page size) << MAP_HUGE_SHIFT, from smaps' KernelPageSize. */
export function hugetlbFlag(pid: number, v: SmapsVma, where: string): number {
  const kb = v.kb['KernelPageSize'];
  if (!kb || kb & (kb - 1)) throw new NotSupportedError(`${where}: a hugetlb mapping of page size ${kb} kB`, { task: pid });
  return (MAP.HUGETLB | (Math.log2(kb * 1024) << MAP_HUGE_SHIFT)) >>> 0;
}

/** The huge page size of mmap flags with MAP_HUGETLB (0: none given, the default size). */
export function hugePageSize(flags: number): bigint {
  const bits = (flags >>> MAP_HUGE_SHIFT) & 0x3f;
  return bits ? 1n << BigInt(bits) : defaultHugePageSize();
}

/** Hugepagesize of /proc/meminfo, in bytes. */
export function defaultHugePageSize(): bigint {
  const m = /Hugepagesize:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return BigInt(m ? Number(m[1]) : 2048) * 1024n;
}

/** Free huge pages of `size` bytes on this host (/sys/kernel/mm/hugepages). */
export function freeHugePages(size: bigint): number {
  try {
    return Number(fs.readFileSync(`/sys/kernel/mm/hugepages/hugepages-${size / 1024n}kB/free_hugepages`, 'utf8').trim());
  } catch {
    return 0;
  }
}

/** Why mapping `len` bytes of huge pages failed, for the error: the pages the host has free. */
export function hugetlbHint(flags: number, len: bigint): string {
  const size = hugePageSize(flags);
  return `it needs ${len / size} huge pages of ${size / 1024n} kB; this host has ${freeHugePages(size)} free (raise vm.nr_hugepages)`;
}

let fns: { mmap: KoffiFn; munmap: KoffiFn; memcpy: KoffiFn } | undefined;
type KoffiFn = (...a: unknown[]) => unknown;
const MAP_FAILED = 0xffffffffffffffffn;

/**
 * Write `buf` into a hugetlbfs file (a hugetlb memfd) at `off`: hugetlbfs has no write(), so
 * through a shared mapping of the tool's, whole huge pages (`off` and the length rounded to
 * `pageSize`). The pages are allocated from the host's free huge pages.
 */
export function writeHugetlb(fd: number, off: bigint, buf: Buffer, pageSize: bigint): void {
  fns ??= {
    mmap: libc.func('void *mmap(void *addr, size_t len, int prot, int flags, int fd, long off)') as KoffiFn,
    munmap: libc.func('int munmap(void *addr, size_t len)') as KoffiFn,
    memcpy: libc.func('void *memcpy(uint64_t dst, const void *src, size_t n)') as KoffiFn,
  };
  const base = off - (off % pageSize);
  const len = ((off + BigInt(buf.length) - base + pageSize - 1n) / pageSize) * pageSize;
  const p = fns.mmap(null, Number(len), 3 /* PROT_READ|PROT_WRITE */, 1 /* MAP_SHARED */, fd, Number(base));
  const addr = BigInt(koffi.address(p) as number | bigint);
  if (addr === MAP_FAILED) throw new CriuError(`cannot map ${len} bytes of a hugetlb file to fill it`, { hint: hugetlbHint(MAP.HUGETLB, len) });
  try {
    fns.memcpy(addr + (off - base), buf, buf.length);
  } finally {
    fns.munmap(p, Number(len));
  }
}
