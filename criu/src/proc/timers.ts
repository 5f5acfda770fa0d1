// /proc/PID/timers: the POSIX timers of a process (values come from an injected timer_gettime).
import { readProcText, ProcParseError } from './util.js';

export const SIGEV_SIGNAL = 0,
  SIGEV_NONE = 1,
  SIGEV_THREAD = 2,
  SIGEV_THREAD_ID = 4;

export interface PosixTimer {
  id: number;
  signo: number;
  /** sigev_value (printed as a pointer) */
  sigval: bigint;
  /** "signal", "none" or "thread" */
  notify: 'signal' | 'none' | 'thread';
  /** true when notify targets a thread ("tid.N": SIGEV_THREAD_ID) */
  threadId: boolean;
  /** pid or tid the timer notifies */
  notifyPid: number;
  /** sigev_notify as given to timer_create */
  sigevNotify: number;
  clockId: number;
}

export function parseTimers(text: string, file = 'timers'): PosixTimer[] {
  const out: PosixTimer[] = [];
  let cur: Partial<PosixTimer> | null = null;
  const ls = text.split('\n');
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i];
    if (l === '') continue;
    const bad = (why: string): never => {
      throw new ProcParseError(file, i + 1, l, why);
    };
    const c = l.indexOf(':');
    if (c < 0) bad('no colon');
    const key = l.slice(0, c),
      v = l.slice(c + 1).trim();
    if (key === 'ID') {
      cur = { id: Number(v) };
      out.push(cur as PosixTimer);
      continue;
    }
    if (!cur) bad('field before ID');
    const t = cur as PosixTimer;
    if (key === 'signal') {
      const m = /^(\d+)\/(?:0x)?([0-9a-f]+)$/.exec(v) ?? bad('bad signal');
      t.signo = Number(m[1]);
      t.sigval = BigInt('0x' + m[2]);
    } else if (key === 'notify') {
      const m = /^(signal|none|thread)\/(pid|tid)\.(\d+)$/.exec(v) ?? bad('bad notify');
      t.notify = m[1] as PosixTimer['notify'];
      t.threadId = m[2] === 'tid';
      t.notifyPid = Number(m[3]);
      t.sigevNotify = (t.notify === 'signal' ? SIGEV_SIGNAL : t.notify === 'none' ? SIGEV_NONE : SIGEV_THREAD) | (t.threadId ? SIGEV_THREAD_ID : 0);
    } else if (key === 'ClockID') {
      t.clockId = Number(v);
    }
  }
  for (const t of out) {
    if (t.signo === undefined || t.notify === undefined || t.clockId === undefined) throw new ProcParseError(file, 0, `ID: ${t.id}`, 'incomplete timer');
  }
  return out;
}

export function readTimers(pid: number): PosixTimer[] {
  return parseTimers(readProcText(pid, 'timers'), `/proc/${pid}/timers`);
}
