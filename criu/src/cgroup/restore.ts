// The restore's cgroups (CRIU's cgroup.c, restore side), by --manage-cgroups' mode:
//  - before any task is made: cgroup.img read, --cgroup-root applied to its paths, each dumped
//    directory looked up in the tool's view of its hierarchy (hier.ts); a missing one fails the
//    restore in modes none and props, is made (with its permissions and the properties that must
//    be set before a task enters: cpuset.cpus, devices.list …) in soft, full and strict; an
//    existing one fails it in strict and keeps its properties in soft and none;
//  - each task, once forked, moved into its set's cgroups where they are not its parent's (the
//    root: where they are not the tool's, inventory.root_cg_set); each thread into its own set
//    where its hierarchy is threaded (v1's tasks, v2's cgroup.threads);
//  - once every task is made, the other properties of the directories (not the hierarchy's
//    roots), the freezer's state last, just before the tree runs.
// A failed restore removes the directories it made.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupDirEntry, CgroupEntry, CgroupPropEntry, CgSetEntry, CgControllerEntry } from '../images/index.js';
import { readMessagesOf } from '../images/typed.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { hierarchy, finiYard } from './hier.js';
import { SPECIAL } from './props.js';
import { cgroupOptions, globalRoot, CG_MODES, type CgMode } from './opts.js';

interface State {
  entry?: CgroupEntry;
  rootSet: number;
  made: string[];
  /** freezer.state and cgroup.freeze, written last */
  freezers: { file: string; prop: CgroupPropEntry }[];
}
let st: State = { rootSet: 1, made: [], freezers: [] };

const mode = (): CgMode => cgroupOptions().mode;
const has = (...m: CgMode[]): boolean => m.includes(mode());
const hierName = (c: CgControllerEntry): string => (c.cnames ?? []).join(',');
const contains = (cnames: readonly string[], name: string): boolean => name.split(',').every((n) => cnames.includes(n));

/** the controller entry of a set member ("cpu,cpuacct", "name=systemd", "" …) */
function controllerOf(name: string, who: string): CgControllerEntry {
  const c = (st.entry?.controllers ?? []).find((x) => contains(x.cnames ?? [], name));
  if (!c) throw new CriuError(`${who}: no cg_controller_entry found for ${name || '(unified)'}`, { hint: 'cgroup.img is inconsistent' });
  return c;
}

/** cgroup.img (none: every task was in the tool's cgroups) read and prepared; the directories made */
export function prepareCgroups(dir: string, rootCgSet: number | undefined): void {
  st = { rootSet: rootCgSet ?? 1, made: [], freezers: [] };
  const file = path.join(dir, 'cgroup.img');
  if (!fs.existsSync(file) || mode() === 'ignore') return;
  const all = readMessagesOf(file, 'CGROUP');
  if (!all.length || !(all[0].sets ?? []).length) return;
  st.entry = all[0];
  rewriteRoots(st.entry);
  log.info(`cg: Preparing cgroups yard (cgroups restore mode ${CG_MODES[mode()]})`);
  for (const c of st.entry.controllers ?? []) {
    if (!(c.cnames ?? []).length) throw new CriuError('cgroup.img: each cg_controller_entry should have at least 1 cname');
    const base = hierarchy(hierName(c));
    prepareDirs(base, '', c.dirs ?? []);
  }
}

/** --cgroup-root [CTL:]/NEW: the paths under each controller's head directories move under NEW */
function rewriteRoots(e: CgroupEntry): void {
  const roots = cgroupOptions().roots;
  if (!roots.length) return;
  const global = globalRoot();
  for (const c of e.controllers ?? []) {
    const cn = c.cnames ?? [];
    let newroot: string | undefined;
    for (const r of roots.filter((x) => x.ctl !== undefined && cn.some((n) => x.ctl!.split(',').includes(n)))) {
      if (newroot !== undefined && newroot !== r.path) throw new CriuError(`CG paths mismatch: ${newroot} ${r.path}`, { object: cn.join(',') });
      newroot = r.path;
    }
    newroot ??= global;
    if (newroot === undefined) continue;
    for (const d of c.dirs ?? []) {
      log.info(`cg: rewriting ${d.dir_name} to ${newroot}`);
      const old = d.dir_name;
      let renamed: string | undefined;
      for (const s of e.sets ?? [])
        for (const m of s.ctls ?? []) {
          if (!contains(cn, m.name) || !m.path.slice(1).startsWith(old)) continue;
          if (m.cgns_prefix) {
            renamed ??= newroot + old.slice(m.cgns_prefix - 1);
            m.path = newroot + m.path.slice(m.cgns_prefix);
            m.cgns_prefix = newroot.length;
          } else {
            renamed ??= newroot;
            m.path = newroot + m.path.slice(old.length + 1);
          }
        }
      if (renamed !== undefined) d.dir_name = renamed;
    }
  }
}

