// The user namespace of a tree (CRIU's namespaces.c dump_user_ns, prepare_userns): userns-ID.img
// holds its uid_map and gid_map as the tool reads them from /proc/PID/{uid,gid}_map (first,
// lower_first, count: lower ids are the tool's), and, unknown to CRIU 4.2, setgroups "deny"
// (field 1001). Ids the tool reads from outside (/proc/PID/status, IPC_STAT, loginuid) are the
// tool's; the images hold them as the namespace sees them (CRIU's userns_uid/userns_gid),
// so `ids` converts both ways while a tree in a user namespace is dumped or restored.
//
// The restore: the launcher makes the root puppet with CLONE_NEWUSER (and the other CLONE_NEW*
// flags: the kernel makes the user namespace first and the others owned by it); the child waits
// on its transport before it does anything; the tool writes setgroups, uid_map and gid_map
// (mapUserns), sends one byte, and the child becomes the namespace's root (setresgid/setresuid
// 0) and execs the puppet, which so has every capability in the namespace. The tool, root of
// the host, traces it as any puppet. A user namespace cannot be entered by a thread of a
// multithreaded process, so this kind is `outside`: never part of ns/sysv.ts inNamespaces.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { UidGidExtent, UsernsEntry } from '../images/index.js';
import { readMessagesOf, writeMessages } from '../images/typed.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { ioctl, close, writeFd, kill, waitpid } from '../sys/libc.js';
import { log } from '../log.js';
import { lookup, mapOf, useUserns } from '../proc/idmap.js';
import { badImage, type NsKind } from './kind.js';

export { ids, useUserns, asNsRoot } from '../proc/idmap.js';

export const CLONE_NEWUSER = 0x10000000n;
const NS_GET_USERNS = 0xb701,
  NS_GET_PARENT = 0xb702;

export interface UserDump {
  entry: UsernsEntry;
  /** the namespace's inode (st_ino of /proc/PID/ns/user) */
  ino?: number;
}

function parseMap(pid: number, name: string): UidGidExtent[] {
  const text = fs.readFileSync(`/proc/${pid}/${name}`, 'utf8');
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every(Number.isFinite))
    .map(([first, lower_first, count]) => ({ first, lower_first, count }));
}

const fmtMap = (m: UidGidExtent[]): string => m.map((e) => `${e.first} ${e.lower_first} ${e.count}`).join(', ') || 'none';

/** the inode of the user namespace that owns (NS_GET_USERNS) or is the parent of (NS_GET_PARENT) the namespace at link */
export function userNsOf(link: string, req: 'owner' | 'parent'): number {
  const fd = fs.openSync(link, 'r');
  try {
    const u = ioctl(fd, req === 'owner' ? NS_GET_USERNS : NS_GET_PARENT, null);
    try {
      return fs.fstatSync(u).ino;
    } finally {
      close(u);
    }
  } finally {
    fs.closeSync(fd);
  }
}

function dumpUser(pid: number): UserDump {
  const link = `/proc/${pid}/ns/user`;
  const ino = fs.statSync(link).ino;
  const mine = fs.statSync('/proc/self/ns/user').ino;
  let parent: number;
  try {
    parent = userNsOf(link, 'parent');
  } catch (e) {
    throw new CriuError(`task ${pid}: cannot read the parent of its user namespace: ${(e as Error).message}`, { task: pid, object: link });
  }
  if (parent !== mine)
    throw new NotSupportedError(
      `task ${pid}: a nested user namespace (user:[${ino}], whose parent user:[${parent}] is not the tool's user:[${mine}])`,
      'nested user namespaces are dumped with containers, not yet',
    );
  const entry: UsernsEntry = { uid_map: parseMap(pid, 'uid_map'), gid_map: parseMap(pid, 'gid_map') };
  let sg = 'allow';
  try {
    sg = fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8').trim();
  } catch {
    /* a kernel without it */
  }
  if (sg === 'deny') entry.setgroups_deny = true;
  for (const k of ['uid', 'gid'] as const)
    if (lookup(mapOf(entry, k), 0, 'first', 'lower_first') === undefined)
      throw new NotSupportedError(
        `task ${pid}: its user namespace user:[${ino}] maps no ${k} 0 (${k}_map: ${fmtMap(mapOf(entry, k))})`,
        'the restore makes its tasks as the namespace root; a namespace without a root is not restored yet',
      );
  useUserns(entry);
  return { entry, ino };
}

