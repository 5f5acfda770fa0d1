// xsave state across CPUs, without depending on this machine's CPU: the conversion from the
// image runs against synthetic CPU layouts (an AMD EPYC with AVX-512 and no PKU, an Intel Xeon
// with PKU, a CPU without AVX-512), and the compat comparison against synthetic images.
import type { UserX86FpregsEntry } from '../src/images/index.js';
import { test, expect } from '@playwright/test';
import * as path from 'node:path';
import { readSingle } from '../src/images/index.js';
import { xsaveFromImage, xsaveToImage, PKRU_DEFAULT, type XsaveLayout } from '../src/arch/x86_64.js';
import { compareEntries, onlyComponents, XSAVE_FIELDS, type Msg } from './compat-lib.js';
import { fixtures, fixturesIntel } from './lib.js';

// standard-layout offsets and sizes as CPUID leaf 0xD gives them on each kind of CPU
const AMD: XsaveLayout = { offsets: { 2: 576, 5: 832, 6: 896, 7: 1408 }, sizes: { 2: 256, 5: 64, 6: 512, 7: 1024 }, total: 2432, features: 0xe7n };
const INTEL: XsaveLayout = {
  offsets: { 2: 576, 3: 960, 4: 1024, 5: 1088, 6: 1152, 7: 1664, 9: 2688 },
  sizes: { 2: 256, 3: 64, 4: 64, 5: 64, 6: 512, 7: 1024, 9: 8 },
  total: 2696,
  features: 0x2e7n, // MPX is in the layout, but the kernel does not enable it
};
const AVX2_ONLY: XsaveLayout = { offsets: { 2: 576 }, sizes: { 2: 256 }, total: 832, features: 0x7n };

type Fp = Record<string, any>;
/** xsaveFromImage on an image the tests reach into field by field */
const fromImage = (fp: Fp, o?: Parameters<typeof xsaveFromImage>[1]): Buffer => xsaveFromImage(fp as UserX86FpregsEntry, o);
const core = (dir: string, f: string): Msg => readSingle<Msg>(path.join(dir, f));
const fpOf = (m: Msg): Fp => (m as any).thread_info.fpregs;
const intelFp = (): Fp => structuredClone(fpOf(core(path.join(fixturesIntel, 'mem'), 'core-3997102.img')));
const amdFp = (): Fp => structuredClone(fpOf(core(path.join(fixtures, 'mem'), 'core-3999102.img')));
const bvOf = (x: Buffer): bigint => x.readBigUInt64LE(512);
const WHO = { who: 'task 123 thread 124' };

