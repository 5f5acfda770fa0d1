// Namespaces of the tree (CRIU's namespaces.c): ids (ns/ids.ts), and per kind (ns/uts.ts,
// ns/ipc.ts) the dump of the root's own namespace to its images and the restore into a new one.
// The restore decides from the images which namespaces the root must be created in (CRIU's
// root_ns_mask: the root's ids that differ from the inventory's root_ids); the launcher makes
// the root puppet with those CLONE_NEW* flags (its children inherit them), and the contents
// are set from the tool, whose thread joins the namespaces, before any memory is mapped.
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import type { PstreeEntry, TaskKobjIdsEntry } from '../images/index.js';
import { planPids } from './pid.js';
import { KINDS } from './kinds.js';
import type { NsKind } from './kind.js';
import type { Namespaces } from './ids.js';
import { inNamespaces } from './sysv.js';
import { mapUserns, useUserns, asNsRoot, CLONE_NEWUSER, type UserDump } from './user.js';

export { Namespaces, NS_ORDER, type NsIds } from './ids.js';
export { KINDS, type OwnNs } from './kinds.js';
export { pstreeImage, noteTree, noteGroups, setTidOf, seenBy, ownPid, isNestedInit, rootSpawn, made as pidMade, CLONE_NEWPID } from './pid.js';

/** the images of the root's own namespaces (pages files from pages-`firstPagesId`.img on); returns the names written */
export function writeNsImages(dir: string, ns: Namespaces, firstPagesId: number): string[] {
  let next = firstPagesId;
  return ns.own.flatMap((o) => o.kind.write(dir, o.id, o.data, () => next++));
}

export interface NsPlan {
  /** CLONE_NEW* for the root puppet */
  cloneFlags: bigint;
  items: { kind: NsKind<unknown>; id: number; data: unknown }[];
}

/** what the plan needs of the restore's images (restore/images.ts DumpImages) */
export interface NsImages {
  dir: string;
  inventory: { root_ids?: Partial<TaskKobjIdsEntry> };
  tasks: { pid: number; zombie?: unknown; ids?: Partial<TaskKobjIdsEntry>; pstree?: PstreeEntry }[];
}

const idField = { uts: 'uts_ns_id', ipc: 'ipc_ns_id', pid: 'pid_ns_id', user: 'user_ns_id' } as const;

/** Which namespaces the root is made in and what goes into them, read before anything is made. */
export function planNamespaces(img: NsImages): NsPlan {
  const root = img.tasks[0];
  const plan: NsPlan = { cloneFlags: 0n, items: [] };
  useUserns(undefined);
  for (const kind of KINDS) {
    const f = idField[kind.name];
    const own = root.ids?.[f];
    const host = img.inventory.root_ids?.[f];
    for (const t of img.tasks) {
      if (t.zombie || t.ids?.[f] === undefined || t.ids[f] === own || kind.nested) continue;
      throw new NotSupportedError(
        `task ${t.pid}: ${kind.name} namespace ${t.ids[f]}, not the one of the root task ${root.pid} (${own})`,
        `nested ${kind.name} namespaces are restored with containers, not yet`,
      );
    }
    if (own === undefined || host === undefined || own === host) continue;
    const data = kind.load(img.dir, own);
    plan.cloneFlags |= kind.cloneFlag;
    plan.items.push({ kind, id: own, data });
  }
  // the pids each task gets back (ns/pid.ts), in a new pid namespace when the root had its own
  planPids(
    img,
    plan.items.some((i) => i.kind.name === 'pid'),
  );
  return plan;
}

/** whether the root puppet is made in a user namespace of its own */
export const inOwnUserns = (plan: NsPlan): boolean => (plan.cloneFlags & CLONE_NEWUSER) !== 0n;

/**
 * The root puppet was just made and has not exec'd yet: a new user namespace gets its maps
 * (ns/user.ts mapUserns), then the puppet goes on. Nothing to do without one.
 */
export function startNamespaces(plan: NsPlan, pid: number, transport: number, ownChild: boolean): void {
  const u = plan.items.find((i) => i.kind.name === 'user');
  if (u) mapUserns(u.data as UserDump, pid, transport, ownChild);
}

/** The root puppet exists in its new namespaces: their contents are set (as the root of a new user namespace, if any). */
export function restoreNamespaces(plan: NsPlan, pid: number): void {
  const inside = plan.items.filter((i) => !i.kind.outside);
  if (!inside.length) return;
  inNamespaces(
    pid,
    inside.map((i) => i.kind.name as 'uts' | 'ipc'),
    () =>
      asNsRoot(() => {
        for (const i of inside) {
          i.kind.restore(i.data);
          log.debug(`task ${pid}: ${i.kind.name} namespace ${i.id} restored: ${i.kind.describe(i.data)}`);
        }
      }),
  );
}
