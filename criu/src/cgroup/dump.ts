// The dump's cgroups (CRIU's cgroup.c, dump side): every thread's cgroup set, numbered from 1
// (the tool's own set, left out of cgroup.img as CRIU does; inventory.root_cg_set names it),
// thread_core.cg_set for each thread; and, but with --manage-cgroups=ignore, every directory
// from each set's cgroups down with its properties (props.ts) and permissions, one tree per
// controller: heads named by their path without the leading '/', children by their name.
// cgroup.img is written only when some task is not in the tool's cgroups. A tree in a cgroup
// namespace of its own (ns/cgroup.ts) gives the root's view, from which `cgns_prefix` is made.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupDirEntry, CgroupEntry, CgroupPropEntry, CgMemberEntry } from '../images/index.js';
import { writeMessages } from '../images/typed.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { readCgroupFile, cnamesOf, hierarchy, finiYard, type CgMember } from './hier.js';
import { propsOf } from './props.js';
import { cgroupOptions, globalRoot } from './opts.js';

interface Dir {
  /** from the hierarchy's root, '/' for the root itself */
  path: string;
  children: Dir[];
  props: CgroupPropEntry[];
  perms: { mode: number; uid: number; gid: number };
}
interface Controller {
  cnames: string[];
  heads: Dir[];
  threaded: boolean;
}
interface Set {
  id: number;
  ctls: CgMember[];
}

interface State {
  sets: Set[];
  controllers: Controller[];
  ofTid: Map<number, number>;
  rootPid?: number;
  /** the root's cgroups as its own cgroup namespace shows them */
  cgnsInside?: Map<string, string>;
}
let st: State = { sets: [], controllers: [], ofTid: new Map() };

const keep = (m: CgMember): boolean => {
  const only = cgroupOptions().dumpControllers;
  if (only.length && !only.includes(m.name)) {
    log.debug(`cg-prop: Skipping controller ${m.name}`);
    return false;
  }
  return true;
};
const sameSet = (a: CgMember[], b: CgMember[]): boolean => a.length === b.length && a.every((m, i) => m.name === b[i].name && m.path === b[i].path);

/** The dump begins: the tool's own set is set 1, the controllers are the tool's hierarchies. */
function startCgroupDump(): void {
  const mine = readCgroupFile(`/proc/self/task/${process.pid}/cgroup`).filter(keep);
  st = { sets: [{ id: 1, ctls: mine }], controllers: [], ofTid: new Map() };
  for (const m of mine)
    if (!m.name.startsWith('name=')) st.controllers.push({ cnames: cnamesOf(m.name).filter((c) => !c.startsWith('name=')), heads: [], threaded: false });
  log.debug(`cg: Set 1 is criu one`);
}

/** The frozen tree's threads, root first: each gets its set, a new set's cgroups are collected. */
export function collectCgroups(tasks: { pid: number; tids: number[] }[]): void {
  startCgroupDump();
  st.rootPid = tasks[0]?.pid;
  for (const t of tasks)
    for (const tid of t.tids) {
      const ctls = readCgroupFile(`/proc/${t.pid}/task/${tid}/cgroup`).filter(keep);
      let set = st.sets.find((s) => sameSet(s.ctls, ctls));
      if (set) log.debug(`cg:  \`- Existing css ${set.id} found`);
      else {
        set = { id: st.sets.length + 1, ctls };
        st.sets.push(set);
        log.debug(`cg:  \`- New css ID ${set.id}`);
        collectSet(set);
      }
      st.ofTid.set(tid, set.id);
    }
}

/** thread_core.cg_set of a dumped thread (1: the tool's set) */
export const cgSetOf = (tid: number): number => st.ofTid.get(tid) ?? 1;

/** ns/cgroup.ts: the root is in a cgroup namespace of its own, which shows its cgroups so */
export function noteCgnsInside(inside: Map<string, string>): void {
  st.cgnsInside = inside;
}