test.describe('xsaveFromImage on a CPU other than the one that dumped', () => {
  test('the Intel image (pkru at its default 0x55555554) converts for a CPU without PKU, pkru dropped with its bit', () => {
    const fp = intelFp();
    expect(fp.xsave.pkru[0]).toBe(PKRU_DEFAULT);
    expect(BigInt(fp.xsave.xstate_bv) & (1n << 9n)).toBe(1n << 9n);
    const x = fromImage(fp, { layout: AMD, ...WHO });
    expect(x.length).toBe(AMD.total);
    expect(bvOf(x) & (1n << 9n)).toBe(0n);
    // the AVX-512 state it does use lands where the AMD layout has it
    expect(x.readBigUInt64LE(AMD.offsets[5])).toBe(BigInt(fp.xsave.opmask_reg[0]));
    expect(x.readBigUInt64LE(AMD.offsets[7])).toBe(BigInt(fp.xsave.hi16_zmm[0]));
    expect(bvOf(x)).toBe(3n | (BigInt(fp.xsave.xstate_bv) & 0xe4n));
  });

  test('pkru of 0 (its init state) is no obstacle either', () => {
    const fp = intelFp();
    fp.xsave.pkru = [0, 0];
    expect(bvOf(fromImage(fp, { layout: AMD, ...WHO })) & (1n << 9n)).toBe(0n);
  });

  test('pkru really in use is refused on a CPU without PKU, naming the thread, the component and its value', () => {
    const fp = intelFp();
    fp.xsave.pkru = [0x5555555c, 0]; // key 1 write-disabled only: the task allocated and uses keys
    expect(() => fromImage(fp, { layout: AMD, ...WHO })).toThrow(
      'not supported yet: task 123 thread 124 uses xsave component pkru (value 0x5555555c) which this CPU lacks',
    );
    try {
      fromImage(fp, { layout: AMD, ...WHO });
    } catch (e) {
      expect((e as { hint?: string }).hint).toBe('restore on a CPU with PKU');
    }
  });

  test('pkru in use but with its xstate_bv bit clear is the init state: accepted', () => {
    const fp = intelFp();
    fp.xsave.pkru = [0x5555555c, 0];
    fp.xsave.xstate_bv = BigInt(fp.xsave.xstate_bv) & ~(1n << 9n);
    expect(bvOf(fromImage(fp, { layout: AMD, ...WHO })) & (1n << 9n)).toBe(0n);
  });

  test('on a CPU with PKU the Intel image keeps its pkru, and an image without pkru gets the default', () => {
    const x = fromImage(intelFp(), { layout: INTEL, ...WHO });
    expect(x.length).toBe(INTEL.total);
    expect(x.readUInt32LE(INTEL.offsets[9])).toBe(PKRU_DEFAULT);
    expect(bvOf(x) & (1n << 9n)).toBe(1n << 9n);
    // MPX is not enabled by the kernel: no bit for it even though the layout places it
    expect(bvOf(x) & 0x18n).toBe(0n);
    const fp = amdFp();
    expect(fp.xsave.pkru ?? []).toEqual([]); // CRIU's AMD dump has no pkru
    const y = fromImage(fp, { layout: INTEL, ...WHO });
    expect(y.readUInt32LE(INTEL.offsets[9])).toBe(PKRU_DEFAULT);
    expect(bvOf(y) & (1n << 9n)).toBe(1n << 9n);
    expect(y.readBigUInt64LE(INTEL.offsets[5])).toBe(BigInt(fp.xsave.opmask_reg[0]));
  });

  test('AVX-512 state in use is refused on a CPU without AVX-512, by name', () => {
    for (const fp of [intelFp(), amdFp()]) {
      expect(() => fromImage(fp, { layout: AVX2_ONLY, ...WHO })).toThrow(
        /^not supported yet: task 123 thread 124 uses xsave component opmask_reg \(opmask_reg\[0\] = 0x[0-9a-f]+\) which this CPU lacks$/,
      );
    }
    const fp = amdFp();
    fp.xsave.opmask_reg = fp.xsave.opmask_reg.map(() => 0n);
    expect(() => fromImage(fp, { layout: AVX2_ONLY, ...WHO })).toThrow(/uses xsave component hi16_zmm \(hi16_zmm\[\d+\] = 0x/);
  });

  test('AVX-512 state all zero (or with its bits clear) converts for a CPU without AVX-512, the bits dropped', () => {
    const fp = intelFp();
    for (const f of ['opmask_reg', 'zmm_upper', 'hi16_zmm']) fp.xsave[f] = fp.xsave[f].map(() => 0n);
    const x = fromImage(fp, { layout: AVX2_ONLY, ...WHO });
    expect(x.length).toBe(AVX2_ONLY.total);
    expect(bvOf(x)).toBe(3n);
    const g = amdFp();
    g.xsave.xstate_bv = 3n; // non-zero values, but the image says the components are in their init state
    expect(bvOf(fromImage(g, { layout: AVX2_ONLY, ...WHO }))).toBe(3n);
  });

  test('xstate_bv: a bit without the component in the image, or for a component the image has no field for, is dropped', () => {
    const fp = amdFp();
    delete fp.xsave.hi16_zmm;
    fp.xsave.xstate_bv = BigInt(fp.xsave.xstate_bv) | (1n << 2n) | (1n << 17n) | (1n << 18n); // YMM (zero data), AMX tiles
    fp.xsave.ymmh_space = [];
    const x = fromImage(fp, { layout: AMD, ...WHO });
    expect(bvOf(x)).toBe(3n | (1n << 5n)); // x87, SSE and the opmask state the image holds
    expect(x.subarray(AMD.offsets[7], AMD.offsets[7] + 1024).every((b) => b === 0)).toBe(true);
  });

  test('no xsave part at all: x87 and SSE only', () => {
    const fp = amdFp();
    delete fp.xsave;
    const x = fromImage(fp, { layout: INTEL, ...WHO });
    expect(bvOf(x)).toBe(3n);
    expect(x.readUInt32LE(24)).toBe(fp.mxcsr);
  });

  test('CET user state (a shadow stack) is refused by name; the zero cet of every dump is not', () => {
    const fp = amdFp();
    expect(fp.xsave.cet).toEqual({ cet: 0n, ssp: 0n });
    fp.xsave.cet = { cet: 1n, ssp: 0x7f0000001000n };
    expect(() => fromImage(fp, { layout: INTEL, ...WHO })).toThrow(
      'not supported yet: task 123 thread 124 uses CET user state (cet 0x1, ssp 0x7f0000001000): a shadow stack is not restored',
    );
  });

  test('a component with more values than the CPU has room for is a damaged image', () => {
    const fp = amdFp();
    fp.xsave.opmask_reg = [...fp.xsave.opmask_reg, 1n];
    expect(() => fromImage(fp, { layout: AMD, ...WHO })).toThrow(/task 123 thread 124: xsave component opmask_reg has 9 values/);
  });

  test('to the image and back on one layout gives the same state', () => {
    for (const [L, fp] of [
      [AMD, amdFp()],
      [INTEL, intelFp()],
    ] as const) {
      const x = fromImage(fp, { layout: L, ...WHO });
      const back = xsaveToImage(x, L) as Fp;
      for (const k of ['cwd', 'mxcsr', 'st_space', 'xmm_space']) expect(back[k], k).toEqual(fp[k]);
      for (const f of ['opmask_reg', 'hi16_zmm', 'zmm_upper', 'ymmh_space']) expect(back.xsave[f].map(BigInt), f).toEqual(fp.xsave[f].map(BigInt));
      expect(back.xsave.pkru !== undefined).toBe(L === INTEL);
    }
  });
});

test.describe('the compat comparison holds across CPUs and still catches real differences', () => {
  const file = 'core-3997102.img';
  const theirs = (): Msg[] => [core(path.join(fixturesIntel, 'mem'), file)];
  // "ours": the same entry as a dump on a CPU without PKU writes it
  const withoutPkru = (): Msg[] => {
    const m = structuredClone(theirs()[0]) as any;
    delete m.thread_info.fpregs.xsave.pkru;
    m.thread_info.fpregs.xsave.xstate_bv = BigInt(m.thread_info.fpregs.xsave.xstate_bv) & ~(1n << 9n);
    return [m];
  };
  const amdCpu = new Set(['ymmh_space', 'opmask_reg', 'zmm_upper', 'hi16_zmm']);
  const intelCpu = new Set([...amdCpu, 'pkru']);

  test('the same entry compares clean', () => {
    expect(compareEntries(file, theirs(), theirs(), intelCpu)).toEqual([]);
  });

  test('a component only their CPU has (pkru) is left out of the comparison, bit and all', () => {
    expect(compareEntries(file, theirs(), withoutPkru(), amdCpu)).toEqual([]);
    // and the other way round: only our CPU has it
    expect(compareEntries(file, withoutPkru(), theirs(), intelCpu)).toEqual([]);
    const o = onlyComponents(theirs()[0], amdCpu) as any;
    expect(o.thread_info.fpregs.xsave.pkru).toBeUndefined();
    expect(BigInt(o.thread_info.fpregs.xsave.xstate_bv) & (1n << BigInt(XSAVE_FIELDS.pkru))).toBe(0n);
    // the fixture itself is untouched
    expect((theirs()[0] as any).thread_info.fpregs.xsave.pkru).toEqual([PKRU_DEFAULT, 0]);
  });

  test('a component both CPUs have and our dump left out is caught', () => {
    expect(compareEntries(file, theirs(), withoutPkru(), intelCpu)).toEqual([`${file}: field thread_info.fpregs.xsave.pkru[] is missing in ours`]);
    const m = withoutPkru() as any[];
    delete m[0].thread_info.fpregs.xsave.zmm_upper;
    expect(compareEntries(file, theirs(), m, amdCpu)).toEqual([`${file}: field thread_info.fpregs.xsave.zmm_upper[] is missing in ours`]);
  });

  test('a shared component of another size, and a differing value outside the registers, are caught', () => {
    const m = withoutPkru() as any[];
    m[0].thread_info.fpregs.xsave.hi16_zmm = m[0].thread_info.fpregs.xsave.hi16_zmm.slice(0, 64);
    expect(compareEntries(file, theirs(), m, amdCpu)).toEqual([`${file} entry 0 thread_info.fpregs.xsave.hi16_zmm: 64 values in ours, 128 in theirs`]);
    const n = withoutPkru() as any[];
    n[0].tc.comm = 'other';
    expect(compareEntries(file, theirs(), n, amdCpu)).toEqual([`${file} entry 0 tc.comm: ours other, theirs fixture-prog`]);
  });
});
