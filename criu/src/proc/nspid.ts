// Pids across pid namespaces (ns/pid.ts sets this up). The tool works with the pids it sees
// itself (host pids: /proc, ptrace, waitpid, pidfd_open, F_SETOWN_EX from the tool); the images
// hold every pid as the tree's root sees it (CRIU's virtual pids). While a dump or a restore of
// a tree whose root is init of a pid namespace of its own runs, `treePids` translates between
// the two; otherwise (depth 0) both are the same and nothing is looked up.
import { readStatus } from './status.js';

export class TreePids {
  /** the root's level in NSpid: 0 when the tree shares the tool's pid namespace */
  depth = 0;
  private readonly toImage = new Map<number, number>();
  private readonly toHost = new Map<number, number>();

  /** a new operation: the tree shares the tool's pid namespace until told otherwise */
  reset(depth = 0): void {
    this.depth = depth;
    this.toImage.clear();
    this.toHost.clear();
  }

  /** host pid `host` is `img` in the images */
  note(host: number, img: number): void {
    this.toImage.set(host, img);
    if (img > 0) this.toHost.set(img, host);
  }

  /**
   * Dump: a host pid (of a task, a thread, a process group or a session) as the images hold it;
   * 0 for one the tree's pid namespace does not see, as the kernel reports it inside.
   */
  image(host: number): number {
    if (this.depth === 0 || host <= 0) return host;
    const known = this.toImage.get(host);
    if (known !== undefined) return known;
    let ns: number[];
    try {
      ns = readStatus(host).nspid;
    } catch {
      return 0;
    }
    const v = ns.length > this.depth ? ns[this.depth] : 0;
    this.note(host, v);
    return v;
  }

  /** Restore: a pid of the images as the tool sees it (0: not a task of the restored tree). */
  host(img: number): number {
    if (this.depth === 0 || img <= 0) return img;
    return this.toHost.get(img) ?? 0;
  }

  /** whether the tree lives in a pid namespace of its own */
  get own(): boolean {
    return this.depth > 0;
  }
}

export const treePids = new TreePids();
