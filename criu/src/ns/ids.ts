// Namespace ids as CRIU numbers them, and which namespaces of its own the tree has.
import * as fs from 'node:fs';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { inNamespaces } from './sysv.js';
import { KINDS, type OwnNs } from './kinds.js';
import { useUserns, userNsOf } from './user.js';
import { treePids } from '../proc/nspid.js';
import { noteGroups } from './pid.js';
import { setTreeRoot } from '../sys/tree-root.js';

export const NS_ORDER = ['pid', 'net', 'ipc', 'uts', 'time', 'mnt', 'user', 'cgroup'] as const;
export type NsIds = Record<(typeof NS_ORDER)[number], number>;

/**
 * The tool's own namespaces first (1..8 in NS_ORDER, the inventory's root_ids), then the
 * namespaces of the tree met in the images. The tree may live in a time namespace of its own
 * (every tree restored by CRIU or by us does): it gets id 9 and its clocks go to
 * timens-9.img; a time namespace below it (a task unshared one and forked children into it)
 * gets the next free id and timens-ID.img (CRIU 4.2 refuses nested time namespaces). The root may have UTS and IPC namespaces of its own (ns/uts.ts, ns/ipc.ts):
 * they get the next ids (10, 11) and their contents are read when the root is met (the tree
 * is frozen then). Any other namespace of its own, or a task in a UTS or IPC namespace other
 * than the root's, is refused.
 */
export class Namespaces {
  readonly tool = {} as NsIds;
  /** the tool's own namespaces as /proc links (absent: a kind this kernel does not have) */
  private readonly mine = new Map<string, string>();
  /** the tree's own time namespace (the root's, when not the tool's): its /proc link and id */
  time?: { link: string; id: number; pid: number };
  /** time namespaces below the root's (nested): by /proc link, the id and a task in it */
  readonly nestedTime = new Map<string, { id: number; pid: number }>();
  /** each task's time namespace id, and the link of the one its children get where that differs */
  private readonly timeIds = new Map<number, number>();
  private readonly timeForChildren = new Map<number, string>();
  /** the root's own UTS and IPC namespaces, with what was read in them */
  readonly own: OwnNs[] = [];
  private root?: number;
  private nextId = NS_ORDER.length + 2;

  constructor() {
    useUserns(undefined);
    treePids.reset(); // a new dump: host pids are the images' until the root's pid namespace says otherwise
    for (const k of KINDS) k.adopt?.(-1);
    setTreeRoot(null); // a dump's files are the tool's paths until a mount namespace of the tree's own is met (ns/mnt.ts)
    NS_ORDER.forEach((ns, i) => {
      this.tool[ns] = i + 1;
      try {
        this.mine.set(ns, fs.readlinkSync(`/proc/self/ns/${ns}`));
      } catch {
        /* not in this kernel */
      }
    });
  }

  /** the ids of one task's namespaces (the first task asked for is the root) */
  of(pid: number): NsIds {
    const isRoot = this.root === undefined || this.root === pid;
    this.root ??= pid;
    const ids = { ...this.tool };
    const fresh: OwnNs[] = [];
    for (const ns of NS_ORDER) {
      const mine = this.mine.get(ns);
      if (mine === undefined) continue;
      let theirs: string;
      try {
        theirs = fs.readlinkSync(`/proc/${pid}/ns/${ns}`);
      } catch {
        continue;
      }
      const own = this.own.find((o) => o.kind.name === ns);
      if (own && own.link === theirs) {
        ids[ns] = own.id;
        continue;
      }
      if (ns === 'time') {
        ids.time = this.timeOf(pid, theirs, mine, isRoot);
        continue;
      }
      if (mine === theirs && !own) continue;
      const kind = KINDS.find((k) => k.name === ns);
      if (!kind) throw new NotSupportedError(`task ${pid}: its own ${ns} namespace (${theirs})`, 'namespaces are not dumped yet');
      if (!isRoot && kind.nested) {
        kind.nested(pid, theirs);
        ids[ns] = this.nestedId(theirs);
        continue;
      }
      if (!isRoot) {
        const rootHas = own ? `the root task ${this.root} is in ${own.link}` : `the root task ${this.root} shares the tool's`;
        throw new NotSupportedError(
          `task ${pid}: its own ${ns} namespace (${theirs}; ${rootHas})`,
          `nested ${ns} namespaces are dumped with containers, not yet`,
        );
      }
      const o: OwnNs = { kind, link: theirs, id: this.nextId++, pid, data: undefined };
      this.own.push(o);
      fresh.push(o);
      ids[ns] = o.id;
    }
    if (fresh.length) this.read(pid, fresh);
    noteGroups(pid); // its process group and session as the images hold them (ns/pid.ts)
    return ids;
  }

