// The file a path-bound unix socket is on, as CRIU 4.2's sk-unix.c finds and makes it.
// Dump (unix_resolve_name): SIOCUNIXFILE opens the socket's own inode (O_PATH), whatever has
// happened to its path since: its mode and owner are the socket file's, its link says where it
// is now, " (deleted)" when it was unlinked (or its path taken by another file): `deleted` in
// the image; a relative name's directory is that link without the name (`name_dir`).
// Restore: a relative name is bound and connected to from its name_dir (CRIU's
// prep_unix_sk_cwd); a deleted one is a ghost (bind_on_deleted): its directories made if they
// are gone, a file on its path moved aside, bound, owner and mode set, an O_PATH fd on it kept
// for the sockets that connect to it (through /proc/self/fd/N, as CRIU's fdstore), then unlinked,
// the file moved back and the directories made removed again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FilePermsEntry, UnixSkEntry } from '../images/gen/types.js';
import { ioctl, close, syscall, addrOf, SysError, E, errnoName } from '../sys/libc.js';
import { bindRaw, connectRaw } from '../sys/net.js';
import { FileError } from './kind.js';
import { nameText, pathOf, sockaddrUn } from './unix-sk.js';
import { ids as userIds } from '../proc/idmap.js';
import { treeRootPid, unixInTree, lstatInTree, toolPath } from '../sys/tree-root.js';

const SIOCUNIXFILE = 0x89e0; // SIOCPROTOPRIVATE + 0
const O_PATH = 0o10000000;
const GHOST_SUFFIX = '.criu-sk-ghost';

export interface NameInfo {
  perms?: FilePermsEntry;
  deleted?: boolean;
  nameDir?: string;
}

/** What the image keeps of a socket's name besides the name: its file's owner and mode, deleted, name_dir. */
export function resolveName(fd: number, name: Buffer, who: string): NameInfo {
  const p = pathOf(name);
  if (p === null) return {};
  let file: number;
  try {
    file = ioctl(fd, SIOCUNIXFILE, 0);
  } catch (e) {
    if (e instanceof SysError && e.errno === E.ENOENT) return {};
    throw e;
  }
  try {
    const st = fs.fstatSync(file);
    let link = fs.readlinkSync(`/proc/self/fd/${file}`);
    const deleted = link.endsWith(' (deleted)');
    if (deleted) link = link.slice(0, -' (deleted)'.length);
    const out: NameInfo = { perms: { mode: st.mode, uid: userIds.toNs('uid', st.uid), gid: userIds.toNs('gid', st.gid) } };
    if (deleted) out.deleted = true;
    if (!p.startsWith('/')) {
      const rel = path.normalize(p);
      if (!link.endsWith(`/${rel}`))
        throw new FileError(who, `the unix socket bound to the relative name ${p} is now at ${link}`, {
          object: p,
          hint: 'its directory cannot be found from the name; CRIU refuses it too',
        });
      out.nameDir = link.slice(0, -rel.length - 1) || '/';
    }
    return out;
  } finally {
    close(file);
  }
}

/** Runs `fn` with the tool's working directory at `dir` (the raw chdir syscall, back again after). */
export function inDir<T>(dir: string | undefined, fn: () => T): T {
  if (!dir) return fn();
  const back = fs.openSync('.', O_PATH);
  try {
    const b = Buffer.from(`${dir}\0`);
    const r = Number(syscall('chdir', addrOf(b)));
    if (r < 0) throw new FileError('', `cannot change to ${dir} (the directory of a relative unix socket name): ${errnoName(-r)}`, { object: dir });
    try {
      return fn();
    } finally {
      syscall('fchdir', back);
    }
  } finally {
    fs.closeSync(back);
  }
}

