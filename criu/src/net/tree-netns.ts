// The network namespace of the tree, when its root has one of its own (ns/net.ts adopts it at
// the dump once the root is met, at the restore once the root is made or has joined one): the
// sockets the tool makes are made there (the socket() wrapper of sys/libc.ts: the tool's main
// thread steps in for the call and back), so diag sockets see the tree's sockets and restored
// sockets live in the tree's namespace; files/sk-family.ts accepts sockets of it.
import * as fs from 'node:fs';
import { setSocketNetns, syscall } from '../sys/libc.js';

const CLONE_NEWNET = 0x40000000;

let adopted = -1,
  adoptedPid = -1;
let wrap: (<T>(make: () => T) => T) | undefined;

/** fn with the tool's main thread in the tree's network namespace (the one sockets are made in), or as it is when the tree has none of its own */
export function inTreeNetns<T>(fn: () => T): T {
  return wrap ? wrap(fn) : fn();
}

/** the task whose network namespace the tree has, or -1: the tool's */
export const treeNetnsPid = (): number => adoptedPid;

/** Sockets the tool makes from now on are made in the network namespace of task `pid` (-1: in the tool's own again). */
export function socketsIn(pid: number): void {
  if (adopted >= 0) {
    setSocketNetns(undefined);
    wrap = undefined;
    fs.closeSync(adopted);
    adopted = -1;
  }
  adoptedPid = -1;
  if (pid < 0) return;
  const fd = fs.openSync(`/proc/${pid}/ns/net`, 'r');
  adopted = fd;
  adoptedPid = pid;
  wrap = <T>(make: () => T): T => {
    const home = fs.openSync('/proc/thread-self/ns/net', 'r');
    try {
      syscall('setns', fd, CLONE_NEWNET);
      try {
        return make();
      } finally {
        try {
          syscall('setns', home, CLONE_NEWNET);
        } catch (e) {
          process.stderr.write(`Error (criu): cannot return to the tool's own network namespace (${(e as Error).message}): stopping\n`);
          process.exit(1);
        }
      }
    } finally {
      fs.closeSync(home);
    }
  };
  setSocketNetns(wrap);
}

/** the inode of the network namespace the tool's sockets are made in (the tree's own, or the tool's) */
export function socketNetnsIno(): number {
  return adopted >= 0 ? fs.fstatSync(adopted).ino : fs.statSync('/proc/self/ns/net').ino;
}
