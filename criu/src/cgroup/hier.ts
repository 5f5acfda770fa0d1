// Cgroup hierarchies as the tool sees them: /proc/PID/cgroup lines, and where each hierarchy is
// mounted in the tool's mount namespace (the yard CRIU mounts for itself: here the tool's own
// mounts of the whole hierarchy, or one made in a private directory when there is none).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { libc } from '../sys/libc.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { cgroupOptions } from './opts.js';

/** one line of /proc/PID/cgroup: the hierarchy's name as written there ("cpu,cpuacct", "name=systemd", "" for v2) and the path */
export interface CgMember {
  name: string;
  path: string;
}

/** the lines of a /proc/…/cgroup file, sorted by name as CRIU keeps them */
export function readCgroupFile(file: string): CgMember[] {
  const out: CgMember[] = [];
  for (const l of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!l) continue;
    const m = /^\d+:([^:]*):(.*)$/.exec(l);
    if (!m) throw new CriuError(`Failed parsing cgroup ${l}`, { object: file });
    out.push({ name: m[1], path: m[2] });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** the controller names of a hierarchy name ("" is v2's one) */
export const cnamesOf = (name: string): string[] => (name === '' ? [''] : name.split(','));

const mountFn = libc.func('int mount(const char *src, const char *target, const char *type, unsigned long flags, const char *data)');
const umount2 = libc.func('int umount2(const char *target, int flags)');

const made = new Map<string, string>();
let yard: string | undefined;

/** where the tool sees hierarchy `name` mounted whole: a cgroup2 mount for "", else a cgroup one with those controllers */
export function mountOf(name: string): string | undefined {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = l.split(' - ');
    if (!post) continue;
    const f = pre.split(' '),
      [fstype, , opts] = post.split(' ');
    if (f[3] !== '/') continue; // a bind of a sub-cgroup
    if (name === '' ? fstype === 'cgroup2' : fstype === 'cgroup' && name.split(',').every((c) => opts.split(',').includes(c))) return f[4];
  }
  return made.get(name);
}

/** the hierarchy's root directory for the tool: its mount, or one made now in a private yard (CRIU's cgroup yard) */
export function hierarchy(name: string): string {
  const given = cgroupOptions().yard;
  if (given) {
    const d = path.join(given, name === '' ? 'unified' : name.replace(/(^|,)name=/g, '$1'));
    if (!fs.existsSync(d))
      throw new CriuError(`couldn't open ${d}`, { object: name || 'cgroup2', hint: '--cgroup-yard must hold a mount of every hierarchy of the dump' });
    return d;
  }
  const m = mountOf(name);
  if (m) return m;
  yard ??= fs.mkdtempSync(path.join(os.tmpdir(), '.criu.cgyard.'));
  const dir = path.join(yard, name === '' ? 'unified' : name.replace(/^name=/, ''));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const named = cnamesOf(name).some((c) => c.startsWith('name='));
  const type = name === '' ? 'cgroup2' : 'cgroup';
  if (mountFn('none', dir, type, 0, name === '' ? null : `${named ? 'none,' : ''}${name}`) !== 0)
    throw new CriuError(`\tCan't mount controller dir ${dir}`, { object: name || 'cgroup2', hint: 'the hierarchy must be mountable here (the dump had it)' });
  log.info(`\tMaking controller dir ${dir} (${name}), type ${type}`);
  made.set(name, dir);
  return dir;
}

/** the yard's mounts go away (fini_cgroup) */
export function finiYard(): void {
  for (const d of made.values()) umount2(d, 2 /* MNT_DETACH */);
  made.clear();
  if (yard) fs.rmSync(yard, { recursive: true, force: true });
  yard = undefined;
}
