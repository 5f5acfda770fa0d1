// Namespaces of the tree (CRIU's namespaces.c): ids (ns/ids.ts), and per kind (ns/uts.ts,
// ns/ipc.ts) the dump of the root's own namespace to its images and the restore into a new one.
// The restore decides from the images which namespaces the root must be created in (CRIU's
// root_ns_mask: the root's ids that differ from the inventory's root_ids); the launcher makes
// the root puppet with those CLONE_NEW* flags (its children inherit them), and the contents
// are set from the tool, whose thread joins the namespaces, before any memory is mapped.
import * as fs from 'node:fs';
import { CriuError, NotSupportedError } from '../errors.js';
import { ioctl } from '../sys/libc.js';

/** ioctl_ns(2): the CLONE_NEW* type of a namespace file */
const NS_GET_NSTYPE = 0xb703;
import { log } from '../log.js';
import type { PstreeEntry, TaskKobjIdsEntry } from '../images/index.js';
import { planPids } from './pid.js';
import { KINDS } from './kinds.js';
import type { NsKind } from './kind.js';
import type { Namespaces } from './ids.js';
import { inNamespaces } from './sysv.js';
import { externalNetKey, type NetDump } from './net.js';
import { vethPeersToBridges, emptyNetLoUp } from './net-links.js';
import { setTreeRoot } from '../sys/tree-root.js';
import { mapUserns, useUserns, asNsRoot, CLONE_NEWUSER, type UserDump } from './user.js';

export { Namespaces, NS_ORDER, type NsIds } from './ids.js';
export { KINDS, type OwnNs } from './kinds.js';
export { pstreeImage, noteTree, noteGroups, setTidOf, seenBy, ownPid, isNestedInit, rootSpawn, made as pidMade, wantedHost, CLONE_NEWPID } from './pid.js';
export { setDumpEmptyNet } from './net.js';
export { setVethPeers } from './net-links.js';

/** the images of the root's own namespaces (pages files from pages-`firstPagesId`.img on); returns the names written */
export function writeNsImages(dir: string, ns: Namespaces, firstPagesId: number): string[] {
  let next = firstPagesId;
  return ns.own.flatMap((o) => o.kind.write(dir, o.id, o.data, () => next++));
}

export interface NsPlan {
  /** CLONE_NEW* for the root puppet */
  cloneFlags: bigint;
  /** `empty` (--empty-ns): made new, its images not read nor restored */
  items: { kind: NsKind<unknown>; id: number; data: unknown; empty?: boolean }[];
  /** --join-ns: namespaces the root joins instead of new ones (restore/join-ns.ts); their images are not restored */
  join?: JoinNs[];
}

/** --join-ns NS:PID|PATH: the namespace file, opened by the tool before anything is made */
export interface JoinNs {
  kind: string;
  cloneFlag: bigint;
  path: string;
  fd: number;
}

/** what the restore was told about the tree's namespaces */
export interface NsOptions {
  /** --empty-ns (CRIU takes only net) */
  emptyNs?: string[];
  /** --join-ns values, NS:PID|PATH[,OPTIONS] */
  joinNs?: string[];
  /** --inherit-fd: an external network namespace (dumped with --external net[INO]:KEY) is the fd of its key */
  inherit?: { fd: number; key: string }[];
}

/** what the plan needs of the restore's images (restore/images.ts DumpImages) */
export interface NsImages {
  dir: string;
  inventory: { root_ids?: Partial<TaskKobjIdsEntry> };
  tasks: { pid: number; zombie?: unknown; ids?: Partial<TaskKobjIdsEntry>; pstree?: PstreeEntry }[];
}

const idField = {
  uts: 'uts_ns_id',
  ipc: 'ipc_ns_id',
  pid: 'pid_ns_id',
  net: 'net_ns_id',
  cgroup: 'cgroup_ns_id',
  mnt: 'mnt_ns_id',
  user: 'user_ns_id',
} as const;

/** Which namespaces the root is made in and what goes into them, read before anything is made. */
export function planNamespaces(img: NsImages, opts: NsOptions = {}): NsPlan {
  setTreeRoot(null); // the restore's files are the tool's paths until the tree's mount namespace is built (ns/mnt.ts)
  const root = img.tasks[0];
  const plan: NsPlan = { cloneFlags: 0n, items: [] };
  useUserns(undefined);
  const join = parseJoinNs(opts.joinNs ?? []);
  for (const e of opts.emptyNs ?? []) if (e !== 'net') throw new NotSupportedError(`--empty-ns ${e}`, 'CRIU takes only --empty-ns net');
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
    if (kind.name === 'net' && !join.some((j) => j.kind === 'net')) joinExternalNet(img.dir, own, opts.inherit ?? [], join);
    if (join.some((j) => j.kind === kind.name)) continue;
    if (opts.emptyNs?.includes(kind.name)) {
      plan.cloneFlags |= kind.cloneFlag;
      plan.items.push({ kind, id: own, data: undefined, empty: true });
      continue;
    }
    const data = kind.load(img.dir, own);
    plan.cloneFlags |= kind.cloneFlag;
    plan.items.push({ kind, id: own, data });
  }
  if (join.length) plan.join = join;
  // the pids each task gets back (ns/pid.ts), in a new pid namespace when the root had its own
  planPids(
    img,
    plan.items.some((i) => i.kind.name === 'pid'),
  );
  return plan;
}