export function loadUserns(dir: string, id: number): UsernsEntry {
  const name = `userns-${id}.img`;
  const file = path.join(dir, name);
  if (!fs.existsSync(file))
    throw new CriuError(`image ${name} of the tree's user namespace is missing in ${dir}`, { object: name, hint: 'was the dump complete?' });
  const all = readMessagesOf(file, 'USERNS');
  if (all.length !== 1) throw badImage(name, 'entries:', `${all.length}, one expected`);
  const e = all[0];
  for (const k of ['uid', 'gid'] as const) {
    const m = mapOf(e, k);
    if (m.length > 340) throw badImage(name, `${k}_map:`, `${m.length} extents, the kernel takes at most 340`);
    if (lookup(m, 0, 'first', 'lower_first') === undefined)
      throw new NotSupportedError(`${name}: the user namespace maps no ${k} 0 (${k}_map: ${fmtMap(m)})`, 'a namespace without a root is not restored yet');
  }
  return e;
}

export const user: NsKind<UserDump> = {
  name: 'user',
  cloneFlag: CLONE_NEWUSER,
  outside: true,
  dump: (pid?: number) => {
    if (pid === undefined) throw new CriuError('the user namespace is read from /proc/PID (a bug: no pid given)');
    return dumpUser(pid);
  },
  write(dir, id, d) {
    const name = `userns-${id}.img`;
    writeMessages(dir, name, 'USERNS', [d.entry]);
    return [name];
  },
  load: (dir, id) => {
    const entry = loadUserns(dir, id);
    useUserns(entry);
    return { entry };
  },
  // set before the puppet execs (mapUserns), not with the tool's thread in the namespace
  restore: () => {},
  describe: (d) => `uid_map ${fmtMap(d.entry.uid_map ?? [])}; gid_map ${fmtMap(d.entry.gid_map ?? [])}; setgroups ${d.entry.setgroups_deny ? 'deny' : 'allow'}`,
};

/**
 * The root puppet was made in a new user namespace and waits on its transport: write its
 * setgroups (before gid_map: the kernel takes "deny" only then), uid_map and gid_map, then let
 * it go on. A failure kills it (it has not even exec'd the puppet yet).
 */
export function mapUserns(d: UserDump, pid: number, transport: number, ownChild: boolean): void {
  const e = d.entry;
  const line = (m: UidGidExtent[]): string => m.map((x) => `${x.first} ${x.lower_first} ${x.count}\n`).join('');
  const put = (file: string, s: string): void => {
    try {
      fs.writeFileSync(`/proc/${pid}/${file}`, s);
    } catch (err) {
      throw new CriuError(`task ${pid}: cannot write ${JSON.stringify(s.trim())} to /proc/${pid}/${file}: ${(err as Error).message}`, {
        task: pid,
        object: `/proc/${pid}/${file}`,
        hint: 'the maps must be ids the tool may map (its own user namespace maps them all when it is root of the host)',
      });
    }
  };
  try {
    if (e.setgroups_deny) put('setgroups', 'deny');
    put('uid_map', line(e.uid_map ?? []));
    put('gid_map', line(e.gid_map ?? []));
    if (writeFd(transport, Buffer.from('U')) !== 1) throw new CriuError(`task ${pid}: cannot wake the puppet in its user namespace`);
    log.debug(`task ${pid}: user namespace mapped: ${user.describe(d)}`);
  } catch (err) {
    try {
      kill(pid, 9);
      if (ownChild) waitpid(pid);
    } catch {
      /* gone already */
    }
    throw err;
  }
}