function chperm(p: string, perms: CgroupDirEntry['dir_perms']): void {
  if (!perms) return;
  fs.chownSync(p, perms.uid, perms.gid);
  fs.chmodSync(p, perms.mode & 0o7777);
}

function prepareDirs(base: string, rel: string, dirs: CgroupDirEntry[]): void {
  for (const e of dirs) {
    const r = path.posix.join(rel || '/', e.dir_name);
    const full = path.join(base, r);
    if (!fs.existsSync(full)) {
      if (has('none', 'props'))
        throw new CriuError(`Cgroup dir ${full} doesn't exist`, {
          object: full,
          hint: `--manage-cgroups=${mode()} restores only into existing cgroups: make it, or use soft or full`,
        });
      made(base, r);
      log.info(`cg: Created cgroup dir ${full}`);
      chperm(full, e.dir_perms);
      for (const p of e.properties ?? []) if (SPECIAL.has(p.name)) special(full, p);
    } else {
      log.info(`cg: Determined cgroup dir ${full} already exist`);
      if (has('strict'))
        throw new CriuError(`Abort restore of existing cgroups: ${full}`, {
          object: full,
          hint: '--manage-cgroups=strict restores only into cgroups it makes',
        });
      if (has('soft', 'none')) {
        log.info(`cg: Skip restoring properties on cgroup dir ${full}`);
        e.properties = [];
      }
      if (!has('none')) chperm(full, e.dir_perms);
    }
    prepareDirs(base, r, e.children ?? []);
  }
}

/** mkdir -p, each directory made kept for the undo */
function made(base: string, rel: string): void {
  let at = base;
  for (const part of rel.split('/').filter(Boolean)) {
    at = path.join(at, part);
    if (fs.existsSync(at)) continue;
    try {
      fs.mkdirSync(at, 0o755);
    } catch (e) {
      throw new CriuError(`Can't make cgroup dir ${at}: ${(e as Error).message}`, { object: at });
    }
    st.made.push(at);
  }
}

