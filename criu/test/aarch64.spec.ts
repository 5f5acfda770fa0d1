// aarch64 thread state <-> thread_info_aarch64, on any machine: synthetic regsets of a stopped
// thread (what PTRACE_GETREGSET gives) go into a core entry, through the protobuf encoding CRIU
// reads, and back into the regsets a restore sets, byte for byte. A fake tracee stands for the
// kernel, with and without pointer authentication.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import { readExtra, toImage, setThreadState, FPSIMD_SIZE, type Aarch64Extra } from '../src/arch/aarch64.js';
import { NT } from '../src/ptrace/consts.js';
import { SysError, E } from '../src/sys/libc.js';
import { CriuError } from '../src/errors.js';
import { encodeMessage, decodeMessage, type ThreadInfoAarch64 } from '../src/images/index.js';
import type { Tracee, Regs } from '../src/ptrace/tracee.js';

/** a buffer of n bytes, each different, seeded so that two buffers differ */
const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed * 31 + 1) & 0xff));

/** A tracee whose regsets are a map; PAC regsets absent where the CPU has no pointer authentication. */
function fakeTracee(regsets: Map<number, Buffer>, pac: boolean, maxVl = 256): { t: Tracee; set: Map<number, Buffer>; order: number[] } {
  const set = new Map<number, Buffer>();
  const order: number[] = [];
  const isPac = (nt: number): boolean => nt === NT.ARM_PACA_KEYS || nt === NT.ARM_PACG_KEYS || nt === NT.ARM_PAC_ENABLED_KEYS;
  const t = {
    getRegset(nt: number, buf: Buffer): number {
      const b = regsets.get(nt);
      if (!b || (!pac && isPac(nt))) throw new SysError('ptrace(PTRACE_GETREGSET)', E.EINVAL, [nt]);
      return b.copy(buf); // as the kernel: what fits in the buffer
    },
    setRegset(nt: number, buf: Buffer): void {
      if (!pac && isPac(nt)) throw new SysError('ptrace(PTRACE_SETREGSET)', E.EINVAL, [nt]);
      const b = Buffer.from(buf);
      // the kernel picks the largest vector length it has up to the one asked for
      if (nt === NT.ARM_SVE && b.readUInt16LE(8) > maxVl) b.writeUInt16LE(maxVl, 8);
      set.set(nt, b);
      regsets.set(nt, b);
      order.push(nt);
    },
  };
  return { t: t as unknown as Tracee, set, order };
}

const dumped = (): Map<number, Buffer> => {
  const fp = pattern(FPSIMD_SIZE, 2);
  fp.fill(0, 520); // the reserved words
  return new Map([
    [NT.PRSTATUS, pattern(34 * 8, 1)],
    [NT.PRFPREG, fp],
    [NT.ARM_TLS, pattern(8, 3)],
    [NT.ARM_PACA_KEYS, pattern(64, 4)],
    [NT.ARM_PACG_KEYS, pattern(16, 5)],
    [NT.ARM_PAC_ENABLED_KEYS, Buffer.from([0x5, 0, 0, 0, 0, 0, 0, 0])],
  ]);
};

/** the dump's side: regsets → thread_info_aarch64 → protobuf → the entry a restore reads */
function throughImage(regsets: Map<number, Buffer>, pac: boolean, live: Buffer | null = null): ThreadInfoAarch64 {
  const { t } = fakeTracee(regsets, pac);
  const arm: Aarch64Extra = readExtra(t, live);
  const ti = toImage({ regs: { buf: regsets.get(NT.PRSTATUS)! } as Regs, fpu: regsets.get(NT.PRFPREG)!, clearTid: 0x1234n, arm });
  return decodeMessage<ThreadInfoAarch64>('thread_info_aarch64', encodeMessage('thread_info_aarch64', ti));
}

test('registers, FPSIMD, TLS and PAC keys come back byte for byte through the image', () => {
  const regs = dumped();
  const ti = throughImage(regs, true);
  // CRIU's layout: x0-x30 then sp, pc, pstate; V registers as two words, low half first
  expect(BigInt(ti.gpregs.regs![0])).toBe(regs.get(NT.PRSTATUS)!.readBigUInt64LE(0));
  expect(BigInt(ti.gpregs.pc)).toBe(regs.get(NT.PRSTATUS)!.readBigUInt64LE(32 * 8));
  expect(BigInt(ti.fpsimd.vregs![1])).toBe(regs.get(NT.PRFPREG)!.readBigUInt64LE(8));
  expect(ti.fpsimd.fpcr).toBe(regs.get(NT.PRFPREG)!.readUInt32LE(516));
  expect(BigInt(ti.pac_keys!.pac_address_keys!.pac_enabled_key)).toBe(5n);
  const { t, set } = fakeTracee(new Map(), true);
  setThreadState(t, ti, 'task 1');
  for (const [nt, b] of regs) expect(set.get(nt)?.toString('hex'), `regset 0x${nt.toString(16)}`).toBe(b.toString('hex'));
});

