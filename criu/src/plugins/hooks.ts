// CRIU's plugin interface in TypeScript terms: the stages, the hooks by number (CRIU's
// criu-plugin.h, with the development branch's RESTORE_INIT and DUMP_DEVICES_LATE), each hook's
// arguments, and the descriptor a TypeScript plugin exports. A C plugin's descriptor is read into
// the same shape (native.ts), so the dispatch (plugins.ts) does not care which kind answered.
import type { BigIntStats } from 'node:fs';
import type { log } from '../log.js';
import type * as typedImages from '../images/typed.js';
import type * as rawImages from '../images/image.js';
import type * as libc from '../sys/libc.js';

/** CRIU_PLUGIN_GEN_VERSION(0, 2, 0): the newest descriptor version accepted */
export const CRIU_PLUGIN_VERSION = (0 << 16) + (2 << 8) + 0;
/** what a descriptor generated for an old-style plugin (cr_plugin_init/cr_plugin_fini) carries */
export const CRIU_PLUGIN_VERSION_OLD = (0 << 16) + (1 << 8) + 0;

export const STAGE = { DUMP: 0, PRE_DUMP: 1, RESTORE: 2 } as const;
export type Stage = (typeof STAGE)[keyof typeof STAGE];
export const stageName = (s: Stage): string => ['dump', 'pre-dump', 'restore'][s];

/** the hook numbers, the index into the descriptor's hooks[] */
export const HOOK = {
  DUMP_UNIX_SK: 0,
  RESTORE_UNIX_SK: 1,
  DUMP_EXT_FILE: 2,
  RESTORE_EXT_FILE: 3,
  DUMP_EXT_MOUNT: 4,
  RESTORE_EXT_MOUNT: 5,
  DUMP_EXT_LINK: 6,
  HANDLE_DEVICE_VMA: 7,
  UPDATE_VMA_MAP: 8,
  RESUME_DEVICES_LATE: 9,
  PAUSE_DEVICES: 10,
  CHECKPOINT_DEVICES: 11,
  POST_FORKING: 12,
  RESTORE_INIT: 13,
  DUMP_DEVICES_LATE: 14,
} as const;
export type HookName = keyof typeof HOOK;
/** CR_PLUGIN_HOOK__MAX */
export const HOOK_MAX = 15;
export const HOOK_NAMES = Object.keys(HOOK) as HookName[];

/** UPDATE_VMA_MAP's two out-parameters */
export interface VmaMapOut {
  newPgoff: bigint;
  pluginFd: number;
}
/** RESTORE_EXT_MOUNT's is_file out-parameter (CRIU passes none: null) */
export interface IsFileOut {
  value: number;
}

/** each hook's arguments; every hook answers a number: 0 done (or an fd), -errno, -ENOTSUP "not mine" */
export interface HookArgs {
  DUMP_UNIX_SK: [fd: number, id: number];
  RESTORE_UNIX_SK: [id: number];
  DUMP_EXT_FILE: [fd: number, id: number];
  RESTORE_EXT_FILE: [id: number];
  DUMP_EXT_MOUNT: [mountpoint: string, id: number];
  RESTORE_EXT_MOUNT: [id: number, mountpoint: string, oldRoot: string, isFile: IsFileOut | null];
  DUMP_EXT_LINK: [index: number, type: number, kind: string];
  HANDLE_DEVICE_VMA: [fd: number, stat: BigIntStats];
  UPDATE_VMA_MAP: [path: string, addr: bigint, oldPgoff: bigint, out: VmaMapOut];
  RESUME_DEVICES_LATE: [pid: number];
  PAUSE_DEVICES: [pid: number];
  CHECKPOINT_DEVICES: [pid: number];
  POST_FORKING: [];
  RESTORE_INIT: [];
  DUMP_DEVICES_LATE: [id: number];
}
export type HookFn<H extends HookName> = (...args: HookArgs[H]) => number;

/** the method name a TypeScript plugin gives each hook */
export const TS_HOOK_METHOD = {
  DUMP_UNIX_SK: 'dumpUnixSk',
  RESTORE_UNIX_SK: 'restoreUnixSk',
  DUMP_EXT_FILE: 'dumpExtFile',
  RESTORE_EXT_FILE: 'restoreExtFile',
  DUMP_EXT_MOUNT: 'dumpExtMount',
  RESTORE_EXT_MOUNT: 'restoreExtMount',
  DUMP_EXT_LINK: 'dumpExtLink',
  HANDLE_DEVICE_VMA: 'handleDeviceVma',
  UPDATE_VMA_MAP: 'updateVmaMap',
  RESUME_DEVICES_LATE: 'resumeDevicesLate',
  PAUSE_DEVICES: 'pauseDevices',
  CHECKPOINT_DEVICES: 'checkpointDevices',
  POST_FORKING: 'postForking',
  RESTORE_INIT: 'restoreInit',
  DUMP_DEVICES_LATE: 'dumpDevicesLate',
} as const satisfies Record<HookName, string>;

export type TsHooks = { [H in HookName as (typeof TS_HOOK_METHOD)[H]]?: HookFn<H> };

/** What the tool gives a TypeScript plugin (a C plugin reaches the same through libcriu-plugin-host.so). */
export interface PluginHost {
  readonly stage: Stage;
  /** the images directory (-D), once known; null before */
  readonly imageDir: string | null;
  /** an fd of it (criu_get_image_dir()), -1 before */
  readonly imageDirFd: number;
  /** the tool's log (pr_info … : log.info …) */
  readonly log: typeof log;
  /** the typed image readers/writers, and the raw image API, for images of the plugin's own */
  readonly images: { typed: typeof typedImages; raw: typeof rawImages };
  /** the tool's system calls (syscall, kcmp, perfEventOpen, pidfdGetfd …), what a C plugin has in libc */
  readonly sys: typeof libc;
  /** the run's options a plugin may need (CRIU's opts.timeout, opts.final_state) */
  readonly options: PluginRunOptions;
  /** add_inventory_plugin(): record NAME in inventory.img's plugins_entry (dump) */
  addInventoryPlugin(name: string): number;
  /** check_and_remove_inventory_plugin(): whether the images need NAME (restore, from init) */
  checkAndRemoveInventoryPlugin(name: string): boolean;
  /** set_compel_interrupt_only_mode(): ask the dump to freeze by PTRACE_INTERRUPT only, not by the cgroup freezer */
  setInterruptOnlyMode(): void;
}

export interface PluginRunOptions {
  /** --timeout in seconds (CRIU's default 10) */
  timeout: number;
  /** -R/--leave-running: the dumped tree goes on running */
  leaveRunning: boolean;
}

/** What a TypeScript plugin module exports (as `default` or as `CR_PLUGIN_DESC`). */
export interface TsPluginDesc extends TsHooks {
  name: string;
  /** CRIU_PLUGIN_VERSION it was written for (default: the current one) */
  version?: number;
  /** runs before any hook; non-zero refuses the run ("Failed in init") */
  init?(stage: Stage, host: PluginHost): number | void;
  /** runs at the end; ret non-zero when the run failed */
  exit?(stage: Stage, ret: number): void;
}
