// What the engines see of the plugins: one method per place CRIU calls a plugin hook, and nothing
// else. The CLI (or the Node API) loads the plugins of a run (plugins/), installs them here with
// usePluginCalls() and takes them away at the end; the engines (dump/, restore/, files/) call
// pluginCalls() at CRIU's call points and never import plugins/. With no plugins loaded every
// call is a no-op that answers "not mine", so a run without plugins behaves as before.
// Errors: a hook that fails throws (a CriuError naming the plugin); "not mine" is not an error.

import type { BigIntStats } from 'node:fs';
import { CriuError } from './errors.js';

/** the stat of a mapped device, as HANDLE_DEVICE_VMA gets it (fs.fstatSync(fd, { bigint: true })) */
export type DeviceStat = BigIntStats;

export interface PluginCalls {
  /** PAUSE_DEVICES: a task of the tree, before it is seized (seize.c) */
  pauseDevices(pid: number): void;
  /** CHECKPOINT_DEVICES: each live task, once the whole tree is frozen (seize.c checkpoint_devices) */
  checkpointDevices(pid: number): void;
  /** DUMP_DEVICES_LATE: once, with the root's pid, after every task is dumped (criu-dev cr-dump.c) */
  dumpDevicesLate(rootPid: number): void;
  /** DUMP_EXT_FILE: an fd no kind claims, as an fd of the tool; true when a plugin dumped it */
  dumpExtFile(fd: number, id: number): boolean;
  /** RESTORE_EXT_FILE: the fd (of the tool) a plugin made for the ext file `id` */
  restoreExtFile(id: number): number;
  /** DUMP_UNIX_SK: a unix socket whose peer is outside the tree (fd of the tool on it, its inode); true when a plugin dumped it (sk-unix.c __dump_external_socket) */
  dumpUnixSk(fd: number, ino: number): boolean;
  /** RESTORE_UNIX_SK: the fd (of the tool) a plugin made for the unix socket of inode `ino` it dumped */
  restoreUnixSk(ino: number): number;
  /** DUMP_EXT_MOUNT: a bind mount with no mount of its filesystem in the tree (its path in the tree's view, its mnt_id); true when a plugin takes it (mount.c) */
  dumpExtMount(mountpoint: string, id: number): boolean;
  /** RESTORE_EXT_MOUNT: a plugin mounts what mount `id` was at `mountpoint` (a directory of the tool's namespace) */
  restoreExtMount(id: number, mountpoint: string): void;
  /** DUMP_EXT_LINK: a network link of a kind the tool does not dump; true when a plugin takes it (net.c dump_unknown_device) */
  dumpExtLink(index: number, type: number, kind: string): boolean;
  /** HANDLE_DEVICE_VMA: a mapped character device (fd of the tool on it); true when a plugin takes it */
  handleDeviceVma(fd: number, st: DeviceStat): boolean;
  /** UPDATE_VMA_MAP: a plugin's new pgoff and fd for a VMA_EXT_PLUGIN mapping, or null to map it as dumped */
  updateVmaMap(path: string, addr: bigint, pgoff: bigint): { pgoff: bigint; fd: number } | null;
  /** the names for inventory.img's plugins_entry (add_inventory_plugin at dump) */
  inventoryPlugins(): string[];
  /** POST_FORKING: the restored tree is forked (cr-restore.c restore_root_task) */
  postForking(): void;
  /** RESUME_DEVICES_LATE: each restored task, still traced, right before it is let go; a failure is logged */
  resumeDevicesLate(pid: number): void;
  /** the end of a dump, while the tree is still held: every plugin's exit(stage, ret) (CRIU's cr_plugin_fini before pstree_switch_state); once */
  finish(ret: number): void;
  /** for a refusal: where plugins were looked for ("no plugin is loaded", "plugins of /usr/lib/criu/: a, b") */
  describe(): string;
}

/** No plugins: every hook answers "not mine". */
export const NO_PLUGINS: PluginCalls = {
  pauseDevices: () => {},
  checkpointDevices: () => {},
  dumpDevicesLate: () => {},
  dumpExtFile: () => false,
  restoreExtFile: (id) => {
    throw new CriuError(`no plugin is loaded to restore ext file ${id}`, { hint: 'the images were dumped with a plugin: name its folder with -L DIR' });
  },
  dumpUnixSk: () => false,
  restoreUnixSk: (ino) => {
    throw new CriuError(`no plugin is loaded to restore unix socket ${ino}`, { hint: 'the images were dumped with a plugin: name its folder with -L DIR' });
  },
  dumpExtMount: () => false,
  restoreExtMount: (id) => {
    throw new CriuError(`no plugin is loaded to restore mount ${id}, which a plugin dumped`, {
      hint: 'the images were dumped with a plugin: name its folder with -L DIR',
    });
  },
  dumpExtLink: () => false,
  handleDeviceVma: () => false,
  updateVmaMap: () => null,
  inventoryPlugins: () => [],
  postForking: () => {},
  resumeDevicesLate: () => {},
  finish: () => {},
  describe: () => 'no plugin folder was given (-L/--libdir, $CRIU_LIBS_DIR) and /usr/lib/criu/ does not exist, so no plugin is loaded',
};

let current: PluginCalls = NO_PLUGINS;

/** the plugins of the run under way */
export function pluginCalls(): PluginCalls {
  return current;
}

/** install the plugins of a run (NO_PLUGINS to take them away); returns the previous ones */
export function usePluginCalls(c: PluginCalls): PluginCalls {
  const prev = current;
  current = c;
  return prev;
}
