import { CriuError } from '../errors.js';

// One namespace kind (ns/uts.ts, ns/ipc.ts): what the dump reads in the tree's namespace and
// writes to its images, and what the restore loads (before anything is made) and sets in the
// new namespace the root puppet was created in. dump() and restore() run with the tool's main
// thread in that namespace (ns/sysv.ts inNamespaces).
export interface NsKind<D> {
  name: 'uts' | 'ipc' | 'user';
  cloneFlag: bigint;
  /**
   * ns/user.ts: a kind the tool's thread cannot enter (a thread of a multithreaded process
   * cannot setns into a user namespace): dump(pid) reads it from /proc/PID before the other
   * kinds are read, and its restore happens at the spawn (ns/index.ts startNamespaces).
   */
  outside?: true;
  dump(pid?: number): D;
  /** writes the images of namespace `id` into dir (pagesId: a fresh pages-N.img number); returns the names written */
  write(dir: string, id: number, d: D, pagesId: () => number): string[];
  load(dir: string, id: number): D;
  restore(d: D): void;
  /** a line for the log */
  describe(d: D): string;
}

/** a damaged namespace image, as restore/images.ts names one */
export function badImage(file: string, field: string, what: string): CriuError {
  return new CriuError(`bad image: ${file}: ${field} ${what}`, { object: `${file}: ${field}`, hint: 'the images are damaged or not CRIU images' });
}
