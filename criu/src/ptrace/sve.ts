// aarch64 regsets that a CPU may lack, and the SVE-format ones (NT_ARM_SVE, NT_ARM_SSVE):
// a struct user_sve_header, then the registers in FPSIMD or SVE layout as its flags say.
// Here, below arch/, because the injector saves a thread's live SVE registers before its first
// injected syscall drops them.
import type { Tracee } from './tracee.js';
import { NT } from './consts.js';
import { SysError, E } from '../sys/libc.js';

export const SVE_HEADER = 16,
  SVE_PT_REGS_SVE = 1,
  SVE_PT_VL_INHERIT = 2;

export interface SveHeader {
  size: number;
  vl: number;
  maxVl: number;
  flags: number;
}
export const sveHeader = (b: Buffer): SveHeader => ({ size: b.readUInt32LE(0), vl: b.readUInt16LE(8), maxVl: b.readUInt16LE(10), flags: b.readUInt16LE(12) });

/** A regset the CPU or kernel may not have: null when it answers EINVAL or ENODEV. */
export function optionalRegset(t: Tracee, nt: number, size: number): Buffer | null {
  const b = Buffer.alloc(size);
  try {
    const n = t.getRegset(nt, b);
    return n === size ? b : null;
  } catch (e) {
    if (e instanceof SysError && (e.errno === E.EINVAL || e.errno === E.ENODEV)) return null;
    throw e;
  }
}

/** a whole SVE-format regset (NT_ARM_SVE, NT_ARM_SSVE): its header, then as many bytes as it says */
export function readSveRegset(t: Tracee, nt: number): Buffer | null {
  const h = optionalRegset(t, nt, SVE_HEADER);
  if (!h) return null;
  const b = Buffer.alloc(Math.max(sveHeader(h).size, SVE_HEADER));
  const n = t.getRegset(nt, b);
  return b.subarray(0, n);
}

/**
 * The NT_ARM_SVE regset of a thread whose Z/P/FFR registers are live (stopped in user code that
 * used them): the first syscall injected into it drops them, so the injector reads them first.
 */
export function liveSve(t: Tracee): Buffer | null {
  const b = readSveRegset(t, NT.ARM_SVE);
  return b && sveHeader(b).flags & SVE_PT_REGS_SVE ? b : null;
}
