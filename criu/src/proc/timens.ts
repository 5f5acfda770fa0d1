// /proc/PID/timens_offsets: the clock offsets of the time namespace a task's children get
// (its own one too unless it unshared a new one since).
import { readProcText, ProcParseError } from './util.js';

export interface TimensOffsets {
  monotonic: bigint;
  boottime: bigint;
}

/** "monotonic S NS" / "boottime S NS" lines (clock names, or numbers on old kernels) → ns. */
export function parseTimensOffsets(text: string, file = 'timens_offsets'): TimensOffsets {
  const out: TimensOffsets = { monotonic: 0n, boottime: 0n };
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const m = /^\s*(\S+)\s+(-?\d+)\s+(\d+)\s*$/.exec(line);
    if (!m) throw new ProcParseError(file, i + 1, line, 'not "CLOCK SECONDS NANOSECONDS"');
    const v = BigInt(m[2]) * 1_000_000_000n + BigInt(m[3]);
    if (m[1] === 'monotonic' || m[1] === '1') out.monotonic = v;
    else if (m[1] === 'boottime' || m[1] === '7') out.boottime = v;
  }
  return out;
}

export function timensOffsets(pid: number): TimensOffsets {
  return parseTimensOffsets(readProcText(pid, 'timens_offsets'), `/proc/${pid}/timens_offsets`);
}
