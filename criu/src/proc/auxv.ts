// /proc/PID/auxv: the ELF auxiliary vector, native-endian u64 pairs up to AT_NULL.
import { readProcBuf } from './util.js';

export const AT = {
  NULL: 0,
  IGNORE: 1,
  EXECFD: 2,
  PHDR: 3,
  PHENT: 4,
  PHNUM: 5,
  PAGESZ: 6,
  BASE: 7,
  FLAGS: 8,
  ENTRY: 9,
  NOTELF: 10,
  UID: 11,
  EUID: 12,
  GID: 13,
  EGID: 14,
  PLATFORM: 15,
  HWCAP: 16,
  CLKTCK: 17,
  SECURE: 23,
  BASE_PLATFORM: 24,
  RANDOM: 25,
  HWCAP2: 26,
  RSEQ_FEATURE_SIZE: 27,
  RSEQ_ALIGN: 28,
  HWCAP3: 29,
  HWCAP4: 30,
  EXECFN: 31,
  SYSINFO_EHDR: 33,
  MINSIGSTKSZ: 51,
} as const;

export interface AuxEntry {
  type: bigint;
  value: bigint;
}
export interface Auxv {
  /** pairs before AT_NULL */
  entries: AuxEntry[];
  /** the file as read (CRIU stores the vector as saved_auxv words, AT_NULL included) */
  raw: Buffer;
}

export function parseAuxv(raw: Buffer): Auxv {
  const entries: AuxEntry[] = [];
  for (let o = 0; o + 16 <= raw.length; o += 16) {
    const type = raw.readBigUInt64LE(o);
    if (type === 0n) break;
    entries.push({ type, value: raw.readBigUInt64LE(o + 8) });
  }
  return { entries, raw };
}

export function readAuxv(pid: number): Auxv {
  return parseAuxv(readProcBuf(pid, 'auxv'));
}

/** Value of one AT_* entry, or undefined. */
export function auxValue(a: Auxv, type: number | bigint): bigint | undefined {
  const t = BigInt(type);
  return a.entries.find((e) => e.type === t)?.value;
}
