// /proc/PID/map_files/START-END: the file behind a mapping, reachable even when deleted (memfd,
// unlinked files, shared anonymous memory). Reading it needs CAP_SYS_ADMIN (root here).
import { openSync, constants } from 'node:fs';
import { readProcLink, rethrowGone } from './util.js';

export const mapFileName = (start: bigint, end: bigint): string => `${start.toString(16)}-${end.toString(16)}`;

/** readlink of /proc/PID/map_files/START-END. */
export function readMapFileLink(pid: number, start: bigint, end: bigint): string {
  return readProcLink(pid, `map_files/${mapFileName(start, end)}`);
}

/** Open the object behind a mapping (O_RDONLY by default); returns a new fd of ours (close-on-exec, as node opens every file). */
export function openMapFile(pid: number, start: bigint, end: bigint, flags: number = constants.O_RDONLY): number {
  try {
    return openSync(`/proc/${pid}/map_files/${mapFileName(start, end)}`, flags);
  } catch (e) {
    rethrowGone(e, pid);
  }
}