function controllerOf(name: string): Controller {
  const cn = cnamesOf(name);
  let c = st.controllers.find((x) => x.cnames.every((n) => cn.includes(n)) && (name === '' ? x.cnames[0] === '' : x.cnames[0] !== ''));
  if (!c && name.startsWith('name=')) {
    c = { cnames: [name], heads: [], threaded: false };
    st.controllers.push(c);
  }
  if (!c) throw new CriuError(`controller ${name} not found`, { hint: "the task uses a cgroup hierarchy the tool's own /proc/self/cgroup does not show" });
  return c;
}

/** the cgroup directories below each of the set's cgroups, with their properties (collect_cgroups) */
function collectSet(set: Set): void {
  const o = cgroupOptions();
  for (const m of set.ctls) {
    const c = controllerOf(m.name);
    if (o.mode === 'ignore') continue;
    const root = o.roots.find((r) => r.ctl === m.name)?.path ?? globalRoot() ?? m.path;
    const base = hierarchy(m.name);
    walk(c, base, path.posix.normalize(`/${root}`));
  }
}

const isBelow = (p: string, of: string): boolean => of === '/' || p.startsWith(`${of}/`);

function walk(c: Controller, base: string, rel: string): void {
  const full = path.join(base, rel);
  let ents: fs.Dirent[];
  try {
    ents = fs.readdirSync(full, { withFileTypes: true });
  } catch (e) {
    throw new CriuError(`failed walking ${full} for empty cgroups: ${(e as Error).message}`, { object: full });
  }
  add(c, base, rel);
  for (const e of ents) if (e.isDirectory()) walk(c, base, rel === '/' ? `/${e.name}` : `${rel}/${e.name}`);
}

function find(dirs: Dir[], p: string): Dir | undefined {
  for (const d of dirs) {
    if (d.path === p) return d;
    const f = find(d.children, p);
    if (f) return f;
  }
  return undefined;
}

function add(c: Controller, base: string, rel: string): void {
  if (find(c.heads, rel)) return;
  const full = path.join(base, rel);
  const s = fs.statSync(full);
  const d: Dir = { path: rel, children: [], props: withFreezerOrigin(full, readProps(c, full), c.cnames), perms: { mode: s.mode, uid: s.uid, gid: s.gid } };
  if (fs.existsSync(path.join(full, 'tasks'))) c.threaded = true;
  if (d.props.some((p) => p.name === 'cgroup.type' && p.value === 'threaded')) c.threaded = true;
  log.debug(`cg: adding cgroup ${full}`);
  // under the deepest directory it is below, else a head of its own
  let parent: Dir | undefined;
  for (let list = c.heads, go = true; go;) {
    go = false;
    for (const x of list)
      if (isBelow(rel, x.path)) {
        parent = x;
        list = x.children;
        go = true;
        break;
      }
  }
  (parent ? parent.children : c.heads).push(d);
}

const LLONG_MAX = (1n << 63n) - 1n;

function readProps(c: Controller, dir: string): CgroupPropEntry[] {
  const out: CgroupPropEntry[] = [];
  for (const name of propsOf(c.cnames)) {
    const f = path.join(dir, name);
    let value: string;
    let s: fs.Stats;
    try {
      s = fs.statSync(f);
      value = name === 'cgroup.procs' || name === 'tasks' ? '' : fs.readFileSync(f, 'utf8').slice(0, 1023);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        log.debug(`cg: Couldn't open ${f}. This cgroup property may not exist on this kernel`);
        continue;
      }
      throw new CriuError(`Failed opening ${f}: ${(e as Error).message}`, { object: f });
    }
    if (value.endsWith('\n')) value = value.slice(0, -1);
    if (name === 'memory.oom_control') {
      const m = /oom_kill_disable (\d+)/.exec(value);
      if (!m) throw new CriuError(`couldn't scan oom state from ${value}`, { object: f });
      value = m[1];
    }
    if (/^\d+$/.test(value) && BigInt(value) >= LLONG_MAX) value = '-1';
    log.debug(`cg: Dumping value ${value} from ${dir}/${name}`);
    out.push({ name, value, perms: { mode: s.mode, uid: s.uid, gid: s.gid } });
  }
  return out;
}

