// /proc/PID/status (and /proc/PID/task/TID/status): credentials, capabilities, signals, ns ids.
import { readProcText, ProcParseError } from './util.js';
import * as fs from 'node:fs';

export interface ProcStatus {
  name: string;
  /** null on kernels without the Umask line (< 4.7) */
  umask: number | null;
  /** one letter (R S D T t Z X I) */
  state: string;
  /** the word in parentheses ("sleeping") */
  stateName: string;
  tgid: number;
  ngid: number;
  pid: number;
  ppid: number;
  tracerPid: number;
  /** real, effective, saved, filesystem */
  uid: [number, number, number, number];
  gid: [number, number, number, number];
  fdSize: number;
  groups: number[];
  /** innermost-last: [outer ns id, …, own ns id]; [pid] on kernels without NS* lines */
  nstgid: number[];
  nspid: number[];
  nspgid: number[];
  nssid: number[];
  threads: number;
  sigQ: { queued: number; limit: number };
  sigPnd: bigint;
  shdPnd: bigint;
  sigBlk: bigint;
  sigIgn: bigint;
  sigCgt: bigint;
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: number;
  /** 0 disabled, 1 strict, 2 filter */
  seccomp: number;
  seccompFilters: number;
  /** Cpus_allowed_list expanded to cpu numbers */
  cpusAllowed: number[];
  memsAllowed: number[];
  voluntaryCtxtSwitches: number;
  nonvoluntaryCtxtSwitches: number;
  /** Vm*, Rss*, HugetlbPages in kB */
  kb: Record<string, number>;
  /** every line as key → raw value text */
  raw: Record<string, string>;
}

/** Expand a cpu list "0-3,8,10-11" to numbers. */
export function parseCpuList(s: string): number[] {
  const out: number[] = [];
  for (const part of s.trim().split(',')) {
    if (part === '') continue;
    const d = part.indexOf('-');
    if (d < 0) {
      out.push(Number(part));
      continue;
    }
    const a = Number(part.slice(0, d)),
      b = Number(part.slice(d + 1));
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** The CPUs online on this machine (/sys/devices/system/cpu/online), read once. */
let online: number[] | undefined;
export function onlineCpus(): number[] {
  if (!online) {
    try {
      online = parseCpuList(fs.readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    } catch {
      online = [];
    }
  }
  return online;
}

/** A CPU list as the 64-bit words of a cpumask (CPU n is bit n % 64 of word n / 64). */
export function cpuListToWords(cpus: number[]): bigint[] {
  const words: bigint[] = new Array<bigint>(cpus.length ? Math.floor(Math.max(...cpus) / 64) + 1 : 0).fill(0n);
  for (const c of cpus) words[c >> 6] |= 1n << BigInt(c & 63);
  return words;
}

export function cpuWordsToList(words: (bigint | number | string)[]): number[] {
  const out: number[] = [];
  words.forEach((w, i) => {
    let v = BigInt(w);
    for (let b = 0; v; b++, v >>= 1n) if (v & 1n) out.push(i * 64 + b);
  });
  return out;
}

/** "0-3,8" from [0, 1, 2, 3, 8]. */
export function formatCpuList(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; i++) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === cpus[j] + 1) j++;
    parts.push(j > i ? `${cpus[i]}-${cpus[j]}` : `${cpus[i]}`);
    i = j;
  }
  return parts.join(',');
}

