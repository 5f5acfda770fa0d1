// One stat and one statfs of a task's fd for everyone who asks while that fd is dumped: the
// kinds' matchers (fifo, tty, procfile), the device check and the kind's dump each looked at
// /proc/PID/fd/N on their own (five stats and two statfs of a regular file's fd). dumpFds opens a
// scope for one fd at a time; outside a scope every call goes to the kernel.
import * as fs from 'node:fs';

interface Memo {
  path: string;
  st?: fs.BigIntStats | Error;
  sfs?: fs.StatsFs | Error;
}
let memo: Memo | undefined;

/** the calls for `/proc/PID/fd/FD` are answered once until the next scope (or none: `undefined`) */
export function fdStatScope(pid?: number, fd?: number): void {
  memo = pid === undefined ? undefined : { path: `/proc/${pid}/fd/${fd}` };
}

function once<T>(path: string, key: 'st' | 'sfs', call: () => T): T {
  if (!memo || memo.path !== path) return call();
  let v = memo[key] as T | Error | undefined;
  if (v === undefined) {
    try {
      v = call();
    } catch (e) {
      v = e as Error;
    }
    (memo as unknown as Record<string, unknown>)[key] = v;
  }
  if (v instanceof Error) throw v;
  return v;
}

/** fs.statSync(path, { bigint: true }), once per scope for the scope's fd */
export const statOnce = (path: string): fs.BigIntStats => once(path, 'st', () => fs.statSync(path, { bigint: true }));

/** fs.statfsSync(path), once per scope for the scope's fd */
export const statfsOnce = (path: string): fs.StatsFs => once(path, 'sfs', () => fs.statfsSync(path));