function dirEntries(dirs: Dir[], head: boolean): CgroupDirEntry[] {
  return dirs.map((d) => ({
    dir_name: head ? d.path.replace(/^\/+/, '') : path.posix.basename(d.path),
    children: dirEntries(d.children, false),
    properties: d.props,
    dir_perms: d.perms,
  }));
}

/** cgns_prefix of the root's members (and the same names in the other sets), from the namespace's view */
function prefixes(): Map<string, number> {
  const out = new Map<string, number>();
  const inside = st.cgnsInside;
  if (!inside || st.rootPid === undefined) return out;
  const root = st.sets.find((s) => s.id === cgSetOf(st.rootPid!));
  for (const m of root?.ctls ?? []) {
    const i = inside.get(m.name);
    if (i === undefined || i === m.path) continue;
    const tail = i.replace(/^\/+/, '');
    if (!m.path.endsWith(tail)) throw new CriuError(`invalid cgroup configuration, ${i} is not a suffix of ${m.path}`);
    let pos = m.path.length - tail.length;
    if (pos > 0 && m.path[pos - 1] === '/') pos--;
    if (pos > 0) out.set(m.name, pos);
  }
  return out;
}

/** --freeze-cgroup: the freezer cgroup (the tool's path) and whether it was frozen before the dump froze it */
let freezerOrigin: { dir: string; frozen: boolean } | undefined;
export function noteFreezerOrigin(dir: string, frozen: boolean): void {
  freezerOrigin = { dir: path.resolve(dir), frozen };
}

/**
 * The freezer cgroup's state as it was before the dump froze it (CRIU's add_freezer_state with
 * get_real_freezer_state), in place of what the dump saw: freezer.state added to a v1 freezer
 * cgroup, cgroup.freeze's value for a v2 one. The restore writes it last.
 */
function withFreezerOrigin(dir: string, props: CgroupPropEntry[], cnames: readonly string[]): CgroupPropEntry[] {
  if (!freezerOrigin || path.resolve(dir) !== freezerOrigin.dir) return props;
  const f = freezerOrigin.frozen;
  if (cnames.includes('freezer')) {
    const s = fs.statSync(path.join(dir, 'freezer.state'));
    return [
      ...props.filter((p) => p.name !== 'freezer.state'),
      { name: 'freezer.state', value: f ? 'FROZEN' : 'THAWED', perms: { mode: s.mode, uid: s.uid, gid: s.gid } },
    ];
  }
  return props.map((p) => (p.name === 'cgroup.freeze' ? { ...p, value: f ? '1' : '0' } : p));
}

/** cgroup.img, unless every task is in the tool's cgroups (CRIU: "Nothing to dump"); the names written */
export function writeCgroupImage(dir: string): string[] {
  try {
    if (st.sets.length <= 1 && !st.cgnsInside) {
      log.info("cg: All tasks in criu's cgroups. Nothing to dump.");
      return [];
    }
    const pre = prefixes();
    // the tool's set stays out, as CRIU's; but not when a cgroup namespace's root is in it
    const rootSet = st.rootPid !== undefined ? cgSetOf(st.rootPid) : 0;
    const sets = st.sets.filter((s) => s.id !== 1 || (rootSet === 1 && st.cgnsInside));
    const member = (m: CgMember): CgMemberEntry => {
      const p = pre.get(m.name);
      if (p !== undefined && m.path.length < p) throw new CriuError(`cg ${m.path} shorter than path prefix ${p}?`);
      return { name: m.name, path: m.path, ...(p ? { cgns_prefix: p } : {}) };
    };
    const e: CgroupEntry = {
      sets: sets.map((s) => ({ id: s.id, ctls: s.ctls.map(member) })),
      controllers: st.controllers.map((c) => ({ cnames: c.cnames, dirs: dirEntries(c.heads, true), is_threaded: c.threaded })),
    };
    log.info(`cg: Dumping ${sets.length} sets`);
    writeMessages(dir, 'cgroup.img', 'CGROUP', [e]);
    return ['cgroup.img'];
  } finally {
    finiYard();
  }
}

/** the dump ended (or failed): nothing kept for the next one */
export function endCgroupDump(): void {
  st = { sets: [], controllers: [], ofTid: new Map() };
  freezerOrigin = undefined;
  finiYard();
}
