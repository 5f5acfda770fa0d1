// x86_64 thread state <-> CRIU's thread_info_x86 image entry.
// The kernel's NT_X86_XSTATE regset is the standard (non-compacted) XSAVE layout: a 512-byte
// legacy FXSAVE area, a 64-byte header, then each enabled component at the offset CPUID leaf
// 0xD gives. CRIU stores the pieces as separate repeated fields, so we cut and glue by offset.
import { cpuid } from '../sys/native.js';
import { arch, SYS } from '../sys/arch.js';
import { syscallBuf } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import type { UserX86RegsEntry, UserX86FpregsEntry, UserX86XsaveEntry, UserDescT } from '../images/index.js';
import { ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK } from '../ptrace/consts.js';

export const XFEATURE = { FP: 0, SSE: 1, YMM: 2, BNDREGS: 3, BNDCSR: 4, OPMASK: 5, ZMM_HI256: 6, HI16_ZMM: 7, PKRU: 9, CET_USER: 11 } as const;

/**
 * The user xsave components CRIU's image stores, in layout order: the image field, its number
 * of values and their width, and the CPU feature that brings it (for error messages).
 */
export const XCOMPONENTS = [
  { f: XFEATURE.YMM, field: 'ymmh_space', n: 64, wide: false, cpu: 'AVX' },
  { f: XFEATURE.BNDREGS, field: 'bndreg_state', n: 8, wide: true, cpu: 'MPX' },
  { f: XFEATURE.BNDCSR, field: 'bndcsr_state', n: 2, wide: true, cpu: 'MPX' },
  { f: XFEATURE.OPMASK, field: 'opmask_reg', n: 8, wide: true, cpu: 'AVX-512' },
  { f: XFEATURE.ZMM_HI256, field: 'zmm_upper', n: 64, wide: true, cpu: 'AVX-512' },
  { f: XFEATURE.HI16_ZMM, field: 'hi16_zmm', n: 128, wide: true, cpu: 'AVX-512' },
  { f: XFEATURE.PKRU, field: 'pkru', n: 2, wide: false, cpu: 'PKU' },
] as const;

/**
 * The PKRU value every new task gets from the kernel (init_pkru_value in arch/x86/mm/pkeys.c:
 * access disabled for keys 1-15, key 0 open). A task that never used protection keys has it,
 * and so does one dumped with this value: without PKU it behaves the same.
 */
export const PKRU_DEFAULT = 0x55555554;

export interface XsaveLayout {
  /** offset and size of each component in the standard (non-compacted) layout */
  offsets: Record<number, number>;
  sizes: Record<number, number>;
  /** size of the whole NT_X86_XSTATE area */
  total: number;
  /** the user xstate components the kernel enables here (bit n = component n) */
  features: bigint;
}

const ARCH_GET_XCOMP_SUPP = 0x1021;
/** The kernel's user xfeatures (arch_prctl ARCH_GET_XCOMP_SUPP, 5.16+), else CPUID's without MPX (the kernel dropped MPX in 5.6). */
function kernelXfeatures(): bigint {
  try {
    const b = Buffer.alloc(8);
    syscallBuf('arch_prctl', ARCH_GET_XCOMP_SUPP, b);
    return b.readBigUInt64LE(0);
  } catch {
    const [eax, , , edx] = cpuid(0xd, 0);
    return (BigInt(eax >>> 0) | (BigInt(edx >>> 0) << 32n)) & ~((1n << BigInt(XFEATURE.BNDREGS)) | (1n << BigInt(XFEATURE.BNDCSR)));
  }
}

let layout: XsaveLayout | null = null;
/** Where each XSAVE component lives in the standard layout on this CPU, and which ones it has. */
export function xsaveLayout(): XsaveLayout {
  if (layout) return layout;
  const offsets: Record<number, number> = {},
    sizes: Record<number, number> = {};
  for (const { f } of XCOMPONENTS) {
    const [eax, ebx] = cpuid(0xd, f);
    if (eax) {
      sizes[f] = eax;
      offsets[f] = ebx;
    }
  }
  const [, ebx] = cpuid(0xd, 0);
  layout = { offsets, sizes, total: ebx, features: kernelXfeatures() | 3n };
  return layout;
}

/** Whether the CPU of `L` has component f enabled (a known place in the layout and the kernel's bit). */
export function hasComponent(L: XsaveLayout, f: number): boolean {
  return L.offsets[f] !== undefined && ((L.features >> BigInt(f)) & 1n) === 1n;
}

const u32s = (b: Buffer, off: number, n: number): number[] => Array.from({ length: n }, (_, i) => b.readUInt32LE(off + 4 * i));
const u64s = (b: Buffer, off: number, n: number): bigint[] => Array.from({ length: n }, (_, i) => b.readBigUInt64LE(off + 8 * i));

export interface UserX86Regs {
  [name: string]: bigint | number | undefined;
  mode?: number;
}

