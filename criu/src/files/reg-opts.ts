// The command line's options for regular files, devices and their remaps, set once by the dump
// engine when it starts (dump/dump.ts; the restore's --skip-file-rwx-check by restore/restore.ts), read by reg.ts, ghost.ts, link-remap.ts and
// chardev.ts: --link-remap, --evasive-devices, --ghost-limit, -R (link remaps are removed again
// when the tree runs on, as CRIU's cr_dump_finish does) and the `--external file[…]` keys.

export interface RegDumpOptions {
  /** --link-remap: a file whose name is gone but that has other links gets a link_remap.N name */
  linkRemap: boolean;
  /** --evasive-devices: a device node replaced at its path by one of the same rdev is used as it is */
  evasiveDevices: boolean;
  /** --ghost-limit, in bytes on disk */
  ghostLimit: number;
  /** -R: the tree runs on after the dump */
  leaveRunning: boolean;
  /** the `file[MNT_ID:INODE]` keys of --external (CRIU's external_lookup_id) */
  externalFiles: ReadonlySet<string>;
}

export const DEFAULT_GHOST_LIMIT = 1 << 20;

const defaults = (): RegDumpOptions => ({
  linkRemap: false,
  evasiveDevices: false,
  ghostLimit: DEFAULT_GHOST_LIMIT,
  leaveRunning: false,
  externalFiles: new Set(),
});

let current = defaults();

/** Set for one dump (what is not given takes its default). */
export function setRegDumpOptions(o: Partial<RegDumpOptions>): void {
  current = { ...defaults(), ...o };
}

export function regDumpOptions(): RegDumpOptions {
  return current;
}

/** The restore's: --skip-file-rwx-check (CRIU's open_path then compares the file type bits only). */
export interface RegRestoreOptions {
  skipFileRwxCheck: boolean;
}
let restoreCurrent: RegRestoreOptions = { skipFileRwxCheck: false };
export function setRegRestoreOptions(o: Partial<RegRestoreOptions>): void {
  restoreCurrent = { skipFileRwxCheck: false, ...o };
}
export function regRestoreOptions(): RegRestoreOptions {
  return restoreCurrent;
}
