// aarch64 thread state <-> CRIU's thread_info_aarch64 image entry.
// The kernel's regsets: NT_PRSTATUS is struct user_pt_regs (x0-x30, sp, pc, pstate),
// NT_PRFPREG struct user_fpsimd_state (32 128-bit V registers, fpsr, fpcr, 8 bytes reserved),
// NT_ARM_TLS tpidr_el0, and with pointer authentication NT_ARM_PACA_KEYS (four 128-bit address
// keys), NT_ARM_PACG_KEYS (the generic key) and NT_ARM_PAC_ENABLED_KEYS (which address keys
// are on). CRIU stores each V register as two 64-bit words, low half first, and the keys as
// _lo/_hi pairs.
import type { Tracee, Regs } from '../ptrace/tracee.js';
import { NT } from '../ptrace/consts.js';
import { SysError } from '../sys/libc.js';
import { SVE_HEADER, SVE_PT_REGS_SVE, SVE_PT_VL_INHERIT, sveHeader, optionalRegset, readSveRegset } from '../ptrace/sve.js';
import { CriuError, NotSupportedError } from '../errors.js';
import * as fs from 'node:fs';
import type { ThreadInfoAarch64, UserAarch64RegsEntry, UserAarch64FpsimdContextEntry, PacKeys } from '../images/index.js';

export const FPSIMD_SIZE = 32 * 16 + 4 + 4 + 8;
const PACA_SIZE = 4 * 16,
  PACG_SIZE = 16;

/** The state of an aarch64 thread beyond its general and FPSIMD registers. */
export interface Aarch64Extra {
  /** tpidr_el0, the thread pointer */
  tls: bigint;
  /** the pointer authentication keys, where the CPU has them */
  pac: { address: Buffer; generic: Buffer; enabled: bigint } | null;
  /** the NT_ARM_SVE regset where FPSIMD does not carry the thread's SVE state (keptSve) */
  sve?: Buffer;
  /** prctl(PR_SET_TAGGED_ADDR_CTRL), where set */
  taggedAddrCtrl?: bigint;
}

const defaultVls = new Map<string, number>();
/** the vector length (bytes) a thread gets at exec, as the restore's puppet has it (read once, not per thread) */
function defaultVl(kind: 'sve' | 'sme'): number {
  let vl = defaultVls.get(kind);
  if (vl === undefined) {
    try {
      vl = Number(fs.readFileSync(`/proc/sys/abi/${kind}_default_vector_length`, 'utf8').trim());
    } catch {
      vl = -1;
    }
    defaultVls.set(kind, vl);
  }
  return vl;
}

/**
 * The SVE regset of a thread whose SVE state is more than FPSIMD: its live registers as the
 * injector found them (`live`), else a vector length other than the one exec gives or the
 * inherit flag. null where FPSIMD carries it all, or the CPU has no SVE.
 */
function keptSve(t: Tracee, live: Buffer | null): Buffer | null {
  if (live) return live;
  const b = readSveRegset(t, NT.ARM_SVE);
  if (!b) return null;
  const h = sveHeader(b);
  return h.flags & SVE_PT_VL_INHERIT || h.vl !== defaultVl('sve') ? b : null;
}

/** SME state cannot be kept yet: a thread in streaming mode, with ZA on, or an SME vector length of its own is refused by name */
function refuseSme(t: Tracee, who: string): void {
  const ssve = readSveRegset(t, NT.ARM_SSVE);
  if (!ssve) return;
  const h = sveHeader(ssve);
  const za = optionalRegset(t, NT.ARM_ZA, SVE_HEADER);
  const why =
    h.flags & SVE_PT_REGS_SVE
      ? 'is in SME streaming mode'
      : za && sveHeader(za).size > SVE_HEADER
        ? 'has SME ZA storage on'
        : h.vl !== defaultVl('sme') || h.flags & SVE_PT_VL_INHERIT
          ? `set its SME vector length (${h.vl} bytes)`
          : null;
  if (why) throw new NotSupportedError(`${who} ${why}`, 'SME state (streaming SVE, ZA) is not dumped yet');
}

