// x86_64 thread state <-> CRIU's thread_info_x86 image entry.
// The kernel's NT_X86_XSTATE regset is the standard (non-compacted) XSAVE layout: a 512-byte
// legacy FXSAVE area, a 64-byte header, then each enabled component at the offset CPUID leaf
// 0xD gives. CRIU stores the pieces as separate repeated fields, so we cut and glue by offset.
import { cpuid } from '../sys/native.js';
import { arch, SYS } from '../sys/arch.js';
import { ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK } from '../ptrace/consts.js';

export const XFEATURE = { FP: 0, SSE: 1, YMM: 2, BNDREGS: 3, BNDCSR: 4, OPMASK: 5, ZMM_HI256: 6, HI16_ZMM: 7, PKRU: 9, CET_USER: 11 } as const;

export interface XsaveLayout { offsets: Record<number, number>; sizes: Record<number, number>; total: number }
let layout: XsaveLayout | null = null;
/** Where each XSAVE component lives in the standard layout on this CPU. */
export function xsaveLayout(): XsaveLayout {
  if (layout) return layout;
  const offsets: Record<number, number> = {}, sizes: Record<number, number> = {};
  for (const f of [2, 3, 4, 5, 6, 7, 9]) {
    const [eax, ebx] = cpuid(0xd, f);
    if (eax) { sizes[f] = eax; offsets[f] = ebx; }
  }
  const [, ebx] = cpuid(0xd, 0);
  layout = { offsets, sizes, total: ebx };
  return layout;
}

const u32s = (b: Buffer, off: number, n: number): number[] => Array.from({ length: n }, (_, i) => b.readUInt32LE(off + 4 * i));
const u64s = (b: Buffer, off: number, n: number): bigint[] => Array.from({ length: n }, (_, i) => b.readBigUInt64LE(off + 8 * i));

export interface UserX86Regs { [name: string]: bigint | number | undefined; mode?: number }

/** general registers (user_regs_struct buffer) → user_x86_regs_entry */
export function regsToImage(regs: Buffer): UserX86Regs {
  const o: UserX86Regs = {};
  arch.regNames.forEach((n, i) => { o[n] = regs.readBigUInt64LE(i * 8); });
  o.mode = 1; // NATIVE
  return o;
}
export function regsFromImage(e: Record<string, unknown>): Buffer {
  const b = Buffer.alloc(arch.regsSize);
  arch.regNames.forEach((n, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt((e[n] as bigint | number | undefined) ?? 0)), i * 8));
  return b;
}

/** NT_X86_XSTATE buffer → user_x86_fpregs_entry */
export function xsaveToImage(x: Buffer): Record<string, unknown> {
  const fp: Record<string, unknown> = {
    cwd: x.readUInt16LE(0), swd: x.readUInt16LE(2), twd: x.readUInt16LE(4), fop: x.readUInt16LE(6),
    rip: x.readBigUInt64LE(8), rdp: x.readBigUInt64LE(16), mxcsr: x.readUInt32LE(24), mxcsr_mask: x.readUInt32LE(28),
    st_space: u32s(x, 32, 32), xmm_space: u32s(x, 160, 64),
  };
  if (x.length <= 512) return fp;
  const L = xsaveLayout();
  const bv = x.readBigUInt64LE(512);
  const xs: Record<string, unknown> = { xstate_bv: bv };
  const part = (f: number, n: number, wide: boolean): unknown[] | undefined => {
    const off = L.offsets[f];
    if (off === undefined || off + (L.sizes[f] ?? 0) > x.length) return undefined;
    return wide ? u64s(x, off, n) : u32s(x, off, n);
  };
  const put = (k: string, v: unknown[] | undefined): void => { if (v) xs[k] = v; };
  put('ymmh_space', part(XFEATURE.YMM, 64, false));
  put('bndreg_state', part(XFEATURE.BNDREGS, 8, true));
  put('bndcsr_state', part(XFEATURE.BNDCSR, 2, true));
  put('opmask_reg', part(XFEATURE.OPMASK, 8, true));
  put('zmm_upper', part(XFEATURE.ZMM_HI256, 64, true));
  put('hi16_zmm', part(XFEATURE.HI16_ZMM, 128, true));
  put('pkru', part(XFEATURE.PKRU, 2, false));
  xs.cet = { cet: 0n, ssp: 0n };
  fp.xsave = xs;
  return fp;
}

