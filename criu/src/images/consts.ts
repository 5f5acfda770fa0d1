// Constants of the image format that both engines use (CRIU's image.h and pagemap.proto):
// vma_entry status bits and mmap flags, the madvise bitmap of vma_entry.madv, pagemap flags.

/** vma_entry.status bits */
export const VMA = {
  REGULAR: 1 << 0,
  STACK: 1 << 1,
  VSYSCALL: 1 << 2,
  VDSO: 1 << 3,
  HEAP: 1 << 5,
  FILE_PRIVATE: 1 << 6,
  FILE_SHARED: 1 << 7,
  ANON_SHARED: 1 << 8,
  ANON_PRIVATE: 1 << 9,
  SYSVIPC: 1 << 10,
  SOCKET: 1 << 11,
  VVAR: 1 << 12,
  AIORING: 1 << 13,
  MEMFD: 1 << 14,
  SHSTK: 1 << 15,
  GUARD: 1 << 16,
  UPROBES: 1 << 17,
  EXT_PLUGIN: 1 << 27,
  CLOSE: 1 << 28,
  NO_PROT_WRITE: 1 << 29,
  PREMMAPED: 1 << 30,
  UNSUPP: 2 ** 31,
} as const;
/** every status bit CRIU 4.2 defines: 0-3, 5-17, 27-31 */
export const VMA_STATUS_KNOWN = (0b1111 | (0x1fff << 5) | (0x1f << 27)) >>> 0;

/** vma_entry.flags: the mmap flags */
export const MAP = { SHARED: 0x1, PRIVATE: 0x2, FIXED: 0x10, ANON: 0x20, GROWSDOWN: 0x100, LOCKED: 0x2000, NORESERVE: 0x4000, HUGETLB: 0x40000 } as const;

/** pagemap_entry.flags */
export const PE = { PARENT: 1, LAZY: 2, PRESENT: 4 } as const;

// VmFlags mnemonic → madvise advice number (CRIU keeps a bitmap of 1 << advice in vma_entry.madv)
const MADV_BITS: Record<string, number> = { rr: 1, sr: 2, dc: 10, mg: 12, hg: 14, nh: 15, dd: 16, wf: 18 };

/** The vma_entry.madv bitmap of a VMA's VmFlags (smaps). */
export function madvBits(vmFlags: string[]): bigint {
  let m = 0n;
  for (const f of vmFlags) if (MADV_BITS[f] !== undefined) m |= 1n << BigInt(MADV_BITS[f]);
  return m;
}