/** Reads tpidr_el0, the PAC keys, SVE state and tagged address control of a stopped thread; refuses SME state. */
export function readExtra(t: Tracee, live: Buffer | null = null, who = `thread ${t.tid}`): Aarch64Extra {
  const tls = Buffer.alloc(8);
  t.getRegset(NT.ARM_TLS, tls);
  const address = optionalRegset(t, NT.ARM_PACA_KEYS, PACA_SIZE);
  const generic = optionalRegset(t, NT.ARM_PACG_KEYS, PACG_SIZE);
  let pac: Aarch64Extra['pac'] = null;
  if (address && generic) {
    const en = optionalRegset(t, NT.ARM_PAC_ENABLED_KEYS, 8);
    // before 5.13 there is no per-thread choice: every address key is on
    pac = { address, generic, enabled: en ? en.readBigUInt64LE(0) : 0xfn };
  }
  refuseSme(t, who);
  const out: Aarch64Extra = { tls: tls.readBigUInt64LE(0), pac };
  const sve = keptSve(t, live);
  if (sve) out.sve = sve;
  const tac = optionalRegset(t, NT.ARM_TAGGED_ADDR_CTRL, 8)?.readBigUInt64LE(0);
  if (tac) out.taggedAddrCtrl = tac;
  return out;
}

const words = (b: Buffer, n: number): bigint[] => Array.from({ length: n }, (_, i) => b.readBigUInt64LE(8 * i));

/** 64-bit values of an image (bigints or numbers), one after the other from byte OFF of B */
function putWords(b: Buffer, vals: (bigint | number)[], off = 0): Buffer {
  vals.forEach((v, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), off + 8 * i));
  return b;
}

/** setRegset, a kernel or CPU refusal of it named: `${who}: cannot set its ${what} (ERRNO)` with the hint */
function setNamed(t: Tracee, nt: number, b: Buffer, who: string, what: string, hint: string): void {
  try {
    t.setRegset(nt, b);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    throw new CriuError(`${who}: cannot set its ${what} (${e.code})`, { hint });
  }
}

function pacToImage(p: NonNullable<Aarch64Extra['pac']>): PacKeys {
  const a = (i: number): bigint => p.address.readBigUInt64LE(8 * i);
  return {
    pac_address_keys: {
      apiakey_lo: a(0),
      apiakey_hi: a(1),
      apibkey_lo: a(2),
      apibkey_hi: a(3),
      apdakey_lo: a(4),
      apdakey_hi: a(5),
      apdbkey_lo: a(6),
      apdbkey_hi: a(7),
      pac_enabled_key: p.enabled,
    },
    pac_generic_keys: { apgakey_lo: p.generic.readBigUInt64LE(0), apgakey_hi: p.generic.readBigUInt64LE(8) },
  };
}

/** thread_info_aarch64 of a stopped thread: its registers, FPSIMD state, TLS and PAC keys. */
export function toImage(th: { regs: Regs; fpu: Buffer; clearTid: bigint; arm?: Aarch64Extra }): ThreadInfoAarch64 {
  const r = th.regs.buf;
  const fp = th.fpu;
  if (fp.length < FPSIMD_SIZE - 8) throw new CriuError(`the FPSIMD state is ${fp.length} bytes, not ${FPSIMD_SIZE}`, 'a bug: report it');
  const ti: ThreadInfoAarch64 = {
    clear_tid_addr: th.clearTid,
    tls: th.arm?.tls ?? 0n,
    gpregs: { regs: words(r, 31), sp: r.readBigUInt64LE(31 * 8), pc: r.readBigUInt64LE(32 * 8), pstate: r.readBigUInt64LE(33 * 8) },
    fpsimd: { vregs: words(fp, 64), fpsr: fp.readUInt32LE(512), fpcr: fp.readUInt32LE(516) },
  };
  if (th.arm?.pac) ti.pac_keys = pacToImage(th.arm.pac);
  if (th.arm?.sve) ti.sve = th.arm.sve;
  if (th.arm?.taggedAddrCtrl) ti.tagged_addr_ctrl = th.arm.taggedAddrCtrl;
  return ti;
}

/** user_aarch64_regs_entry → struct user_pt_regs */
export function regsFromImage(e: UserAarch64RegsEntry): Buffer {
  const b = putWords(Buffer.alloc(34 * 8), e.regs ?? []);
  return putWords(b, [e.sp, e.pc, e.pstate], 31 * 8);
}