const exists = (p: string): boolean => {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/** A socket file left on the path (the dumped socket's own) is stale: CRIU's unlink_sk removes it, and nothing else. */
export function unlinkStale(u: UnixSkEntry): void {
  const p = pathOf(u.name);
  if (p === null) return;
  if (treeRootPid() !== null) {
    try {
      if (lstatInTree(p).isSocket()) fs.unlinkSync(toolPath(p));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SysError && e.errno === E.ENOENT)) throw e;
    }
    return;
  }
  inDir(u.name_dir, () => {
    try {
      if (fs.lstatSync(p).isSocket()) fs.unlinkSync(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  });
}

function setPerms(p: string, u: UnixSkEntry): void {
  if (!u.file_perms) return;
  fs.chownSync(p, userIds.toHost('uid', u.file_perms.uid), userIds.toHost('gid', u.file_perms.gid));
  fs.chmodSync(p, u.file_perms.mode & 0o7777);
}

function bindFailed(who: string, u: UnixSkEntry, e: unknown): never {
  if (!(e instanceof SysError)) throw e;
  const what = nameText(u.name);
  throw new FileError(who, `cannot bind unix socket ${u.ino} to ${what}: ${e.message}`, {
    object: what,
    hint: pathOf(u.name)
      ? "the path's directory must exist and nothing but a socket file may be on it"
      : 'another socket holds the abstract name: is the dumped tree still running?',
  });
}

/** A socket bound to a path deleted since: bound there for a moment, kept by an O_PATH fd (returned), unlinked again. */
function bindGhost(fd: number, u: UnixSkEntry, p: string, who: string): number {
  // the deepest directory that still exists: the ones below it are made and removed again
  let have = path.dirname(p);
  const made: string[] = [];
  while (!exists(have)) {
    made.unshift(have);
    have = path.dirname(have);
  }
  for (const d of made) fs.mkdirSync(d, { mode: 0o755 });
  const parked = p + GHOST_SUFFIX;
  const moved = exists(p);
  if (moved) {
    fs.rmSync(parked, { force: true });
    fs.renameSync(p, parked);
  }
  let keep = -1;
  try {
    try {
      bindRaw(fd, sockaddrUn(u.name), nameText(u.name));
    } catch (e) {
      bindFailed(who, u, e);
    }
    try {
      setPerms(p, u);
      keep = fs.openSync(p, O_PATH);
    } finally {
      fs.unlinkSync(p);
    }
  } finally {
    if (moved) fs.renameSync(parked, p);
    for (const d of made.reverse()) fs.rmdirSync(d);
  }
  return keep;
}

/** Binds `fd` to the name of `u`; for a ghost the O_PATH fd that its connecting sockets use, else -1. */
export function bindName(fd: number, u: UnixSkEntry, who: string): number {
  const p = pathOf(u.name);
  if (p !== null && treeRootPid() !== null) {
    // a name in the tree's own mount namespace (the dump refuses relative and deleted ones there)
    const perms = u.file_perms && { mode: u.file_perms.mode, uid: userIds.toHost('uid', u.file_perms.uid), gid: userIds.toHost('gid', u.file_perms.gid) };
    try {
      unixInTree(fd, 'bind', p, perms);
    } catch (e) {
      bindFailed(who, u, e);
    }
    return -1;
  }
  return inDir(p !== null ? u.name_dir : undefined, () => {
    if (p !== null && u.deleted) return bindGhost(fd, u, p, who);
    try {
      bindRaw(fd, sockaddrUn(u.name), nameText(u.name));
    } catch (e) {
      bindFailed(who, u, e);
    }
    if (p !== null) setPerms(p, u);
    return -1;
  });
}

/** Connects `fd` to the socket `to` (by its ghost's O_PATH fd when it has one, from its name_dir when relative). */
export function connectName(fd: number, to: UnixSkEntry, ghost: number | undefined): void {
  if (ghost !== undefined && ghost >= 0) {
    connectRaw(fd, sockaddrUn(Buffer.from(`/proc/self/fd/${ghost}\0`)), `${nameText(to.name)} (deleted, through /proc/self/fd/${ghost})`);
    return;
  }
  const p = pathOf(to.name);
  if (p !== null && treeRootPid() !== null) return unixInTree(fd, 'connect', p);
  inDir(p !== null ? to.name_dir : undefined, () => connectRaw(fd, sockaddrUn(to.name), nameText(to.name)));
}
