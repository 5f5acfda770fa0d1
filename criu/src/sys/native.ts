// Helpers from native/build/libcriu-native.so, loaded on first use.
import { koffi } from './libc.js';
import { nativeLib } from '../paths.js';
import { CriuError } from './errors.js';

let cpuidFn: ((leaf: number, sub: number, out: Uint32Array) => number) | null = null;

export function cpuid(leaf: number, subleaf = 0): [number, number, number, number] {
  if (!cpuidFn) {
    const lib = koffi.load(nativeLib);
    cpuidFn = lib.func('int criu_cpuid(uint32_t leaf, uint32_t sub, _Out_ uint32_t *out)') as never;
  }
  const out = new Uint32Array(4);
  if (cpuidFn!(leaf, subleaf, out) !== 0) throw new CriuError('CPUID is not available on this architecture', { object: `CPUID leaf 0x${leaf.toString(16)}` });
  return [out[0], out[1], out[2], out[3]];
}