/** user_aarch64_fpsimd_context_entry → struct user_fpsimd_state */
export function fpsimdFromImage(e: UserAarch64FpsimdContextEntry): Buffer {
  const b = putWords(Buffer.alloc(FPSIMD_SIZE), e.vregs ?? []);
  b.writeUInt32LE(e.fpsr >>> 0, 512);
  b.writeUInt32LE(e.fpcr >>> 0, 516);
  return b;
}

/**
 * Sets the thread's PAC keys as dumped: pointers it signed before the dump (return addresses
 * on its stack, signed function pointers) authenticate only with the same keys. A CPU without
 * pointer authentication cannot take an image of a task that had keys.
 */
function setPacKeys(t: Tracee, p: PacKeys, who: string): void {
  const a = p.pac_address_keys,
    g = p.pac_generic_keys;
  const hint = 'the task was dumped on a CPU with pointer authentication; restore it on one that has it (Armv8.3-A)';
  if (a) {
    const keys = [a.apiakey_lo, a.apiakey_hi, a.apibkey_lo, a.apibkey_hi, a.apdakey_lo, a.apdakey_hi, a.apdbkey_lo, a.apdbkey_hi];
    setNamed(t, NT.ARM_PACA_KEYS, putWords(Buffer.alloc(PACA_SIZE), keys), who, 'pointer authentication address keys', hint);
    // the choice of enabled keys is 5.13+; before, every key is on, as a dumped one was
    if (BigInt(a.pac_enabled_key) !== 0xfn || optionalRegset(t, NT.ARM_PAC_ENABLED_KEYS, 8))
      setNamed(t, NT.ARM_PAC_ENABLED_KEYS, putWords(Buffer.alloc(8), [a.pac_enabled_key]), who, 'pointer authentication enabled keys', hint);
  }
  if (g) setNamed(t, NT.ARM_PACG_KEYS, putWords(Buffer.alloc(PACG_SIZE), [g.apgakey_lo, g.apgakey_hi]), who, 'pointer authentication generic key', hint);
}

/**
 * The SVE state as dumped (after FPSIMD, which would drop it): a CPU whose vector lengths do
 * not include the dumped one would give another, which is refused by name.
 */
function setSve(t: Tracee, sve: Buffer, who: string): void {
  const want = sveHeader(sve);
  setNamed(t, NT.ARM_SVE, sve, who, `SVE state (vector length ${want.vl} bytes)`, 'the task was dumped on a CPU with SVE; restore it on one that has SVE');
  // the header says which length the kernel gave
  const got = optionalRegset(t, NT.ARM_SVE, SVE_HEADER);
  const vl = got ? sveHeader(got).vl : 0;
  if (vl !== want.vl) {
    throw new CriuError(`${who}: its SVE vector length was ${want.vl} bytes, this CPU gives ${vl}`, {
      hint: 'restore on a CPU that supports the dumped SVE vector length',
    });
  }
}

/** FPSIMD and SVE state, TLS, PAC keys, tagged address control, then the general registers of a restored thread. */
export function setThreadState(t: Tracee, ti: ThreadInfoAarch64, who: string): void {
  t.setRegset(NT.PRFPREG, fpsimdFromImage(ti.fpsimd));
  if (ti.sve?.length) setSve(t, ti.sve, who);
  if (ti.tagged_addr_ctrl) {
    const v = BigInt(ti.tagged_addr_ctrl);
    setNamed(
      t,
      NT.ARM_TAGGED_ADDR_CTRL,
      putWords(Buffer.alloc(8), [v]),
      who,
      `tagged address control 0x${v.toString(16)}`,
      'the kernel or CPU lacks the tagged address ABI or MTE the task had set (prctl PR_SET_TAGGED_ADDR_CTRL)',
    );
  }
  t.setRegset(NT.ARM_TLS, putWords(Buffer.alloc(8), [ti.tls]));
  if (ti.pac_keys) setPacKeys(t, ti.pac_keys, who);
  t.setRegset(NT.PRSTATUS, regsFromImage(ti.gpregs));
}
