// The cgroup namespace of a tree (CRIU's cgroup.c, its cgns part): the root in a cgroup
// namespace of its own, whose root is the cgroup it (or an ancestor) was in at the unshare.
// Dump: the root's cgroup as the host sees it (/proc/PID/cgroup read by the tool) and as the
// namespace sees it (read with the tool's thread in the namespace); the host path ends with
// the inside one, and what is before it is the namespace's root: cgroup.img as CRIU 4.2 writes
// it, set 1 the tool's own cgroups, set 2 the root's with `cgns_prefix` (the length of that
// root in the path), one controller entry per hierarchy. Restore: the root puppet is moved into
// the namespace's root cgroup, unshares CLONE_NEWCGROUP there, and is moved on to its own
// cgroup, so that /proc/self/cgroup inside reads as before. cgroup v2 (the unified
// hierarchy) and v1 hierarchies, each where the tool sees it mounted. cgroup.img itself, with
// every task's set and the cgroups' directories, is cgroup/'s (--manage-cgroups): this kind
// gives it the namespace's view and takes the root's set from it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readMessagesOf } from '../images/typed.js';
import { noteCgnsInside } from '../cgroup/dump.js';
import { setOfCore } from '../cgroup/restore.js';
import { hierarchy, readCgroupFile } from '../cgroup/hier.js';
import { CriuError } from '../errors.js';
import { CLONE_NEWCGROUP } from './sysv.js';
import { badImage, type NsKind } from './kind.js';

export interface CgnsDump {
  pid: number;
  /** the root's cgroups as the namespace sees them, by hierarchy ("" the unified one, "cpu", "name=systemd" …) */
  inside: Map<string, string>;
}
export interface CgnsRestore {
  /** per hierarchy the root's cgroup as the host sees it, and the length of the namespace's root in it */
  members: { name: string; path: string; prefix: number }[];
}

/** the puppet into cgroup `p` of hierarchy `name`, where cgroup/ finds it (the tool's mount, --cgroup-yard, or a private one) */
function moveInto(pid: number, name: string, p: string, why: string): void {
  const procs = path.join(hierarchy(name), p, 'cgroup.procs');
  try {
    fs.writeFileSync(procs, String(pid));
  } catch (e) {
    throw new CriuError(`task ${pid}: cannot move it into cgroup ${name}:${p || '/'} (${why}): ${(e as Error).message}`, {
      task: pid,
      object: procs,
      hint: 'the cgroup must exist (made by --manage-cgroups soft, full or strict) and take tasks',
    });
  }
}

/** the root task's cg_set (its core's thread_core), 0 where the images do not say */
function rootSetOf(dir: string): number {
  const root = readMessagesOf(path.join(dir, 'pstree.img'), 'PSTREE')[0]?.pid;
  const core =
    root !== undefined && fs.existsSync(path.join(dir, `core-${root}.img`)) ? readMessagesOf(path.join(dir, `core-${root}.img`), 'CORE')[0] : undefined;
  return core ? setOfCore(core) : 0;
}

export const cgroup: NsKind<CgnsDump | CgnsRestore> = {
  name: 'cgroup',
  cloneFlag: 0n,
  /** with the tool's thread in the root's cgroup namespace */
  dump: (pid) => ({ pid, inside: new Map(readCgroupFile(`/proc/${pid}/cgroup`).map((m) => [m.name, m.path])) }),
  write(_dir, _id, d) {
    // cgroup.img is cgroup/dump.ts's, with every set: the root's gets its cgns_prefix from this view
    noteCgnsInside((d as CgnsDump).inside);
    return [];
  },
  load(dir) {
    const name = 'cgroup.img';
    if (!fs.existsSync(path.join(dir, name)))
      throw new CriuError(`${name} is missing in ${dir}: the root has a cgroup namespace of its own`, 'was the dump complete?');
    const all = readMessagesOf(path.join(dir, name), 'CGROUP');
    if (all.length !== 1) throw badImage(name, 'entries:', `${all.length}, one expected`);
    // the root's set: the one with the namespace's prefixes (CRIU: the root task's cg_set)
    const sets = all[0].sets ?? [];
    const rootSet = rootSetOf(dir);
    const set = sets.find((s) => s.id === rootSet) ?? sets.find((s) => (s.ctls ?? []).some((c) => (c.cgns_prefix ?? 0) > 0));
    if (!set) throw badImage(name, 'sets:', 'has no set of the root task');
    const members = (set.ctls ?? []).map((c) => {
      const prefix = c.cgns_prefix ?? 0;
      if (prefix > c.path.length) throw badImage(name, 'cgns_prefix', `${prefix} is past the end of ${c.path}`);
      return { name: c.name, path: c.path, prefix };
    });
    return { members };
  },
  restore() {
    /* made in intoPuppet */
  },
  intoPuppet(d, pid, unshare) {
    const { members } = d as CgnsRestore;
    // unshare pins the namespace's root at the cgroups the task is in: those first, then its own
    for (const m of members) moveInto(pid, m.name, m.path.slice(0, m.prefix) || '/', 'the root of its cgroup namespace');
    unshare(CLONE_NEWCGROUP);
    for (const m of members) if (m.path.slice(0, m.prefix) !== m.path) moveInto(pid, m.name, m.path, 'its own cgroup');
  },
  describe: (d) =>
    'inside' in d
      ? [...d.inside].map(([n, p]) => `${n}:${p}`).join(' ')
      : d.members.map((m) => `${m.name}:${m.path.slice(0, m.prefix) || '/'} (task in ${m.path})`).join(' '),
};