  /** the contents of the root's own namespaces, read with the tool's thread in them (a kind read `outside` first) */
  private read(pid: number, fresh: OwnNs[]): void {
    const dump = (o: OwnNs): void => {
      o.data = o.kind.dumpOf ? o.kind.dumpOf(pid) : o.kind.dump(pid);
      log.debug(`task ${pid}: its own ${o.kind.name} namespace ${o.id} (${o.link}): ${o.kind.describe(o.data)}`);
    };
    fresh.filter((o) => o.kind.outside || o.kind.dumpOf).forEach(dump);
    if (fresh.some((o) => o.kind.name === 'user')) this.ownedByUserns(pid);
    const inside = fresh.filter((o) => !o.kind.outside && !o.kind.dumpOf);
    if (inside.length)
      inNamespaces(
        pid,
        inside.map((o) => o.kind.name as 'uts' | 'ipc' | 'net' | 'cgroup'),
        () => inside.forEach(dump),
      );
    for (const o of fresh) o.kind.adopt?.(pid);
  }

  /** namespaces below the root's (pid): one id per namespace */
  private readonly nestedIds = new Map<string, number>();
  private nestedId(link: string): number {
    let id = this.nestedIds.get(link);
    if (id === undefined) this.nestedIds.set(link, (id = this.nextId++));
    return id;
  }

  /** the root's other namespaces of its own are owned by its user namespace: the restore makes them so */
  private ownedByUserns(pid: number): void {
    const userIno = fs.statSync(`/proc/${pid}/ns/user`).ino;
    for (const o of this.own) {
      if (o.kind.name === 'user') continue;
      const owner = userNsOf(`/proc/${pid}/ns/${o.kind.name}`, 'owner');
      if (owner !== userIno)
        throw new NotSupportedError(
          `task ${pid}: its ${o.kind.name} namespace ${o.link} is owned by user:[${owner}], not by its own user namespace user:[${userIno}]`,
          "namespaces are restored owned by the tree's user namespace",
        );
    }
  }

  /** a task's time namespace id: the tool's, the root's own (id 9), or one below it (nested) */
  private timeOf(pid: number, link: string, mine: string, isRoot: boolean): number {
    let children: string;
    try {
      children = fs.readlinkSync(`/proc/${pid}/ns/time_for_children`);
    } catch {
      children = link;
    }
    if (children !== link) this.timeForChildren.set(pid, children);
    let id: number;
    if (link === mine) id = this.tool.time;
    else if (isRoot) id = (this.time = { link, id: NS_ORDER.length + 1, pid }).id;
    else if (this.time?.link === link) id = this.time.id;
    else {
      let n = this.nestedTime.get(link);
      if (!n) this.nestedTime.set(link, (n = { id: this.nextId++, pid }));
      id = n.id;
    }
    this.timeIds.set(pid, id);
    return id;
  }

  /**
   * Once every task was met: the time namespaces whose clocks go to timens-ID.img, each with a
   * task in it and, where there is one, a task whose children get it (its /proc timens_offsets
   * are that namespace's). A task is in its parent's time namespace or in the one its parent's
   * children get (the parent unshared it before the fork); a parent whose children get another
   * namespace than its own has all of its children in it, and at least one (the images have no
   * field for a task's time_for_children alone). Anything else is refused by name.
   */
  timeNamespaces(ppidOf: (pid: number) => number | undefined): { id: number; pid: number; giver?: number }[] {
    const idOfLink = (l: string): number | undefined =>
      l === this.mine.get('time') ? this.tool.time : l === this.time?.link ? this.time.id : this.nestedTime.get(l)?.id;
    const kids = new Map<number, number[]>();
    for (const pid of this.timeIds.keys()) {
      const pp = ppidOf(pid);
      if (pp !== undefined && this.timeIds.has(pp)) kids.set(pp, [...(kids.get(pp) ?? []), pid]);
    }
    const givers = new Map<number, number>();
    for (const [pid, link] of this.timeForChildren) {
      const want = idOfLink(link);
      const mine = kids.get(pid) ?? [];
      const off = mine.find((k) => this.timeIds.get(k) !== want);
      if (want === undefined || !mine.length || off !== undefined) {
        throw new NotSupportedError(
          `task ${pid}: its children get time namespace ${link}, ${off !== undefined ? `but its child ${off} lives in another one` : 'but none of them lives in it'}`,
          'a nested time namespace is dumped with the tasks that live in it, all of the children of the task that made it',
        );
      }
      givers.set(want, pid);
    }
    for (const [pid, id] of this.timeIds) {
      const pp = ppidOf(pid);
      if (pp === undefined || !this.timeIds.has(pp)) continue;
      if (id !== this.timeIds.get(pp) && givers.get(id) !== pp)
        throw new NotSupportedError(
          `task ${pid}: time namespace ${id}, neither its parent ${pp}'s nor the one ${pp}'s children get`,
          'was it moved there by setns?',
        );
    }
    const out: { id: number; pid: number; giver?: number }[] = [];
    if (this.time)
      out.push({
        id: this.time.id,
        pid: this.time.pid,
        giver: givers.get(this.time.id) ?? (this.timeForChildren.has(this.time.pid) ? undefined : this.time.pid),
      });
    for (const n of this.nestedTime.values()) out.push({ id: n.id, pid: n.pid, giver: givers.get(n.id) });
    return out;
  }
}