/** a network namespace dumped as external (runc's extRootNetNS): the root joins the one --inherit-fd gives for its key (CRIU's net_set_ext) */
function joinExternalNet(dir: string, id: number, inherit: { fd: number; key: string }[], join: JoinNs[]): void {
  const key = externalNetKey(dir, id);
  if (key === undefined) return;
  const given = inherit.find((i) => i.key === key);
  if (!given)
    throw new CriuError(`Unable to find an external netns: ${key}`, `the network namespace was dumped as external: give it with --inherit-fd fd[N]:${key}`);
  log.info(`the external network namespace ${key} is the one of fd ${given.fd}`);
  join.push(...parseJoinNs([`net:/proc/self/fd/${given.fd}`]));
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

/** The root puppet exists in its new (or joined) namespaces: their contents are set. */
export function restoreNamespaces(plan: NsPlan, pid: number, unshare?: (flags: bigint) => void): void {
  // a kind that makes its own namespace in the puppet (cgroup: moved into the namespace's root cgroup first)
  for (const i of plan.items) {
    if (!i.kind.intoPuppet || i.empty) continue;
    if (!unshare) throw new NotSupportedError(`task ${pid}: its own ${i.kind.name} namespace`, 'this restore cannot make it');
    i.kind.intoPuppet(i.data, pid, unshare);
    log.debug(`task ${pid}: ${i.kind.name} namespace ${i.id} restored: ${i.kind.describe(i.data)}`);
  }
  // a kind set from outside (mnt: by a helper that joins the puppet's namespaces)
  for (const i of plan.items.filter((x) => x.kind.restoreIn && !x.empty)) {
    i.kind.restoreIn!(i.data, pid);
    log.debug(`task ${pid}: ${i.kind.name} namespace ${i.id} restored: ${i.kind.describe(i.data)}`);
  }
  const full = plan.items.filter((i) => !i.empty && !i.kind.outside && !i.kind.intoPuppet && !i.kind.restoreIn);
  if (full.length) {
    inNamespaces(
      pid,
      full.map((i) => i.kind.name as 'uts' | 'ipc' | 'net' | 'cgroup'),
      () => {
        const one = (i: (typeof full)[number]): void => {
          i.kind.restore(i.data, pid);
          log.debug(`task ${pid}: ${i.kind.name} namespace ${i.id} restored: ${i.kind.describe(i.data)}`);
        };
        // as the user namespace's root for the IPC and UTS contents; net as the host's root,
        // whose ip/nft/nsenter children would lose their capabilities under the namespace root's uid
        asNsRoot(() => full.filter((i) => i.kind.name !== 'net').forEach(one));
        full.filter((i) => i.kind.name === 'net').forEach(one);
      },
    );
  }
  vethPeersToBridges(); // back in the tool's namespace: the veth peers made there join their bridges
  for (const i of plan.items) if (i.empty) log.info(`task ${pid}: ${i.kind.name} namespace ${i.id} made empty (--empty-ns)`);
  if (plan.items.some((i) => i.empty && i.kind.name === 'net') || plan.items.some((i) => i.kind.name === 'net' && (i.data as NetDump | undefined)?.empty)) {
    inNamespaces(pid, ['net'], () => emptyNetLoUp());
    log.info(`task ${pid}: lo set up in its empty network namespace`);
  }
  for (const kind of KINDS) if (plan.items.some((i) => i.kind === kind) || plan.join?.some((j) => j.kind === kind.name)) kind.adopt?.(pid);
}

/** The restore is over (run or failed): the tool's own namespaces again, the --join-ns files closed. */
export function endNamespaces(plan: NsPlan | undefined): void {
  for (const kind of KINDS) kind.adopt?.(-1);
  for (const j of plan?.join ?? []) {
    if (j.fd >= 0) fs.closeSync(j.fd);
    j.fd = -1;
  }
}

/** CLONE_NEW* of the kinds --join-ns takes (CRIU's join_ns_add: net, uts, ipc, time, user, pid, mnt, cgroup) */
const JOIN_FLAGS: Record<string, bigint> = { net: 0x40000000n, uts: 0x04000000n, ipc: 0x08000000n };

/** --join-ns NS:PID|PATH[,OPTIONS]: each namespace file opened (and checked to be one of that kind) */
export function parseJoinNs(values: string[]): JoinNs[] {
  const out: JoinNs[] = [];
  try {
    for (const v of values) {
      const m = /^([a-z]+):([^,]+)(?:,(.*))?$/.exec(v);
      if (!m) throw new CriuError(`--join-ns ${v}: NS:PID|PATH expected`, 'for example --join-ns net:/run/netns/NAME or --join-ns net:PID');
      const [, kind, where, extra] = m;
      const cloneFlag = JOIN_FLAGS[kind];
      if (cloneFlag === undefined) throw new NotSupportedError(`--join-ns ${kind}`, 'the restored root joins only net, uts and ipc namespaces yet');
      if (extra) throw new NotSupportedError(`--join-ns ${v}: options (${extra})`, 'options are for user namespaces');
      if (out.some((j) => j.kind === kind)) throw new CriuError(`--join-ns: ${kind} namespace given twice`);
      const file = /^\d+$/.test(where) ? `/proc/${where}/ns/${kind}` : where;
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch (e) {
        throw new CriuError(
          `--join-ns ${v}: cannot open ${file}: ${(e as Error).message}`,
          'give the pid of a running process or a namespace file (/proc/PID/ns/NS, a bind mount of one)',
        );
      }
      out.push({ kind, cloneFlag, path: file, fd });
      let type = -1;
      try {
        type = ioctl(fd, NS_GET_NSTYPE, null);
      } catch {
        /* not a namespace file */
      }
      if (BigInt(type) !== cloneFlag)
        throw new CriuError(
          `--join-ns ${v}: ${file} is not a ${kind} namespace`,
          'give /proc/PID/ns/NS or a bind mount of one (ip netns add makes /run/netns/NAME)',
        );
    }
  } catch (e) {
    for (const j of out) fs.closeSync(j.fd);
    throw e;
  }
  return out;
}
