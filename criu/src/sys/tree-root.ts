// Paths of the tree's files in the tree's own view (set by ns/mnt.ts; here so files/ may use it). A tree in a mount namespace of its own names
// its files (fds, cwd, root, exe, mapped files) as that namespace shows them: the same string in
// the tool's namespace may be another file or none. Every open and stat of such a path goes
// through here: with a tree root set (the dumped root task, or the root puppet once its mount
// tree is built), the path is resolved by openat2(RESOLVE_IN_ROOT) from /proc/PID/root, so
// `..` and absolute symlinks stay inside the tree's root; without one, it is the tool's own path.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { libc, koffi, SysError, big } from './libc.js';
import { CriuError } from './errors.js';
import { nativeDir } from '../paths.js';

const NR_openat2 = 437,
  RESOLVE_IN_ROOT = 0x10n,
  O_PATH = 0o10000000,
  // the same on x86_64 and aarch64 (O_PATH, O_CLOEXEC), and those that differ (0o40000 is
  // O_DIRECTORY on aarch64 and O_DIRECT on x86_64): openat2 refuses any flag but these with O_PATH
  O_CLOEXEC = 0o2000000,
  { O_NOFOLLOW, O_DIRECTORY } = fs.constants;

const openat2 = libc.func('long syscall(long nr, int dirfd, const char *path, void *how, unsigned long size)');

let rootPid: number | null = null;
let rootFd = -1;
/** directories opened for toolPath(), closed when the tree root changes */
const dirFds: number[] = [];

/** The task whose root is the tree's (null: the tool's root is the tree's). */
export function setTreeRoot(pid: number | null): void {
  if (rootFd >= 0) fs.closeSync(rootFd);
  for (const fd of dirFds.splice(0)) fs.closeSync(fd);
  rootFd = -1;
  rootPid = pid;
  if (pid !== null) rootFd = nsRoot(pid);
}

/**
 * The root of the mount namespace of `pid`: the names in its /proc/PID/fd, maps and exe links
 * are relative to it (the tool's root is not on their way up), also when the task is chrooted
 * below it; `..` from the task's root climbs to it and stays there.
 */
function nsRoot(pid: number): number {
  let fd = fs.openSync(`/proc/${pid}/root`, O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (let i = 0; i < 4096; i++) {
    const up = fs.openSync(`/proc/self/fd/${fd}/..`, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const [a, b] = [fs.fstatSync(fd, { bigint: true }), fs.fstatSync(up, { bigint: true })];
    fs.closeSync(fd);
    fd = up;
    if (a.dev === b.dev && a.ino === b.ino) break;
  }
  return fd;
}

let mntIds: { pid: number; ids: Set<number> } | undefined;
/** the mount ids of the tree's own mount namespace (null: the tree shares the tool's) */
export function treeMountIds(): Set<number> | null {
  if (rootPid === null) return null;
  if (mntIds?.pid !== rootPid) {
    const ids = new Set<number>();
    for (const l of fs.readFileSync(`/proc/${rootPid}/mountinfo`, 'utf8').split('\n')) if (l) ids.add(Number(l.split(' ', 1)[0]));
    mntIds = { pid: rootPid, ids };
  }
  return mntIds.ids;
}

export function treeRootPid(): number | null {
  return rootPid;
}

/** open(2) of the tree's path `p` (flags and mode as open's; O_CLOEXEC added in the tree); errors carry `.code` as fs's do */
export function openInTree(p: string, flags: number, mode = 0): number {
  if (rootFd < 0) return fs.openSync(p, flags, mode);
  const how = Buffer.alloc(24);
  how.writeBigUInt64LE(BigInt(flags | O_CLOEXEC), 0);
  how.writeBigUInt64LE(BigInt(flags & 0o100 ? mode : 0), 8);
  how.writeBigUInt64LE(RESOLVE_IN_ROOT, 16);
  const r = Number(big(openat2(NR_openat2, rootFd, p, how, 24) as number | bigint));
  if (r < 0) throw new SysError(`openat2 in the root of task ${rootPid}`, koffi.errno(), [p]);
  return r;
}

function statVia(p: string, follow: boolean): fs.BigIntStats {
  if (rootFd < 0) return follow ? fs.statSync(p, { bigint: true }) : fs.lstatSync(p, { bigint: true });
  const fd = openInTree(p, O_PATH | (follow ? 0 : O_NOFOLLOW));
  try {
    return fs.fstatSync(fd, { bigint: true });
  } finally {
    fs.closeSync(fd);
  }
}

/** stat(2) of the tree's path */
export const statInTree = (p: string): fs.BigIntStats => statVia(p, true);
/** lstat(2) of the tree's path */
export const lstatInTree = (p: string): fs.BigIntStats => statVia(p, false);

/** whether the tree's path leads to something */
export function existsInTree(p: string): boolean {
  try {
    statVia(p, false);
    return true;
  } catch {
    return false;
  }
}

/** How a log line or an error names the tree's path. */
export const showTreePath = (p: string): string => (rootPid === null ? p : `${p} (in the root of task ${rootPid})`);

/**
 * A name of the tree's path `p` for the tool's own fs calls (create, link, unlink, mkdir of
 * ghosts and link remaps): its directory resolved in the tree's root (openat2
 * RESOLVE_IN_ROOT), then /proc/self/fd/N/BASENAME, so the last component is acted on as the
 * call does it (O_EXCL, link, mkdir do not follow it). A directory that does not exist gives a
 * name that does not either. Without a tree root: `p` itself.
 */
export function toolPath(p: string): string {
  if (rootFd < 0) return p;
  const norm = path.posix.normalize(p);
  if (norm === '/') return `/proc/self/fd/${rootFd}`;
  let fd: number;
  try {
    fd = openInTree(path.posix.dirname(norm), O_PATH | O_DIRECTORY);
  } catch {
    return `/proc/self/fd/${rootFd}/.criu-no-such-directory/${path.posix.basename(norm)}`;
  }
  dirFds.push(fd);
  return `/proc/self/fd/${fd}/${path.posix.basename(norm)}`;
}

/**
 * bind(2) or connect(2) the unix socket `fd` to the absolute `name` as the tree's mount
 * namespace resolves it: the tool's threads cannot setns there, so the single-threaded mount
 * helper (native/mnt-helper.c `unix`) does it with the socket as its fd 3; after a bind the
 * socket file gets `perms` (host ids). Throws SysError with the errno of the call.
 */
export function unixInTree(fd: number, op: 'bind' | 'connect', name: string, perms?: { mode: number; uid: number; gid: number }): void {
  if (rootPid === null)
    throw new CriuError(`unix socket ${name}: ${op} in the tree's mount namespace asked with no tree root set`, {
      object: name,
      hint: 'this is a bug in the tool: please report it with the -v4 log',
    });
  const cp = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const args = ['unix', String(rootPid), op, name, ...(perms ? [perms.mode.toString(8), String(perms.uid), String(perms.gid)] : [])];
  const r = cp.spawnSync(path.join(nativeDir, 'criu-mnt-helper'), args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
  if (r.status === 0) return;
  const m = /errno (\d+)/.exec(String(r.stderr ?? ''));
  if (m) throw new SysError(op, Number(m[1]), [fd, name]);
  throw new CriuError(
    `unix socket ${name}: ${op} in the tree's mount namespace failed: criu-mnt-helper ${args.join(' ')}: ${r.error?.message ?? (String(r.stderr ?? '').trim() || `exit ${r.status}`)}`,
    { object: name, hint: 'check that native/build/criu-mnt-helper was built (npm run build)' },
  );
}