/** user_x86_fpregs_entry → NT_X86_XSTATE buffer of this CPU's size */
export function xsaveFromImage(fp: Record<string, any>): Buffer {
  const L = xsaveLayout();
  const x = Buffer.alloc(Math.max(L.total, 576));
  x.writeUInt16LE(fp.cwd ?? 0, 0); x.writeUInt16LE(fp.swd ?? 0, 2); x.writeUInt16LE(fp.twd ?? 0, 4); x.writeUInt16LE(fp.fop ?? 0, 6);
  x.writeBigUInt64LE(BigInt(fp.rip ?? 0), 8); x.writeBigUInt64LE(BigInt(fp.rdp ?? 0), 16);
  x.writeUInt32LE(fp.mxcsr ?? 0, 24); x.writeUInt32LE(fp.mxcsr_mask ?? 0, 28);
  (fp.st_space ?? []).forEach((v: number, i: number) => x.writeUInt32LE(v >>> 0, 32 + 4 * i));
  (fp.xmm_space ?? []).forEach((v: number, i: number) => x.writeUInt32LE(v >>> 0, 160 + 4 * i));
  const xs = fp.xsave;
  if (!xs) {
    x.writeBigUInt64LE(3n, 512); // x87 and SSE state present
    return x;
  }
  let bv = BigInt(xs.xstate_bv ?? 3);
  const put = (f: number, vals: (number | bigint)[] | undefined, wide: boolean): void => {
    if (!vals || !vals.length) return;
    const off = L.offsets[f];
    if (off === undefined) {
      // the image has state for a component this CPU lacks: restoring it is impossible
      if (vals.some((v) => BigInt(v) !== 0n)) throw new Error(`not supported yet: xsave component ${f} is in the image but not on this CPU`);
      bv &= ~(1n << BigInt(f));
      return;
    }
    vals.forEach((v, i) => (wide ? x.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), off + 8 * i) : x.writeUInt32LE(Number(v) >>> 0, off + 4 * i)));
  };
  put(XFEATURE.YMM, xs.ymmh_space, false);
  put(XFEATURE.BNDREGS, xs.bndreg_state, true);
  put(XFEATURE.BNDCSR, xs.bndcsr_state, true);
  put(XFEATURE.OPMASK, xs.opmask_reg, true);
  put(XFEATURE.ZMM_HI256, xs.zmm_upper, true);
  put(XFEATURE.HI16_ZMM, xs.hi16_zmm, true);
  put(XFEATURE.PKRU, xs.pkru, false);
  let supported = 0n;
  for (const f of Object.keys(L.offsets)) supported |= 1n << BigInt(f);
  x.writeBigUInt64LE(bv & (supported | 3n), 512);
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
  const orig = r.readBigInt64LE(at('orig_ax')), ax = r.readBigInt64LE(at('ax'));
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
export function tlsFromImage(tls: Record<string, any>[] | undefined): { idx: number; desc: Buffer }[] {
  const out: { idx: number; desc: Buffer }[] = [];
  for (const d of tls ?? []) {
    const flags = (d.seg_32bit ? 1 : 0) | (d.contents_l ? 2 : 0) | (d.contents_h ? 4 : 0) | (d.read_exec_only ? 8 : 0)
      | (d.limit_in_pages ? 16 : 0) | (d.seg_not_present ? 32 : 0) | (d.usable ? 64 : 0);
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
