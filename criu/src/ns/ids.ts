// Namespace ids as CRIU numbers them, and which namespaces of its own the tree has.
import * as fs from 'node:fs';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { inNamespaces } from './sysv.js';
import { KINDS, type OwnNs } from './kinds.js';
import { useUserns, userNsOf } from './user.js';
import { treePids } from '../proc/nspid.js';
import { noteGroups } from './pid.js';

export const NS_ORDER = ['pid', 'net', 'ipc', 'uts', 'time', 'mnt', 'user', 'cgroup'] as const;
export type NsIds = Record<(typeof NS_ORDER)[number], number>;

/**
 * The tool's own namespaces first (1..8 in NS_ORDER, the inventory's root_ids), then the
 * namespaces of the tree met in the images. The tree may live in a time namespace of its own
 * (every tree restored by CRIU or by us does): it gets id 9 and its clocks go to
 * timens-9.img. The root may have UTS and IPC namespaces of its own (ns/uts.ts, ns/ipc.ts):
 * they get the next ids (10, 11) and their contents are read when the root is met (the tree
 * is frozen then). Any other namespace of its own, or a task in a UTS or IPC namespace other
 * than the root's, is refused.
 */
export class Namespaces {
  readonly tool = {} as NsIds;
  /** the tool's own namespaces as /proc links (absent: a kind this kernel does not have) */
  private readonly mine = new Map<string, string>();
  /** the tree's own time namespace: its /proc link and id, once a task in it was met */
  time?: { link: string; id: number; pid: number };
  /** the root's own UTS and IPC namespaces, with what was read in them */
  readonly own: OwnNs[] = [];
  private root?: number;
  private nextId = NS_ORDER.length + 2;

  constructor() {
    useUserns(undefined);
    treePids.reset(); // a new dump: host pids are the images' until the root's pid namespace says otherwise
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
      if (mine === theirs && !own) continue;
      if (ns === 'time') {
        ids.time = this.ownTime(pid, theirs);
        continue;
      }
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
      o.data = o.kind.dump(pid);
      log.debug(`task ${pid}: its own ${o.kind.name} namespace ${o.id} (${o.link}): ${o.kind.describe(o.data)}`);
    };
    fresh.filter((o) => o.kind.outside).forEach(dump);
    if (fresh.some((o) => o.kind.name === 'user')) this.ownedByUserns(pid);
    const inside = fresh.filter((o) => !o.kind.outside);
    if (!inside.length) return;
    inNamespaces(
      pid,
      inside.map((o) => o.kind.name as 'uts' | 'ipc'),
      () => inside.forEach(dump),
    );
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

  private ownTime(pid: number, link: string): number {
    let children: string;
    try {
      children = fs.readlinkSync(`/proc/${pid}/ns/time_for_children`);
    } catch {
      children = link;
    }
    if (children !== link) {
      throw new NotSupportedError(
        `task ${pid}: nested time namespace (its children get ${children}, it lives in ${link})`,
        'nested time namespaces are dumped with containers, not yet',
      );
    }
    if (!this.time) this.time = { link, id: NS_ORDER.length + 1, pid };
    else if (this.time.link !== link) {
      throw new NotSupportedError(
        `task ${pid}: time namespace ${link}, not the one of task ${this.time.pid} (${this.time.link})`,
        'nested time namespaces are dumped with containers, not yet',
      );
    }
    return this.time.id;
  }
}
