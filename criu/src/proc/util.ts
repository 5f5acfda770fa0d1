// Shared plumbing of the /proc parsers: reading a /proc file with a clear error when the task is
// gone, and parse errors that name the file and the line.
import { readFileSync, readdirSync, readlinkSync, existsSync } from 'node:fs';
import { CriuError, details, type ErrorDetails } from '../errors.js';

/** The task (or thread) has no /proc directory any more: it exited, or never existed. */
export class ProcGoneError extends CriuError {
  readonly code = 'ESRCH';
  constructor(
    readonly pid: number,
    readonly dir: string,
    more?: ErrorDetails,
  ) {
    super(`task ${pid}: gone (no ${dir})`, details({ task: pid, object: dir }, more));
  }
}

/** A /proc file did not look like the kernel's format: names the file, the line and why. */
export class ProcParseError extends CriuError {
  constructor(
    readonly file: string,
    readonly lineNo: number,
    readonly line: string,
    readonly reason: string,
    more?: ErrorDetails,
  ) {
    super(
      `${file}:${lineNo}: ${reason}: ${JSON.stringify(line.length > 200 ? line.slice(0, 200) + '…' : line)}`,
      details({ task: procTask(file), object: `${file}:${lineNo}` }, more),
    );
  }
}

/** The pid of a /proc/PID[/task/TID]/... path (the tid when there is one). */
function procTask(file: string): number | undefined {
  const m = /^\/proc\/(\d+)(?:\/task\/(\d+))?\//.exec(file);
  return m ? Number(m[2] ?? m[1]) : undefined;
}

/** "/proc/PID" or "/proc/PID/task/TID". */
export const taskDir = (pid: number, tid?: number): string => (tid === undefined || tid === pid ? `/proc/${pid}` : `/proc/${pid}/task/${tid}`);

function gone(e: unknown, pid: number, tid: number | undefined): never {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ESRCH') {
    const pdir = `/proc/${pid}`;
    if (!existsSync(pdir)) throw new ProcGoneError(pid, pdir);
    if (tid !== undefined && tid !== pid) {
      const tdir = `/proc/${pid}/task/${tid}`;
      if (!existsSync(tdir)) throw new ProcGoneError(tid, tdir);
    }
  }
  throw e;
}

/** Read /proc/PID[/task/TID]/name as text; a vanished task becomes ProcGoneError. */
export function readProcText(pid: number, name: string, tid?: number): string {
  try {
    return readFileSync(`${taskDir(pid, tid)}/${name}`, 'utf8');
  } catch (e) {
    gone(e, pid, tid);
  }
}
export function readProcBuf(pid: number, name: string, tid?: number): Buffer {
  try {
    return readFileSync(`${taskDir(pid, tid)}/${name}`);
  } catch (e) {
    gone(e, pid, tid);
  }
}
export function readProcDir(pid: number, name: string, tid?: number): string[] {
  try {
    return readdirSync(`${taskDir(pid, tid)}/${name}`);
  } catch (e) {
    gone(e, pid, tid);
  }
}
export function readProcLink(pid: number, name: string, tid?: number): string {
  try {
    return readlinkSync(`${taskDir(pid, tid)}/${name}`);
  } catch (e) {
    gone(e, pid, tid);
  }
}
/** Rethrow an fs error on a path under /proc/PID as ProcGoneError when the task went away. */
export function rethrowGone(e: unknown, pid: number, tid?: number): never {
  gone(e, pid, tid);
}

/** Numeric directory entries (pids, tids, fds), sorted ascending. */
export function numericEntries(names: string[]): number[] {
  const out: number[] = [];
  for (const n of names) {
    const c = n.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(n));
  }
  return out.sort((a, b) => a - b);
}

/** Undo the kernel's seq_file octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
export function unescapeOctal(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
