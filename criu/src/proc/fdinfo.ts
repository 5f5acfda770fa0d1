// /proc/PID/fdinfo/FD (generic part plus the per-type lines) and /proc/PID/fd/* links.
import { readProcText, readProcDir, readProcLink, numericEntries, ProcParseError } from './util.js';

export interface EpollTfd {
  tfd: number;
  /** EPOLL* event mask */
  events: number;
  data: bigint;
  pos: bigint;
  ino: number;
  /** kernel dev_t (new encoding: major << 20 | minor) of the target file */
  sdev: number;
}
export interface InotifyWd {
  wd: number;
  ino: number;
  sdev: number;
  mask: number;
  ignoredMask: number;
  fhandleBytes?: number;
  fhandleType?: number;
  fhandle?: Buffer;
}
export interface FanotifyMark {
  kind: 'inode' | 'mount' | 'sb';
  ino?: number;
  sdev?: number;
  mntId?: number;
  mflags: number;
  mask: number;
  ignoredMask: number;
  fhandleBytes?: number;
  fhandleType?: number;
  fhandle?: Buffer;
}
export interface Fdinfo {
  pos: bigint;
  /** O_* flags (printed in octal by the kernel) */
  flags: number;
  mntId: number;
  ino: number;
  eventfd?: { count: bigint; id?: number; semaphore?: boolean };
  epoll?: { tfds: EpollTfd[] };
  signalfd?: { sigmask: bigint };
  timerfd?: {
    clockid: number;
    ticks: bigint;
    settimeFlags: number;
    itValue: { sec: bigint; nsec: bigint };
    itInterval: { sec: bigint; nsec: bigint };
  };
  inotify?: { wds: InotifyWd[] };
  fanotify?: { flags: number; eventFlags: number; marks: FanotifyMark[] };
  /** a pidfd's target ("Pid:" and "NSpid:" lines; -1 once the task is reaped) */
  pidfd?: { pid: number; nspid: number[] };
  ttyIndex?: number;
  /** "lock:" lines as printed (same format as /proc/locks) */
  locks: string[];
  /** any other "key: value" line */
  other: Record<string, string>;
}

/** "k1:v1 k2:v2 …" of inotify/fanotify lines. */
function kv(s: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const t of s.trim().split(/\s+/)) {
    const c = t.indexOf(':');
    if (c > 0) o[t.slice(0, c)] = t.slice(c + 1);
  }
  return o;
}
const hx = (s: string | undefined): number => (s === undefined ? 0 : parseInt(s, 16));
const fh = (o: Record<string, string>): Pick<InotifyWd, 'fhandleBytes' | 'fhandleType' | 'fhandle'> =>
  o['fhandle-bytes'] === undefined
    ? {}
    : { fhandleBytes: hx(o['fhandle-bytes']), fhandleType: hx(o['fhandle-type']), fhandle: Buffer.from(o.f_handle ?? '', 'hex') };

const TFD_RE = /^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)\s+pos:\s*(-?\d+)\s+ino:\s*([0-9a-f]+)\s+sdev:\s*([0-9a-f]+)/;
const PAIR_RE = /^\(\s*(\d+),\s*(\d+)\s*\)$/;

type Bad = (why: string) => never;

/** The lines that describe an object behind the fd (epoll targets, inotify and fanotify marks). */
function parseObjectLine(o: Fdinfo, l: string, bad: Bad): boolean {
  if (l.startsWith('tfd:')) {
    const m = TFD_RE.exec(l) ?? bad('bad epoll tfd line');
    (o.epoll ??= { tfds: [] }).tfds.push({
      tfd: Number(m[1]),
      events: parseInt(m[2], 16),
      data: BigInt('0x' + m[3]),
      pos: BigInt(m[4]),
      ino: parseInt(m[5], 16),
      sdev: parseInt(m[6], 16),
    });
    return true;
  }
  if (l.startsWith('inotify ')) {
    const k = kv(l.slice(8));
    if (k.wd === undefined) bad('inotify line without wd');
    (o.inotify ??= { wds: [] }).wds.push({
      wd: hx(k.wd),
      ino: hx(k.ino),
      sdev: hx(k.sdev),
      mask: hx(k.mask),
      ignoredMask: hx(k.ignored_mask),
      ...fh(k),
    });
    return true;
  }
  if (l.startsWith('fanotify ')) {
    const k = kv(l.slice(9));
    const fa = (o.fanotify ??= { flags: 0, eventFlags: 0, marks: [] });
    if (k['event-flags'] !== undefined) {
      fa.flags = hx(k.flags);
      fa.eventFlags = hx(k['event-flags']);
      return true;
    }
    const kind = k.ino !== undefined ? 'inode' : k.mnt_id !== undefined ? 'mount' : 'sb';
    fa.marks.push({
      kind,
      ...(k.ino !== undefined ? { ino: hx(k.ino) } : {}),
      ...(k.sdev !== undefined ? { sdev: hx(k.sdev) } : {}),
      ...(k.mnt_id !== undefined ? { mntId: hx(k.mnt_id) } : {}),
      mflags: hx(k.mflags),
      mask: hx(k.mask),
      ignoredMask: hx(k.ignored_mask),
      ...fh(k),
    });
    return true;
  }
  return false;
}