/** general registers (user_regs_struct buffer) → user_x86_regs_entry */
export function regsToImage(regs: Buffer): UserX86Regs {
  const o: UserX86Regs = {};
  arch.regNames.forEach((n, i) => {
    o[n] = regs.readBigUInt64LE(i * 8);
  });
  o.mode = 1; // NATIVE
  return o;
}
export function regsFromImage(e: UserX86RegsEntry): Buffer {
  const b = Buffer.alloc(arch.regsSize);
  const byName: Partial<Record<string, bigint | number>> = { ...e };
  arch.regNames.forEach((n, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(byName[n] ?? 0)), i * 8));
  return b;
}

/** NT_X86_XSTATE buffer → user_x86_fpregs_entry (`L`: the layout of the CPU that made it) */
export function xsaveToImage(x: Buffer, L: XsaveLayout = xsaveLayout()): UserX86FpregsEntry {
  const fp: UserX86FpregsEntry = {
    cwd: x.readUInt16LE(0),
    swd: x.readUInt16LE(2),
    twd: x.readUInt16LE(4),
    fop: x.readUInt16LE(6),
    rip: x.readBigUInt64LE(8),
    rdp: x.readBigUInt64LE(16),
    mxcsr: x.readUInt32LE(24),
    mxcsr_mask: x.readUInt32LE(28),
    st_space: u32s(x, 32, 32),
    xmm_space: u32s(x, 160, 64),
  };
  if (x.length <= 512) return fp;
  const xs: UserX86XsaveEntry = { xstate_bv: x.readBigUInt64LE(512) };
  for (const c of XCOMPONENTS) {
    const off = L.offsets[c.f];
    if (off === undefined || off + (L.sizes[c.f] ?? 0) > x.length) continue;
    if (c.wide) xs[c.field as WideField] = u64s(x, off, c.n);
    else xs[c.field as NarrowField] = u32s(x, off, c.n);
  }
  xs.cet = { cet: 0n, ssp: 0n };
  fp.xsave = xs;
  return fp;
}

/** The components held as 64-bit words, and those as 32-bit ones. */
type WideField = 'bndreg_state' | 'bndcsr_state' | 'opmask_reg' | 'zmm_upper' | 'hi16_zmm';
type NarrowField = 'ymmh_space' | 'pkru';

const hex = (v: number | bigint): string => `0x${BigInt.asUintN(64, BigInt(v)).toString(16)}`;

/** Whether the values of a component are its init or default state (nothing a task relies on). */
function isDefault(f: number, vals: (number | bigint)[]): boolean {
  if (f === XFEATURE.PKRU) {
    const v = Number(vals[0] ?? 0) >>> 0;
    return (v === 0 || v === PKRU_DEFAULT) && vals.slice(1).every((w) => BigInt(w) === 0n);
  }
  return vals.every((w) => BigInt(w) === 0n);
}

/** How a component's state shows in an error: pkru by value, the others by their first word in use. */
function describeState(c: (typeof XCOMPONENTS)[number], vals: (number | bigint)[]): string {
  if (c.f === XFEATURE.PKRU) return `value ${hex(vals[0] ?? 0)}`;
  const i = vals.findIndex((w) => BigInt(w) !== 0n);
  return `${c.field}[${i}] = ${hex(vals[i])}`;
}

/** the buffers built for this CPU's layout, by image entry: the restore's check builds each once, the registers step takes it */
const built = new WeakMap<UserX86FpregsEntry, Buffer>();

/**
 * user_x86_fpregs_entry → NT_X86_XSTATE buffer for the CPU of `layout` (this one by default).
 * The image may come from another CPU (CRIU writes the components its CPU has): a component in
 * its init or default state that this CPU lacks is dropped with its xstate_bv bit, one really in
 * use is refused by name (the task would lose registers it relies on). Only the components
 * written here keep their xstate_bv bit (plus x87 and SSE): a bit without data in the image, or
 * for a component this restore does not know, means the init state. `who` names the thread in
 * errors.
 */
export function xsaveFromImage(fp: UserX86FpregsEntry, opts: { layout?: XsaveLayout; who?: string } = {}): Buffer {
  if (opts.layout) return buildXsave(fp, opts.layout, opts.who);
  let x = built.get(fp);
  if (!x) built.set(fp, (x = buildXsave(fp, xsaveLayout(), opts.who)));
  return x;
}

