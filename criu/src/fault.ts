// Numbered fault points for failure tests: CRIU_FAULT=N makes step N fail. Honoured only when
// the variable is set; steps are numbered per operation (dump 1..n, restore 101..n).
import { CriuError } from './errors.js';

const wanted = process.env.CRIU_FAULT ? Number(process.env.CRIU_FAULT) : 0;

export function faultPoint(n: number, step: string): void {
  if (wanted && wanted === n) throw new CriuError(`fault injected at step ${n} (${step}) by CRIU_FAULT=${n}`);
}
