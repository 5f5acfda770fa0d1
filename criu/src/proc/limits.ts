// /proc/PID/limits: the way to read another task's rlimits without CAP_SYS_RESOURCE (DESIGN rule 8).
import { readProcText, ProcParseError } from './util.js';

export const RLIM_INFINITY = 0xffffffffffffffffn;
/** Names in the kernel's lnames[] order, which is RLIMIT_* index order. */
export const RLIMIT_NAMES = [
  'RLIMIT_CPU',
  'RLIMIT_FSIZE',
  'RLIMIT_DATA',
  'RLIMIT_STACK',
  'RLIMIT_CORE',
  'RLIMIT_RSS',
  'RLIMIT_NPROC',
  'RLIMIT_NOFILE',
  'RLIMIT_MEMLOCK',
  'RLIMIT_AS',
  'RLIMIT_LOCKS',
  'RLIMIT_SIGPENDING',
  'RLIMIT_MSGQUEUE',
  'RLIMIT_NICE',
  'RLIMIT_RTPRIO',
  'RLIMIT_RTTIME',
] as const;
const LABELS = [
  'Max cpu time',
  'Max file size',
  'Max data size',
  'Max stack size',
  'Max core file size',
  'Max resident set',
  'Max processes',
  'Max open files',
  'Max locked memory',
  'Max address space',
  'Max file locks',
  'Max pending signals',
  'Max msgqueue size',
  'Max nice priority',
  'Max realtime priority',
  'Max realtime timeout',
];
const INDEX = new Map(LABELS.map((l, i) => [l, i]));

export interface Rlimit {
  /** RLIMIT_* number */
  resource: number;
  name: (typeof RLIMIT_NAMES)[number];
  cur: bigint;
  max: bigint;
  units: string;
}

/** Parse /proc/PID/limits; the result is indexed by RLIMIT_* number. */
export function parseLimits(text: string, file = 'limits'): Rlimit[] {
  const out: Rlimit[] = [];
  const ls = text.split('\n');
  for (let i = 1; i < ls.length; i++) {
    const l = ls[i];
    if (l.trim() === '') continue;
    // "%-25s %-20s %-20s %-10s"
    const label = l.slice(0, 25).trimEnd();
    const idx = INDEX.get(label);
    if (idx === undefined) throw new ProcParseError(file, i + 1, l, 'unknown limit');
    const [soft, hard, units = ''] = l.slice(25).trim().split(/\s+/);
    const val = (s: string | undefined): bigint => {
      if (s === 'unlimited') return RLIM_INFINITY;
      if (s === undefined || !/^\d+$/.test(s)) throw new ProcParseError(file, i + 1, l, `bad value ${JSON.stringify(s)}`);
      return BigInt(s);
    };
    out[idx] = { resource: idx, name: RLIMIT_NAMES[idx], cur: val(soft), max: val(hard), units };
  }
  for (let i = 0; i < LABELS.length; i++) {
    if (!out[i]) throw new ProcParseError(file, 0, '', `missing "${LABELS[i]}"`);
  }
  return out;
}

export function readLimits(pid: number): Rlimit[] {
  return parseLimits(readProcText(pid, 'limits'), `/proc/${pid}/limits`);
}
