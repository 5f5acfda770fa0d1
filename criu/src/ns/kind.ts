import { CriuError } from '../errors.js';

// One namespace kind (ns/uts.ts, ns/ipc.ts, ns/cgroup.ts): what the dump reads in the tree's namespace and
// writes to its images, and what the restore loads (before anything is made) and sets in the
// new namespace the root puppet was created in. dump() and restore() run with the tool's main
// thread in that namespace (ns/sysv.ts inNamespaces).
export interface NsKind<D> {
  name: 'uts' | 'ipc' | 'pid' | 'net' | 'cgroup' | 'mnt' | 'user';
  /** CLONE_NEW* the root puppet is spawned with (0n: the kind makes its namespace in intoPuppet) */
  cloneFlag: bigint;
  /** read when the root is met (`root`: its pid); inside the namespace unless `outside` */
  dump(root: number): D;
  /** writes the images of namespace `id` into dir (pagesId: a fresh pages-N.img number); returns the names written */
  write(dir: string, id: number, d: D, pagesId: () => number): string[];
  load(dir: string, id: number): D;
  /** `pid`: the root task, made in the namespace */
  restore(d: D, pid?: number): void;
  /**
   * (optional) the tree lives in a namespace of this kind of its own, the one of task `pid`
   * (dump: the root met; restore: the root made, also in a joined or empty namespace), until
   * adopt(-1) at the end of a restore (ns/net.ts: the tool's sockets are made in it)
   */
  adopt?(pid: number): void;
  /**
   * instead of restore(), for a kind whose namespace is made by the root puppet itself after
   * the spawn (cgroup: moved into the namespace's root cgroup first): unshare(flags) is run by
   * the puppet
   */
  intoPuppet?(d: D, pid: number, unshare: (flags: bigint) => void): void;
  /**
   * A kind read from outside instead (a mount namespace: setns(2) of one is refused to the
   * tool's multithreaded process): called with the root task's pid in place of dump().
   */
  dumpOf?(pid: number): D;
  /** likewise for the restore: called with the root puppet's pid in place of restore() */
  restoreIn?(d: D, pid: number): void;
  /** a line for the log */
  describe(d: D): string;
  /**
   * optional (pid, user): dump() and restore() run with the tool's thread outside the namespace
   * (setns(2) into a pid namespace moves nothing but the tool's future children; a thread of a
   * multithreaded process cannot setns into a user namespace: ns/user.ts reads it from
   * /proc/PID and sets it at the spawn, ns/index.ts startNamespaces)
   */
  outside?: true;
  /**
   * optional (pid): a task below the root may live in another namespace of this kind (each
   * gets an id of its own); called for each such task, it refuses what it cannot restore
   */
  nested?(pid: number, link: string): void;
}

/** a damaged namespace image, as restore/images.ts names one */
export function badImage(file: string, field: string, what: string): CriuError {
  return new CriuError(`bad image: ${file}: ${field} ${what}`, { object: `${file}: ${field}`, hint: 'the images are damaged or not CRIU images' });
}
