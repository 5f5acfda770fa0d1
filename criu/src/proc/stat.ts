// /proc/PID/stat and /proc/PID/task/TID/stat. Field names are proc(5)'s, with CRIU's spelling
// for the few proc(5) runs together (start_time, start_code, end_code, start_stack).
// comm may hold spaces and parentheses, so the fields after it are taken from the LAST ')'.
import { readProcText, ProcParseError } from './util.js';

export interface ProcStat {
  pid: number;
  comm: string;
  /** One letter: R S D Z T t X I P … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  tty_nr: number;
  tpgid: number;
  /** PF_* flags of the task */
  flags: number;
  minflt: number;
  cminflt: number;
  majflt: number;
  cmajflt: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
  priority: number;
  nice: number;
  num_threads: number;
  itrealvalue: number;
  /** clock ticks after boot */
  start_time: number;
  vsize: number;
  rss: number;
  rsslim: bigint;
  start_code: bigint;
  end_code: bigint;
  start_stack: bigint;
  kstkesp: bigint;
  kstkeip: bigint;
  /** obsolete decimal signal bitmaps: use status for these */
  signal: bigint;
  blocked: bigint;
  sigignore: bigint;
  sigcatch: bigint;
  wchan: bigint;
  nswap: number;
  cnswap: number;
  exit_signal: number;
  processor: number;
  rt_priority: number;
  policy: number;
  delayacct_blkio_ticks: number;
  guest_time: number;
  cguest_time: number;
  start_data: bigint;
  end_data: bigint;
  start_brk: bigint;
  arg_start: bigint;
  arg_end: bigint;
  env_start: bigint;
  env_end: bigint;
  exit_code: number;
}

type Kind = 'n' | 'b';
// The fields after ")" in order (field 3 onwards); 'b' = bigint.
const FIELDS: [keyof ProcStat, Kind][] = [
  ['state', 'n'],
  ['ppid', 'n'],
  ['pgrp', 'n'],
  ['session', 'n'],
  ['tty_nr', 'n'],
  ['tpgid', 'n'],
  ['flags', 'n'],
  ['minflt', 'n'],
  ['cminflt', 'n'],
  ['majflt', 'n'],
  ['cmajflt', 'n'],
  ['utime', 'n'],
  ['stime', 'n'],
  ['cutime', 'n'],
  ['cstime', 'n'],
  ['priority', 'n'],
  ['nice', 'n'],
  ['num_threads', 'n'],
  ['itrealvalue', 'n'],
  ['start_time', 'n'],
  ['vsize', 'n'],
  ['rss', 'n'],
  ['rsslim', 'b'],
  ['start_code', 'b'],
  ['end_code', 'b'],
  ['start_stack', 'b'],
  ['kstkesp', 'b'],
  ['kstkeip', 'b'],
  ['signal', 'b'],
  ['blocked', 'b'],
  ['sigignore', 'b'],
  ['sigcatch', 'b'],
  ['wchan', 'b'],
  ['nswap', 'n'],
  ['cnswap', 'n'],
  ['exit_signal', 'n'],
  ['processor', 'n'],
  ['rt_priority', 'n'],
  ['policy', 'n'],
  ['delayacct_blkio_ticks', 'n'],
  ['guest_time', 'n'],
  ['cguest_time', 'n'],
  ['start_data', 'b'],
  ['end_data', 'b'],
  ['start_brk', 'b'],
  ['arg_start', 'b'],
  ['arg_end', 'b'],
  ['env_start', 'b'],
  ['env_end', 'b'],
  ['exit_code', 'n'],
];
/** Fields up to exit_code exist since 3.5; older kernels end earlier. */
const MIN_FIELDS = FIELDS.findIndex(([k]) => k === 'exit_signal') + 1;

/** Parse the text of a stat file. */
export function parseStat(text: string, file = 'stat'): ProcStat {
  const line = text.endsWith('\n') ? text.slice(0, -1) : text;
  const open = line.indexOf(' (');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new ProcParseError(file, 1, line, 'no "(comm)"');
  const pid = Number(line.slice(0, open));
  if (!Number.isInteger(pid)) throw new ProcParseError(file, 1, line, 'bad pid');
  const rest = line.slice(close + 2).split(' ');
  if (rest.length < MIN_FIELDS) throw new ProcParseError(file, 1, line, `only ${rest.length} fields after comm`);
  const o: Record<string, unknown> = { pid, comm: line.slice(open + 2, close) };
  for (let i = 0; i < FIELDS.length; i++) {
    const [k, kind] = FIELDS[i];
    const s = rest[i];
    if (s === undefined) {
      o[k] = kind === 'b' ? 0n : 0;
      continue;
    }
    if (k === 'state') {
      o[k] = s;
      continue;
    }
    if (kind === 'b') {
      if (!/^-?\d+$/.test(s)) throw new ProcParseError(file, 1, line, `bad ${k} ${JSON.stringify(s)}`);
      o[k] = BigInt(s);
    } else {
      const v = Number(s);
      if (!Number.isInteger(v)) throw new ProcParseError(file, 1, line, `bad ${k} ${JSON.stringify(s)}`);
      o[k] = v;
    }
  }
  return o as unknown as ProcStat;
}

/** /proc/PID/stat, or /proc/PID/task/TID/stat when tid is given. */
export function readStat(pid: number, tid?: number): ProcStat {
  const dir = tid === undefined ? `/proc/${pid}` : `/proc/${pid}/task/${tid}`;
  return parseStat(readProcText(pid, 'stat', tid), `${dir}/stat`);
}