function buildXsave(fp: UserX86FpregsEntry, L: XsaveLayout, whoIs: string | undefined): Buffer {
  const who = whoIs ?? 'a thread';
  const x = Buffer.alloc(Math.max(L.total, 576));
  x.writeUInt16LE(fp.cwd ?? 0, 0);
  x.writeUInt16LE(fp.swd ?? 0, 2);
  x.writeUInt16LE(fp.twd ?? 0, 4);
  x.writeUInt16LE(fp.fop ?? 0, 6);
  x.writeBigUInt64LE(BigInt(fp.rip ?? 0), 8);
  x.writeBigUInt64LE(BigInt(fp.rdp ?? 0), 16);
  x.writeUInt32LE(fp.mxcsr ?? 0, 24);
  x.writeUInt32LE(fp.mxcsr_mask ?? 0, 28);
  (fp.st_space ?? []).forEach((v, i) => x.writeUInt32LE(v >>> 0, 32 + 4 * i));
  (fp.xmm_space ?? []).forEach((v, i) => x.writeUInt32LE(v >>> 0, 160 + 4 * i));
  let bv = 3n; // x87 and SSE state present
  const xs = fp.xsave;
  if (xs) {
    const cet = xs.cet;
    if (cet && (BigInt(cet.cet ?? 0) !== 0n || BigInt(cet.ssp ?? 0) !== 0n)) {
      throw new NotSupportedError(`${who} uses CET user state (cet ${hex(cet.cet ?? 0)}, ssp ${hex(cet.ssp ?? 0)}): a shadow stack is not restored`);
    }
    const imgBv = BigInt(xs.xstate_bv ?? 3);
    for (const c of XCOMPONENTS) {
      const vals: (number | bigint)[] = xs[c.field] ?? [];
      const bit = 1n << BigInt(c.f);
      const inUse = (imgBv & bit) !== 0n && vals.length > 0;
      if (!hasComponent(L, c.f)) {
        if (inUse && !isDefault(c.f, vals)) {
          throw new NotSupportedError(
            `${who} uses xsave component ${c.field} (${describeState(c, vals)}) which this CPU lacks`,
            `restore on a CPU with ${c.cpu}`,
          );
        }
        continue;
      }
      const off = L.offsets[c.f],
        size = L.sizes[c.f] ?? 0;
      if (vals.length && vals.length * (c.wide ? 8 : 4) > size) {
        throw new CriuError(
          `${who}: xsave component ${c.field} has ${vals.length} values, more than the ${size} bytes this CPU has for it`,
          'the image is damaged',
        );
      }
      if (c.f === XFEATURE.PKRU && !vals.length) {
        // dumped on a CPU without PKU: the task gets what every new task gets here
        x.writeUInt32LE(PKRU_DEFAULT, off);
        bv |= bit;
        continue;
      }
      if (!inUse) continue;
      vals.forEach((v, i) => (c.wide ? x.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), off + 8 * i) : x.writeUInt32LE(Number(v) >>> 0, off + 4 * i)));
      bv |= bit;
    }
  }
  x.writeBigUInt64LE(bv, 512);
  return x;
}

/**
 * A thread stopped inside a syscall is saved the way CRIU saves it: already set up to re-run the
 * call (the pc back on the syscall instruction, the number back in ax), or to run
 * restart_syscall for a -ERESTART_RESTARTBLOCK; whoever restores the image then simply resumes. Applying it twice changes nothing.
 */
export function restartFixup(regs: Buffer): Buffer {
  const r = Buffer.from(regs);
  const at = (n: string): number => arch.regNames.indexOf(n) * 8;
  const orig = r.readBigInt64LE(at('orig_ax')),
    ax = r.readBigInt64LE(at('ax'));
  if (orig < 0n) return r;
  if (ax === -BigInt(ERESTARTSYS) || ax === -BigInt(ERESTARTNOINTR) || ax === -BigInt(ERESTARTNOHAND)) {
    r.writeBigInt64LE(orig, at('ax'));
    r.writeBigUInt64LE(r.readBigUInt64LE(at('ip')) - 2n, at('ip'));
  } else if (ax === -BigInt(ERESTART_RESTARTBLOCK)) {
    r.writeBigInt64LE(BigInt(SYS.restart_syscall), at('ax'));
    r.writeBigUInt64LE(r.readBigUInt64LE(at('ip')) - 2n, at('ip'));
  }
  return r;
}

/**
 * The GDT TLS slots (set_thread_area) of an x86 thread image that are in use, as the 16-byte
 * struct user_desc PTRACE_SET_THREAD_AREA takes. Empty slots are left out: a thread made by
 * the restore starts with all three empty.
 */
export function tlsFromImage(tls: UserDescT[] | undefined): { idx: number; desc: Buffer }[] {
  const out: { idx: number; desc: Buffer }[] = [];
  for (const d of tls ?? []) {
    const flags =
      (d.seg_32bit ? 1 : 0) |
      (d.contents_l ? 2 : 0) |
      (d.contents_h ? 4 : 0) |
      (d.read_exec_only ? 8 : 0) |
      (d.limit_in_pages ? 16 : 0) |
      (d.seg_not_present ? 32 : 0) |
      (d.usable ? 64 : 0);
    const empty = !d.base_addr && !d.limit && flags === (8 | 32);
    if (empty) continue;
    const desc = Buffer.alloc(16);
    desc.writeUInt32LE(d.entry_number >>> 0, 0);
    desc.writeUInt32LE(d.base_addr >>> 0, 4);
    desc.writeUInt32LE(d.limit >>> 0, 8);
    desc.writeUInt32LE(flags, 12);
    out.push({ idx: d.entry_number, desc });
  }
  return out;
}
