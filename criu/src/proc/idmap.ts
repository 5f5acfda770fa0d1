// The uid/gid maps of the tree's user namespace while a tree in one is dumped or restored (set
// by ns/user.ts), and the conversion of ids both ways (CRIU's userns_uid/host_uid): what the
// tool reads from outside (/proc/PID/status, fstat, IPC_STAT, F_GETOWNER_UIDS) are its own ids,
// the images hold them as the namespace sees them. No maps: ids are the tool's, unchanged.
import * as fs from 'node:fs';
import type { UidGidExtent, UsernsEntry } from '../images/index.js';
import { prctl, syscall, errnoName, koffi } from '../sys/libc.js';

const INVALID = 0xffffffff;

export type IdKind = 'uid' | 'gid';

/** the maps of the tree being dumped or restored (none: ids are the tool's own, as in CRIU) */
let active: UsernsEntry | undefined;

export function lookup(map: UidGidExtent[], id: number, from: 'lower_first' | 'first', to: 'lower_first' | 'first'): number | undefined {
  for (const e of map) if (id >= e[from] && id - e[from] < e.count) return e[to] + (id - e[from]);
  return undefined;
}
export const mapOf = (e: UsernsEntry, k: IdKind): UidGidExtent[] => (k === 'uid' ? e.uid_map : e.gid_map) ?? [];
const overflow = (k: IdKind): number => {
  try {
    return Number(fs.readFileSync(`/proc/sys/kernel/overflow${k}`, 'utf8'));
  } catch {
    return 65534;
  }
};

export const ids = {
  /** whether the tree is in a user namespace of its own */
  active: (): boolean => active !== undefined,
  /** a tool's id as the tree's namespace sees it; unmapped: `unmapped` (CRIU's userns_uid gives ~0) */
  toNs(k: IdKind, id: number, unmapped = INVALID): number {
    if (!active) return id;
    return lookup(mapOf(active, k), id >>> 0, 'lower_first', 'first') ?? unmapped;
  },
  /** an id of the tree's namespace as the tool's id (CRIU's host_uid) */
  toHost(k: IdKind, id: number, unmapped = INVALID): number {
    if (!active) return id;
    return lookup(mapOf(active, k), id >>> 0, 'first', 'lower_first') ?? unmapped;
  },
  /** what a task of the namespace reads for an id it cannot map (getresuid, getgroups) */
  overflow,
};

/** the maps in use from now on (undefined: the tree shares the tool's user namespace) */
export function useUserns(e: UsernsEntry | undefined): void {
  active = e;
}

const SECBIT_NO_SETUID_FIXUP = 1 << 2,
  PR_GET_SECUREBITS = 27,
  PR_SET_SECUREBITS = 28;

/**
 * Run fn with this thread's effective uid and gid the host ids of the namespace's root, capabilities
 * kept (SECBIT_NO_SETUID_FIXUP): sysctls of an IPC (or net) namespace owned by the tree's user
 * namespace are writable by that root only (ipc_permissions), and SysV objects it makes are
 * the namespace root's. Raw syscalls: glibc's setresuid would change every thread.
 */
export function asNsRoot<T>(fn: () => T): T {
  if (!ids.active()) return fn();
  const uid = ids.toHost('uid', 0),
    gid = ids.toHost('gid', 0);
  const bits = prctl(PR_GET_SECUREBITS);
  prctl(PR_SET_SECUREBITS, bits | SECBIT_NO_SETUID_FIXUP);
  try {
    syscall('setresgid', -1, gid, -1);
    syscall('setresuid', -1, uid, -1);
    return fn();
  } finally {
    try {
      syscall('setresuid', -1, 0, -1);
      syscall('setresgid', -1, 0, -1);
      prctl(PR_SET_SECUREBITS, bits);
    } catch (err) {
      process.stderr.write(`Error (criu): cannot become root of the host again (${(err as Error).message}, ${errnoName(koffi.errno())}): stopping\n`);
      process.exit(1);
    }
  }
}
