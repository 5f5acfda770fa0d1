// Numbered fault points for failure tests: CRIU_FAULT=N makes step N fail. Honoured only when
// the variable is set; steps are numbered per operation (dump 1..n, restore 101..n).
// CRIU_FAULT_BEFORE_RELEASE=1 makes a restore fail at its last step, right before the restored
// tree would be let go, whatever that step's number: the normal failure path then kills the
// whole tree. The image fuzzer (fuzz/run.mjs) restores mutated images this way, so that a
// mutated program never runs free.
// A step hook (set by the Node API's worker) sees every step as it starts: it reports the step as
// progress and throws when the caller aborted, so that the operation fails there the way a fault
// does (a dump lets the tree go as it was, a restore kills what it made).
import { CriuError } from './errors.js';
import { atStart } from './snapshot.js';

let wanted = 0;
let beforeRelease = false;
atStart(() => {
  wanted = process.env.CRIU_FAULT ? Number(process.env.CRIU_FAULT) : 0;
  beforeRelease = process.env.CRIU_FAULT_BEFORE_RELEASE === '1';
});

let stepHook: ((n: number, step: string) => void) | null = null;

/** The hook run at every step before the fault check (null: none). */
export function setStepHook(fn: ((n: number, step: string) => void) | null): void {
  stepHook = fn;
}

export function faultPoint(n: number, step: string): void {
  stepHook?.(n, step);
  if (wanted && wanted === n) throw new CriuError(`fault injected at step ${n} (${step}) by CRIU_FAULT=${n}`);
  if (beforeRelease && step === 'release')
    throw new CriuError(`fault injected before the release of the restored tree (step ${n}) by CRIU_FAULT_BEFORE_RELEASE=1`);
}
