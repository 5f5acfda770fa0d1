// The propagation of a tree's mounts (shared:N, master:N and unbindable in mountinfo; CRIU's
// shared_id, master_id, internal_sharing and the MS_* bits of mnt_entry), as CRIU's mount-v2
// restores it: the whole tree is made private first, and once it is pivoted into, each peer
// group is made again from one mount of it (its leader, whose root holds the others' roots):
// the leader is made shared, and the others join its group with move_mount(2)
// MOVE_MOUNT_SET_GROUP, which also gives them its master. A slave joins its master's group
// the same way and is then made a slave. An external mount (a bind of a path of the tool's)
// that was a peer or a slave of the tool's mounts joins the tool's mount of that path
// (--enable-external-sharing, --enable-external-masters at the dump for autodetected ones).
import type { MntEntry } from '../images/index.js';
import type { MountInfo } from '../proc/mountinfo.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { isSubpath } from './mnt-ext.js';

export const MS_UNBINDABLE = 1 << 17;
// messages start with `pre` (the task whose namespace it is)

/** a mount of the tree as the propagation sees it */
export interface PropMount {
  e: MntEntry;
  /** bound from a path of the tool's namespace (an external mount, or the root from --root) */
  external: boolean;
}

/** the tool's mount an external mount joins (restore): a reference the script passes on, and its propagation */
export interface HostMount {
  ref: number;
  shared: boolean;
  slave: boolean;
  /** for errors: its mountpoint */
  at: string;
}

/** one step after the pivot: J FROM TO (kept mounts), E HOST TO, H/V/U MOUNT */
export type PropStep = ['J', number, number] | ['E', number, number] | ['H' | 'V' | 'U', number];

const where = (e: MntEntry): string => `mount ${e.mnt_id} at ${e.mountpoint}`;

/** a peer of the tool's mounts, not of a group of the tree's own */
const extShared = (m: PropMount): boolean => !!m.e.shared_id && m.external && m.e.internal_sharing !== true;

/** The steps that make the tree's groups again; `host` gives the tool's mount of an external one (it throws when there is none). */
export function propagationSteps(ms: PropMount[], host: (i: number) => HostMount, pre = ''): PropStep[] {
  const groups = new Map<number, number[]>();
  ms.forEach((m, i) => {
    if (!m.e.shared_id || extShared(m)) return;
    groups.set(m.e.shared_id, [...(groups.get(m.e.shared_id) ?? []), i]);
  });
  const leaders = new Map<number, number>();
  for (const [id, members] of groups) {
    const l = members.find((i) => members.every((j) => isSubpath(ms[j].e.root, ms[i].e.root)));
    if (l === undefined)
      throw new NotSupportedError(
        `${pre}peer group ${id} (${members.map((j) => `${where(ms[j].e)} root ${ms[j].e.root}`).join(', ')}): no mount of it shows the others' roots`,
        { object: ms[members[0]].e.mountpoint, hint: 'a group is made again from one of its mounts whose root holds the roots of the others' },
      );
    leaders.set(id, l);
  }
  const steps: PropStep[] = [];
  /** `i` becomes a slave of its master (a group of the tree's or of the tool's) */
  const enslave = (i: number): void => {
    const { e } = ms[i];
    const from = leaders.get(e.master_id ?? 0);
    if (from !== undefined) {
      if (!isSubpath(e.root, ms[from].e.root))
        throw new NotSupportedError(
          `${pre}${where(e)}: a slave (root ${e.root}) of peer group ${e.master_id}, whose ${where(ms[from].e)} has root ${ms[from].e.root}`,
          {
            object: e.mountpoint,
          },
        );
      steps.push(['J', from, i], ['V', i]);
      return;
    }
    if (!ms[i].external)
      throw new CriuError(`${pre}${where(e)}: a slave of peer group ${e.master_id}, which the images have no mount of`, 'the images are damaged');
    const h = host(i);
    steps.push(['E', h.ref, i]);
    if (h.shared) steps.push(['V', i]);
    else if (!h.slave)
      throw new CriuError(`${pre}${where(e)}: a slave of the tool's mount at ${h.at} at the dump, which is private now`, {
        object: e.mountpoint,
        hint: `make it shared (mount --make-shared ${h.at}) before the restore`,
      });
  };
  // each group once, its master's first (a cycle, which no kernel makes, is cut where it closes)
  const started = new Set<number>();
  const makeGroup = (id: number): void => {
    if (started.has(id)) return;
    started.add(id);
    const l = leaders.get(id)!;
    const master = ms[l].e.master_id ?? 0;
    if (master && groups.has(master)) makeGroup(master);
    if (master) enslave(l);
    steps.push(['H', l]);
    for (const j of groups.get(id)!) if (j !== l) steps.push(['J', l, j]);
  };
  ms.forEach((m, i) => {
    if (!extShared(m)) return;
    const h = host(i);
    if (!h.shared)
      throw new CriuError(`${pre}${where(m.e)}: a peer of the tool's mount at ${h.at} at the dump, which is not shared now`, {
        object: m.e.mountpoint,
        hint: `make it shared (mount --make-shared ${h.at}) before the restore`,
      });
    steps.push(['E', h.ref, i]);
  });
  for (const id of groups.keys()) makeGroup(id);
  ms.forEach((m, i) => {
    if (!m.e.shared_id && m.e.master_id) enslave(i);
    if (m.e.flags & MS_UNBINDABLE) steps.push(['U', i]);
  });
  return steps;
}

