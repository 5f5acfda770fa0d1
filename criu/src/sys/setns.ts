// One namespace of another task for the calling (main) thread, for the length of a call:
// setns(2) of an IPC (or UTS) namespace moves only the calling thread. For the layers that
// may not use ns/ (files/: a POSIX message queue is made in its task's IPC namespace).
import * as fs from 'node:fs';
import { syscall } from './libc.js';

const FLAG = { ipc: 0x08000000, uts: 0x04000000, pid: 0x20000000 } as const;

/**
 * fn run with this thread in namespace `kind` of task pid; back in its own after, or the tool
 * stops. For `pid` that is the namespace of the children the thread forks meanwhile.
 */
export function inNamespaceOf<T>(pid: number, kind: keyof typeof FLAG, fn: () => T): T {
  const mine = fs.openSync(`/proc/thread-self/ns/${kind}`, 'r');
  let theirs = -1;
  try {
    theirs = fs.openSync(`/proc/${pid}/ns/${kind}`, 'r');
    syscall('setns', theirs, FLAG[kind]);
    return fn();
  } finally {
    try {
      syscall('setns', mine, FLAG[kind]);
    } catch (e) {
      process.stderr.write(`Error (criu): cannot return to the tool's own ${kind} namespace (${(e as Error).message}): stopping\n`);
      process.exit(1);
    }
    fs.closeSync(mine);
    if (theirs >= 0) fs.closeSync(theirs);
  }
}