function unescapeName(s: string): string {
  // proc_task_name: seq_escape_str(…, ESCAPE_SPACE | ESCAPE_SPECIAL, "\n\\")
  if (s.indexOf('\\') < 0) return s;
  const m: Record<string, string> = { n: '\n', t: '\t', r: '\r', f: '\f', v: '\v', '\\': '\\', '"': '"', a: '\x07', e: '\x1b' };
  return s.replace(/\\([ntrfv\\"ae]|[0-7]{3})/g, (_, c: string) => (c.length === 3 ? String.fromCharCode(parseInt(c, 8)) : m[c]));
}

type Fields = { raw: Record<string, string>; lineOf: Record<string, number> };

/** "Key:\tvalue" lines by key, with the line each came from. */
function statusFields(text: string, file: string): Fields {
  const raw: Record<string, string> = {};
  const lineOf: Record<string, number> = {};
  const ls = text.split('\n');
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i];
    if (l === '') continue;
    const c = l.indexOf(':');
    if (c < 0) throw new ProcParseError(file, i + 1, l, 'no colon');
    const k = l.slice(0, c);
    raw[k] = l.slice(c + 1).replace(/^[\t ]+/, '');
    lineOf[k] = i + 1;
  }
  return { raw, lineOf };
}

/** Readers of one field each, failing with the field's line. */
function fieldReaders({ raw, lineOf }: Fields, file: string) {
  const err = (k: string, why: string): never => {
    throw new ProcParseError(file, lineOf[k] ?? 0, `${k}:\t${raw[k] ?? ''}`, why);
  };
  const need = (k: string): string => (raw[k] === undefined ? err(k, `missing ${k}`) : raw[k]);
  const num = (k: string, dflt?: number): number => {
    if (raw[k] === undefined && dflt !== undefined) return dflt;
    const v = Number(need(k));
    return Number.isInteger(v) ? v : err(k, `bad ${k}`);
  };
  const hex = (k: string): bigint => {
    if (raw[k] === undefined) return 0n;
    const s = raw[k];
    return /^[0-9a-fA-F]+$/.test(s) ? BigInt('0x' + s) : err(k, `bad ${k}`);
  };
  const nums = (k: string): number[] => {
    const s = (raw[k] ?? '').trim();
    if (s === '') return [];
    const v = s.split(/\s+/).map(Number);
    return v.some((x) => !Number.isInteger(x)) ? err(k, `bad ${k}`) : v;
  };
  const quad = (k: string): [number, number, number, number] => {
    const v = nums(k);
    return v.length === 4 ? (v as [number, number, number, number]) : err(k, `${k} needs 4 ids`);
  };
  return { need, num, hex, nums, quad };
}

/** Parse the text of a status file. */
export function parseStatus(text: string, file = 'status'): ProcStatus {
  const fields = statusFields(text, file);
  const { raw } = fields;
  const { need, num, hex, nums, quad } = fieldReaders(fields, file);
  const pid = num('Pid');
  const st = need('State');
  const sq = (raw.SigQ ?? '0/0').split('/');
  const kb: Record<string, number> = {};
  for (const k of Object.keys(raw)) {
    if (raw[k].endsWith(' kB')) kb[k] = Number(raw[k].slice(0, -3).trim());
  }
  const nsOr = (k: string, self: number): number[] => (raw[k] === undefined ? [self] : nums(k));
  return {
    name: unescapeName(raw.Name ?? ''),
    umask: raw.Umask === undefined ? null : parseInt(raw.Umask, 8),
    state: st.charAt(0),
    stateName: st.replace(/^.\s*\(?/, '').replace(/\)$/, ''),
    tgid: num('Tgid'),
    ngid: num('Ngid', 0),
    pid,
    ppid: num('PPid'),
    tracerPid: num('TracerPid'),
    uid: quad('Uid'),
    gid: quad('Gid'),
    fdSize: num('FDSize', 0),
    groups: nums('Groups'),
    nstgid: nsOr('NStgid', num('Tgid')),
    nspid: nsOr('NSpid', pid),
    nspgid: nsOr('NSpgid', 0),
    nssid: nsOr('NSsid', 0),
    threads: num('Threads'),
    sigQ: { queued: Number(sq[0]), limit: Number(sq[1]) },
    sigPnd: hex('SigPnd'),
    shdPnd: hex('ShdPnd'),
    sigBlk: hex('SigBlk'),
    sigIgn: hex('SigIgn'),
    sigCgt: hex('SigCgt'),
    capInh: hex('CapInh'),
    capPrm: hex('CapPrm'),
    capEff: hex('CapEff'),
    capBnd: hex('CapBnd'),
    capAmb: hex('CapAmb'),
    noNewPrivs: num('NoNewPrivs', 0),
    seccomp: num('Seccomp', 0),
    seccompFilters: num('Seccomp_filters', 0),
    cpusAllowed: parseCpuList(raw.Cpus_allowed_list ?? ''),
    memsAllowed: parseCpuList(raw.Mems_allowed_list ?? ''),
    voluntaryCtxtSwitches: num('voluntary_ctxt_switches', 0),
    nonvoluntaryCtxtSwitches: num('nonvoluntary_ctxt_switches', 0),
    kb,
    raw,
  };
}

/** /proc/PID/status, or /proc/PID/task/TID/status when tid is given. */
export function readStatus(pid: number, tid?: number): ProcStatus {
  const dir = tid === undefined ? `/proc/${pid}` : `/proc/${pid}/task/${tid}`;
  return parseStatus(readProcText(pid, 'status', tid), `${dir}/status`);
}