function writeProp(dir: string, p: CgroupPropEntry, opts: { split?: boolean; skipFails?: boolean; name?: string; value?: string } = {}): void {
  const name = opts.name ?? p.name;
  const value = opts.value ?? p.value;
  const file = path.join(dir, name);
  log.info(`cg: Restoring cgroup property value [${value}] to [${file}]`);
  let fd: number;
  try {
    fd = fs.openSync(file, name === 'cgroup.subtree_control' ? 'r+' : 'w');
  } catch (e) {
    throw new CriuError(`bad cgroup path: ${file}: ${(e as Error).message}`, { object: file });
  }
  try {
    if (p.perms) {
      fs.fchownSync(fd, p.perms.uid, p.perms.gid);
      fs.fchmodSync(fd, (name === 'devices.allow' || name === 'devices.deny' ? 0o200 : p.perms.mode) & 0o7777);
    }
    if (name === 'cgroup.procs' || name === 'tasks') return;
    if (name === 'cgroup.type' && value !== 'threaded') return;
    if (name === 'cgroup.subtree_control') {
      const now = fs.readFileSync(fd, 'utf8').trim();
      const words = [...(now ? now.split(' ').map((w) => `-${w}`) : []), ...(value ? value.split(' ').map((w) => `+${w}`) : [])];
      if (words.length) fs.writeSync(fd, words.join(' '));
      return;
    }
    for (const line of opts.split ? value.split('\n') : [value]) {
      try {
        fs.writeSync(fd, line);
      } catch (e) {
        if (name === 'memory.kmem.limit_in_bytes' && (e as NodeJS.ErrnoException).code === 'EOPNOTSUPP') continue;
        if (opts.skipFails) {
          log.warn(`cg: Failed writing ${line} to ${file}: ${(e as Error).message}`);
          continue;
        }
        throw new CriuError(`Failed writing ${line} to ${file}: ${(e as Error).message}`, { object: file });
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** the properties set when the directory is made, before any task enters it */
function special(dir: string, p: CgroupPropEntry): void {
  if (p.name === 'memory.swappiness' && p.value === '60') return;
  if (p.name === 'memory.oom_control' && p.value === '0') return;
  if (p.name === 'devices.list') {
    // a whitelist: everything denied, then each line allowed, one write each
    writeProp(dir, p, { name: 'devices.deny', value: 'a' });
    if (p.value !== '') writeProp(dir, p, { name: 'devices.allow', split: true });
    return;
  }
  writeProp(dir, p);
}

/** the set a task's leader (or a thread) is in, 0 for none (CRIU's rsti()->cg_set) */
export function setOfCore(core: { thread_core?: { cg_set?: number }; tc?: { cg_set?: number } }): number {
  return core.thread_core?.cg_set ?? core.tc?.cg_set ?? 0;
}

function findSet(id: number, who: string): CgSetEntry {
  const s = (st.entry?.sets ?? []).find((x) => x.id === id);
  if (!s) throw new CriuError(`${who}: No set ${id} found in cgroup.img`, { hint: 'cgroup.img and the task cores disagree: was the dump complete?' });
  return s;
}

function moveInto(id: string, set: CgSetEntry, file: (c: CgControllerEntry) => string | undefined, who: string): void {
  for (const m of set.ctls ?? []) {
    const c = controllerOf(m.name, who);
    const f = file(c);
    if (!f) continue;
    const target = path.join(hierarchy(hierName(c)), m.path, f);
    log.debug(`cg:   \`-> ${target}`);
    try {
      fs.writeFileSync(target, id);
    } catch (e) {
      throw new CriuError(`${who}: can't move it into cgroup ${m.name || '(unified)'}:${m.path}: ${(e as Error).message}`, {
        object: target,
        hint: 'the cgroup must exist and take tasks (a v2 cgroup with controllers in its subtree_control takes none)',
      });
    }
  }
}

/**
 * A task just forked (or the root, parentSet undefined): into its set's cgroups, unless its
 * parent's (the tool's for the root) are the same. `hostPid` as the tool sees it.
 */
export function enterTaskCgroups(hostPid: number, imagePid: number, set: number, parentSet: number | undefined): void {
  if (!st.entry || !set) return;
  const current = parentSet || st.rootSet;
  if (set === current) {
    log.info(`cg: Cgroups ${current} inherited from parent`);
    return;
  }
  log.info(`cg: task ${imagePid}: Move into ${set}`);
  moveInto(String(hostPid), findSet(set, `task ${imagePid}`), () => 'cgroup.procs', `task ${imagePid}`);
}

/** A thread just made, in a set other than its leader's: into the threaded hierarchies' cgroups */
export function enterThreadCgroups(hostTid: number, imageTid: number, set: number, leaderSet: number): void {
  if (!st.entry || !set || set === leaderSet) return;
  log.debug(`cg: move thread ${imageTid} into cg_set ${set}`);
  moveInto(
    String(hostTid),
    findSet(set, `thread ${imageTid}`),
    (c) => (c.is_threaded ? ((c.cnames ?? [])[0] ? 'tasks' : 'cgroup.threads') : undefined),
    `thread ${imageTid}`,
  );
}

/** every task made: the directories' other properties (the freezer's state kept for last) */
export function restoreCgroupProps(): void {
  if (!st.entry) return;
  for (const c of st.entry.controllers ?? []) dirProps(hierarchy(hierName(c)), '', c.dirs ?? []);
}

function dirProps(base: string, rel: string, dirs: CgroupDirEntry[]): void {
  for (const e of dirs) {
    const r = e.dir_name === '' ? rel : path.posix.join(rel || '/', e.dir_name);
    if (e.dir_name !== '') {
      const full = path.join(base, r);
      for (const p of e.properties ?? []) {
        if (p.name === 'freezer.state' || p.name === 'cgroup.freeze') st.freezers.push({ file: full, prop: p });
        else if (SPECIAL.has(p.name)) continue;
        else if (p.name === 'net_prio.ifpriomap') ifpriomap(full, p);
        else writeProp(full, p);
      }
    }
    dirProps(base, r, e.children ?? []);
  }
}

/** only the nonzero priorities, one line a write, those of links not here skipped */
function ifpriomap(dir: string, p: CgroupPropEntry): void {
  const lines = p.value.split('\n').filter((l) => {
    const sp = l.indexOf(' ');
    if (sp < 0) throw new CriuError(`Invalid value for ifpriomap: \`${l}'`, { object: path.join(dir, p.name) });
    return parseInt(l.slice(sp + 1), 10) !== 0;
  });
  if (lines.length) writeProp(dir, p, { value: lines.join('\n'), split: true, skipFails: true });
}

/** just before the tree runs: the freezers' states as dumped (a paused container paused again) */
export function restoreFreezerState(): void {
  for (const f of st.freezers) writeProp(f.file, f.prop);
}

/**
 * rmdir of a cgroup the failed restore made. Its killed tasks are reaped by then, but the kernel
 * may still count an exiting one for a moment (EBUSY under load): tried again for up to a second.
 */
function removeMade(d: string): void {
  for (let i = 0; ; i++) {
    try {
      fs.rmdirSync(d);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EBUSY' && i < 50) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
      log.warn(`cg: cannot remove cgroup ${d} made by the failed restore: ${(e as Error).message}`);
      return;
    }
  }
}

/** the restore ended (`undo`: it failed, the directories it made go, deepest first); the yard is undone */
export function endCgroupRestore(undo: boolean): void {
  if (undo) for (const d of st.made.reverse()) removeMade(d);
  st = { rootSet: 1, made: [], freezers: [] };
  finiYard();
}