test('a CPU without pointer authentication: the image has no keys, and an image with keys is refused by name', () => {
  const ti = throughImage(dumped(), false);
  expect(ti.pac_keys).toBeUndefined();
  const { t, set } = fakeTracee(new Map(), false);
  setThreadState(t, ti, 'task 1');
  expect([...set.keys()].sort()).toEqual([NT.PRSTATUS, NT.PRFPREG, NT.ARM_TLS].sort());
  const withKeys = throughImage(dumped(), true);
  let err: unknown;
  try {
    setThreadState(t, withKeys, 'task 7 thread 8');
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CriuError);
  expect(String((err as Error).message)).toMatch(/task 7 thread 8: cannot set its pointer authentication address keys/);
});

/** an NT_ARM_SVE regset: vector length VL bytes, SVE (live registers) or FPSIMD layout */
function sveRegset(vl: number, live: boolean): Buffer {
  // SVE_PT_SIZE: the header (16), then 32 Z of vl, 16 P and FFR of vl/8, FPSR and FPCR (padded to 16)
  const size = live ? 16 + 32 * vl + 17 * (vl / 8) + 16 : 16 + FPSIMD_SIZE;
  const b = pattern(size, 9);
  b.writeUInt32LE(size, 0);
  b.writeUInt32LE(16 + 32 * 256 + 17 * 32 + 16, 4);
  b.writeUInt16LE(vl, 8);
  b.writeUInt16LE(256, 10);
  b.writeUInt16LE(live ? 1 : 0, 12);
  b.writeUInt16LE(0, 14);
  return b;
}

test('SVE: live Z/P registers (as the injector read them) and a vector length of its own go in the image and back, after FPSIMD', () => {
  const live = sveRegset(32, true);
  const ti = throughImage(dumped(), true, live);
  expect(ti.sve?.toString('hex')).toBe(live.toString('hex'));
  const { t, set, order } = fakeTracee(new Map(), true);
  setThreadState(t, ti, 'task 1');
  expect(set.get(NT.ARM_SVE)?.toString('hex')).toBe(live.toString('hex'));
  expect(order.indexOf(NT.ARM_SVE)).toBeGreaterThan(order.indexOf(NT.PRFPREG)); // FPSIMD would drop SVE
  // not live, but a vector length other than exec's (this machine's default, or none: -1) is kept too
  const regs = dumped();
  regs.set(NT.ARM_SVE, sveRegset(16, false));
  const { t: t2 } = fakeTracee(regs, true);
  const dflt = (() => {
    try {
      return Number(fs.readFileSync('/proc/sys/abi/sve_default_vector_length', 'utf8'));
    } catch {
      return -1;
    }
  })();
  expect(Boolean(readExtra(t2).sve)).toBe(dflt !== 16);
});

test('SVE: a CPU that cannot give the dumped vector length is refused by name', () => {
  const ti = throughImage(dumped(), true, sveRegset(64, true));
  const { t } = fakeTracee(new Map(), true, 32);
  expect(() => setThreadState(t, ti, 'task 5 thread 6')).toThrow(/task 5 thread 6: its SVE vector length was 64 bytes, this CPU gives 32/);
});

test('SME state is refused by name at the dump: streaming mode, ZA on', () => {
  const regs = dumped();
  regs.set(NT.ARM_SSVE, sveRegset(32, true));
  expect(() => readExtra(fakeTracee(regs, true).t, null, 'task 3 thread 4')).toThrow(/task 3 thread 4 is in SME streaming mode/);
  const za = Buffer.alloc(16 + 32 * 32);
  za.writeUInt32LE(za.length, 0);
  regs.set(NT.ARM_SSVE, sveRegset(32, false));
  regs.set(NT.ARM_ZA, za);
  expect(() => readExtra(fakeTracee(regs, true).t, null, 'task 3 thread 4')).toThrow(/has SME ZA storage on/);
});