/** Dump: refuses the sharing the restore cannot make again, and marks external mounts of a group of the tree's own (internal_sharing). */
export function checkPropagation(
  ms: PropMount[],
  mine: MountInfo[],
  o: { sharing: boolean; masters: boolean; autodetected: (e: MntEntry) => boolean; pre: string },
): void {
  const pre = o.pre;
  const toolGroup = (id: number): MountInfo | undefined => mine.find((x) => x.shared === id);
  const treeGroups = new Set(ms.map((m) => m.e.shared_id).filter((id): id is number => !!id));
  for (const m of ms) {
    const { e } = m;
    const theirs = e.shared_id ? toolGroup(e.shared_id) : undefined;
    if (e.shared_id && m.external) e.internal_sharing = !theirs;
    if (theirs && !m.external)
      throw new NotSupportedError(`${pre}${where(e)}: a peer of the tool's mount at ${theirs.mountPoint} (shared:${e.shared_id}) that is the tree's own`, {
        object: e.mountpoint,
        hint: 'the restore makes the tree apart from the tool first; make the mount private or a slave in the tree',
      });
    if (theirs && o.autodetected(e) && !o.sharing)
      throw new NotSupportedError(`${pre}${where(e)}: an external mount, a peer of the tool's mount at ${theirs.mountPoint} (shared:${e.shared_id})`, {
        object: e.mountpoint,
        hint: '--enable-external-sharing dumps it so (it joins that mount again at the restore)',
      });
    const master = e.master_id ?? 0;
    if (!master || (treeGroups.has(master) && !toolGroup(master))) continue;
    const of = mine.find((x) => x.shared === master || x.master === master);
    if (!m.external || !of)
      throw new NotSupportedError(
        `${pre}${where(e)}: a slave of peer group ${master}, which ${of ? `the tool's mount at ${of.mountPoint} is in` : 'no mount of the tree or of the tool is in'}`,
        {
          object: e.mountpoint,
          hint: of
            ? "a slave of the tool's mounts is dumped as an external mount (--ext-mount-map auto, --enable-external-masters)"
            : 'make the mount private before the dump',
        },
      );
    if (o.autodetected(e) && !o.masters)
      throw new NotSupportedError(`${pre}${where(e)}: an external mount, a slave of the tool's mount at ${of.mountPoint} (master:${master})`, {
        object: e.mountpoint,
        hint: '--enable-external-masters dumps it so (it is made a slave of that mount again at the restore)',
      });
  }
  // the same planning as the restore's, the tool's mounts standing in: what it cannot make fails the dump
  propagationSteps(ms, () => ({ ref: 0, shared: true, slave: false, at: '' }), pre);
}
