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

/** the vector length (bytes) a thread gets at exec, as the restore's puppet has it */
function defaultVl(kind: 'sve' | 'sme'): number {
  try {
    return Number(fs.readFileSync(`/proc/sys/abi/${kind}_default_vector_length`, 'utf8').trim());
  } catch {
    return -1;
  }
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
  const b = Buffer.alloc(34 * 8);
  (e.regs ?? []).forEach((v, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), 8 * i));
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(e.sp)), 31 * 8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(e.pc)), 32 * 8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(e.pstate)), 33 * 8);
  return b;
}

/** user_aarch64_fpsimd_context_entry → struct user_fpsimd_state */
export function fpsimdFromImage(e: UserAarch64FpsimdContextEntry): Buffer {
  const b = Buffer.alloc(FPSIMD_SIZE);
  (e.vregs ?? []).forEach((v, i) => b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), 8 * i));
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
  if (a) {
    const b = Buffer.alloc(PACA_SIZE);
    [a.apiakey_lo, a.apiakey_hi, a.apibkey_lo, a.apibkey_hi, a.apdakey_lo, a.apdakey_hi, a.apdbkey_lo, a.apdbkey_hi].forEach((v, i) =>
      b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v)), 8 * i),
    );
    setPac(t, NT.ARM_PACA_KEYS, b, who, 'address keys');
    const en = Buffer.alloc(8);
    en.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a.pac_enabled_key)));
    // the choice of enabled keys is 5.13+; before, every key is on, as a dumped one was
    if (BigInt(a.pac_enabled_key) !== 0xfn || optionalRegset(t, NT.ARM_PAC_ENABLED_KEYS, 8)) setPac(t, NT.ARM_PAC_ENABLED_KEYS, en, who, 'enabled keys');
  }
  if (g) {
    const b = Buffer.alloc(PACG_SIZE);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(g.apgakey_lo)), 0);
    b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(g.apgakey_hi)), 8);
    setPac(t, NT.ARM_PACG_KEYS, b, who, 'generic key');
  }
}

function setPac(t: Tracee, nt: number, b: Buffer, who: string, what: string): void {
  try {
    t.setRegset(nt, b);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    throw new CriuError(`${who}: cannot set its pointer authentication ${what} (${e.code})`, {
      hint: 'the task was dumped on a CPU with pointer authentication; restore it on one that has it (Armv8.3-A)',
    });
  }
}

/**
 * The SVE state as dumped (after FPSIMD, which would drop it): a CPU whose vector lengths do
 * not include the dumped one would give another, which is refused by name.
 */
function setSve(t: Tracee, sve: Buffer, who: string): void {
  const want = sveHeader(sve);
  try {
    t.setRegset(NT.ARM_SVE, sve);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    throw new CriuError(`${who}: cannot set its SVE state (vector length ${want.vl} bytes): ${e.code}`, {
      hint: 'the task was dumped on a CPU with SVE; restore it on one that has SVE',
    });
  }
  const got = readSveRegset(t, NT.ARM_SVE);
  const vl = got ? sveHeader(got).vl : 0;
  if (vl !== want.vl) {
    throw new CriuError(`${who}: its SVE vector length was ${want.vl} bytes, this CPU gives ${vl}`, {
      hint: 'restore on a CPU that supports the dumped SVE vector length',
    });
  }
}

function setTaggedAddrCtrl(t: Tracee, v: bigint, who: string): void {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  try {
    t.setRegset(NT.ARM_TAGGED_ADDR_CTRL, b);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    throw new CriuError(`${who}: cannot set its tagged address control 0x${v.toString(16)} (${e.code})`, {
      hint: 'the kernel or CPU lacks the tagged address ABI or MTE the task had set (prctl PR_SET_TAGGED_ADDR_CTRL)',
    });
  }
}

/** FPSIMD and SVE state, TLS, PAC keys, tagged address control, then the general registers of a restored thread. */
export function setThreadState(t: Tracee, ti: ThreadInfoAarch64, who: string): void {
  t.setRegset(NT.PRFPREG, fpsimdFromImage(ti.fpsimd));
  if (ti.sve?.length) setSve(t, ti.sve, who);
  if (ti.tagged_addr_ctrl) setTaggedAddrCtrl(t, BigInt(ti.tagged_addr_ctrl), who);
  const tls = Buffer.alloc(8);
  tls.writeBigUInt64LE(BigInt.asUintN(64, BigInt(ti.tls)));
  t.setRegset(NT.ARM_TLS, tls);
  if (ti.pac_keys) setPacKeys(t, ti.pac_keys, who);
  t.setRegset(NT.PRSTATUS, regsFromImage(ti.gpregs));
}
