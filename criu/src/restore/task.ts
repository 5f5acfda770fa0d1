// What the rooms of the restore share: a task being restored, its threads, address ranges.
import type { Puppet } from './puppet.js';
import type { TaskImages } from './images.js';
import type { Injector } from '../ptrace/inject.js';
import type { Tracee } from '../ptrace/tracee.js';
import type { CoreEntry } from '../images/index.js';
import { PAGE } from './puppet.js';
import { CriuError } from '../errors.js';
import { arch } from '../sys/arch.js';

export const TASK_TOP = arch.taskSize();
export const MMAP_MIN = 0x10000n;
export const PROT = { READ: 1, WRITE: 2, EXEC: 4 };

export interface Range {
  s: bigint;
  e: bigint;
}
/** A run of pages: where it goes (a), its length (l), where it lies in the pages file (o). */
export interface Run {
  a: bigint;
  l: bigint;
  o: bigint;
}

/** One thread of a task being restored, once cloned. */
export interface Thread {
  t: Tracee;
  inj: Injector;
  core: CoreEntry;
  tid: number;
}

/** One task being restored: its puppet, its images, its threads once cloned. */
export interface Task {
  p: Puppet;
  t: TaskImages;
  threads: Thread[];
  afterInstall: (() => void)[];
}

/** The lowest gap of `size` bytes (with a guard page each side) outside every range. */
export function findHole(ranges: Range[], size: bigint, lo = MMAP_MIN): bigint {
  const rs = [...ranges].sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
  let cur = lo;
  for (const r of rs) {
    if (r.e + PAGE <= cur) continue;
    if (r.s >= cur + size + 2n * PAGE) break;
    if (r.e + PAGE > cur) cur = r.e + PAGE;
  }
  if (cur + size + PAGE > TASK_TOP) throw new CriuError('no free address range for the restore gadget');
  return cur + PAGE;
}