/** A "key: value" line; returns the key. */
function parseKeyLine(o: Fdinfo, l: string, bad: Bad): string {
  const c = l.indexOf(':');
  if (c < 0) bad('no colon');
  const key = l.slice(0, c);
  const v = l.slice(c + 1).trim();
  const int = (s: string, radix = 10): number => {
    const n = radix === 10 ? Number(s) : parseInt(s, radix);
    return Number.isInteger(n) && s !== '' ? n : bad(`bad ${key}`);
  };
  const big = (s: string, hex = false): bigint => ((hex ? /^[0-9a-f]+$/i : /^-?\d+$/).test(s) ? BigInt(hex ? '0x' + s : s) : bad(`bad ${key}`));
  switch (key) {
    case 'pos':
      o.pos = big(v);
      break;
    case 'flags':
      o.flags = int(v, 8);
      break;
    case 'mnt_id':
      o.mntId = int(v);
      break;
    case 'ino':
      o.ino = int(v);
      break;
    case 'eventfd-count':
      (o.eventfd ??= { count: 0n }).count = big(v, true);
      break;
    case 'eventfd-id':
      (o.eventfd ??= { count: 0n }).id = int(v);
      break;
    case 'eventfd-semaphore':
      (o.eventfd ??= { count: 0n }).semaphore = int(v) !== 0;
      break;
    case 'sigmask':
      o.signalfd = { sigmask: big(v, true) };
      break;
    case 'clockid':
    case 'ticks':
    case 'settime flags':
    case 'it_value':
    case 'it_interval': {
      const t = (o.timerfd ??= { clockid: 0, ticks: 0n, settimeFlags: 0, itValue: { sec: 0n, nsec: 0n }, itInterval: { sec: 0n, nsec: 0n } });
      if (key === 'clockid') t.clockid = int(v);
      else if (key === 'ticks') t.ticks = big(v);
      else if (key === 'settime flags') t.settimeFlags = int(v, 8);
      else {
        const m = PAIR_RE.exec(v) ?? bad(`bad ${key}`);
        const p = { sec: BigInt(m[1]), nsec: BigInt(m[2]) };
        if (key === 'it_value') t.itValue = p;
        else t.itInterval = p;
      }
      break;
    }
    case 'Pid':
      (o.pidfd ??= { pid: 0, nspid: [] }).pid = int(v);
      break;
    case 'NSpid':
      (o.pidfd ??= { pid: 0, nspid: [] }).nspid = v.split(/\s+/).map((s) => int(s));
      break;
    case 'tty-index':
      o.ttyIndex = int(v);
      break;
    case 'lock':
      o.locks.push(v);
      break;
    default:
      o.other[key] = v;
  }
  return key;
}

/** Parse the text of /proc/PID/fdinfo/FD. */
export function parseFdinfo(text: string, file = 'fdinfo'): Fdinfo {
  const o: Fdinfo = { pos: 0n, flags: 0, mntId: 0, ino: 0, locks: [], other: {} };
  const ls = text.split('\n');
  const seen = new Set<string>();
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i];
    if (l === '') continue;
    const bad = (why: string): never => {
      throw new ProcParseError(file, i + 1, l, why);
    };
    if (parseObjectLine(o, l, bad)) continue;
    seen.add(parseKeyLine(o, l, bad));
  }
  if (!seen.has('pos') || !seen.has('flags')) throw new ProcParseError(file, 1, ls[0] ?? '', 'no pos/flags lines');
  return o;
}

export function readFdinfo(pid: number, fd: number): Fdinfo {
  return parseFdinfo(readProcText(pid, `fdinfo/${fd}`), `/proc/${pid}/fdinfo/${fd}`);
}

/** Open fd numbers of a task, ascending. */
export function listFds(pid: number): number[] {
  return numericEntries(readProcDir(pid, 'fd'));
}

export type FdLinkKind = 'path' | 'pipe' | 'socket' | 'anon_inode' | 'ns' | 'other';
export interface FdLink {
  /** readlink text as is */
  raw: string;
  kind: FdLinkKind;
  /** pipe, socket and namespace ("net:[…]") inode */
  ino?: number;
  /** anon_inode name without brackets: eventfd, eventpoll, signalfd, timerfd, inotify, [pidfd]→pidfd … */
  anonType?: string;
  /** for kind "ns": net, mnt, uts, ipc, pid, user, cgroup, time */
  nsType?: string;
  /** for kind "path": the path without " (deleted)" */
  path?: string;
  deleted: boolean;
}

const INO_RE = /^([a-z_]+):\[(\d+)\]$/;
/** Classify the target text of a /proc/PID/fd/N link. */
export function parseFdLink(raw: string): FdLink {
  if (raw.startsWith('/')) {
    const deleted = raw.endsWith(' (deleted)');
    return { raw, kind: 'path', path: deleted ? raw.slice(0, -10) : raw, deleted };
  }
  if (raw.startsWith('anon_inode:')) {
    let t = raw.slice(11);
    if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
    return { raw, kind: 'anon_inode', anonType: t, deleted: false };
  }
  const m = INO_RE.exec(raw);
  if (m) {
    const ino = Number(m[2]);
    if (m[1] === 'pipe') return { raw, kind: 'pipe', ino, deleted: false };
    if (m[1] === 'socket') return { raw, kind: 'socket', ino, deleted: false };
    return { raw, kind: 'ns', nsType: m[1], ino, deleted: false };
  }
  return { raw, kind: 'other', deleted: false };
}

/** readlink /proc/PID/fd/FD, classified. */
export function readFdLink(pid: number, fd: number): FdLink {
  return parseFdLink(readProcLink(pid, `fd/${fd}`));
}
