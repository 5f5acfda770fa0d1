import { CriuError } from '../errors.js';

// One namespace kind (ns/uts.ts, ns/ipc.ts): what the dump reads in the tree's namespace and
// writes to its images, and what the restore loads (before anything is made) and sets in the
// new namespace the root puppet was created in. dump() and restore() run with the tool's main
// thread in that namespace (ns/sysv.ts inNamespaces).
export interface NsKind<D> {
  name: 'uts' | 'ipc' | 'mnt';
  cloneFlag: bigint;
  dump(): D;
  /** writes the images of namespace `id` into dir (pagesId: a fresh pages-N.img number); returns the names written */
  write(dir: string, id: number, d: D, pagesId: () => number): string[];
  load(dir: string, id: number): D;
  restore(d: D): void;
  /**
   * A kind read from outside instead (a mount namespace: setns(2) of one is refused to the
   * tool's multithreaded process): called with the root task's pid in place of dump().
   */
  dumpOf?(pid: number): D;
  /** likewise for the restore: called with the root puppet's pid in place of restore() */
  restoreIn?(d: D, pid: number): void;
  /** a line for the log */
  describe(d: D): string;
}

/** a damaged namespace image, as restore/images.ts names one */
export function badImage(file: string, field: string, what: string): CriuError {
  return new CriuError(`bad image: ${file}: ${field} ${what}`, { object: `${file}: ${field}`, hint: 'the images are damaged or not CRIU images' });
}
