// C plugins: libcriu-plugin-host.so (what a plugin calls back into) loaded RTLD_GLOBAL, then each
// plugin's shared object loaded RTLD_LAZY as CRIU loads it, its CR_PLUGIN_DESC read (or, for an
// old-style plugin, a descriptor made from its cr_plugin_* symbols), and its hooks called with
// CRIU's argument types.
import type { BigIntStats } from 'node:fs';
import { koffi } from '../sys/libc.js';
import { CriuError } from '../errors.js';
import { HOOK, HOOK_MAX, HOOK_NAMES, CRIU_PLUGIN_VERSION_OLD, type HookArgs, type HookName, type Stage } from './hooks.js';

type Lib = ReturnType<typeof koffi.load>;
type Fn = unknown; // a native function pointer, as koffi hands it over (an External)

/** what the host library forwards to: set by the plugin set that is running */
export interface HostSink {
  log(level: number, text: string): void;
  addInventoryPlugin(name: string): number;
  checkAndRemoveInventoryPlugin(name: string, n: number): boolean;
}

const LogCb = koffi.proto('void cph_log_cb(unsigned int level, const char *text)');
const AddCb = koffi.proto('int cph_add_cb(const char *name)');
const CheckCb = koffi.proto('int cph_check_cb(const char *name, size_t n)');
const InitFn = koffi.proto('int cr_plugin_init_fn(int stage)');
const ExitFn = koffi.proto('void cr_plugin_exit_fn(int stage, int ret)');
const P = {
  fdId: koffi.proto('int cr_hook_fd_id(int fd, int id)'),
  id: koffi.proto('int cr_hook_id(int id)'),
  idRetry: koffi.proto('int cr_hook_id_retry(int id, uint8_t *retry_needed)'),
  strId: koffi.proto('int cr_hook_str_id(const char *s, int id)'),
  extMount: koffi.proto('int cr_hook_ext_mount(int id, const char *mp, const char *old_root, int *is_file)'),
  extLink: koffi.proto('int cr_hook_ext_link(int index, int type, const char *kind)'),
  devVma: koffi.proto('int cr_hook_dev_vma(int fd, const uint8_t *st)'),
  vmaMap: koffi.proto('int cr_hook_vma_map(const char *path, uint64_t addr, uint64_t old_pgoff, uint64_t *new_pgoff, int *plugin_fd)'),
  pid: koffi.proto('int cr_hook_pid(int pid)'),
  none: koffi.proto('int cr_hook_void(void)'),
};
const DescHead = koffi.struct('cr_plugin_desc_head', { name: 'const char *', init: 'void *', exit: 'void *', version: 'uint', max_hooks: 'uint' });

interface HostLib {
  setLog: (cb: unknown, level: number) => void;
  setLoglevel: (level: number) => void;
  setImageDir: (fd: number) => void;
  setInventory: (add: unknown, check: unknown) => void;
}
let host: HostLib | null = null;
let sink: HostSink | null = null;

/** Load libcriu-plugin-host.so (once, RTLD_GLOBAL: a plugin's undefined symbols resolve there) and route it to `to`. */
export function useHost(path: string, to: HostSink, loglevel: number, imageDirFd: number): void {
  if (!host) {
    let lib: Lib;
    try {
      lib = koffi.load(path, { global: true });
    } catch (e) {
      throw new CriuError(`cannot load the plugin host library ${path}: ${(e as Error).message}`, {
        object: path,
        hint: 'rebuild native/ (make -C native) so that libcriu-plugin-host.so is there',
      });
    }
    const h: HostLib = {
      setLog: lib.func('void cph_set_log(cph_log_cb *cb, unsigned int level)') as HostLib['setLog'],
      setLoglevel: lib.func('void cph_set_loglevel(unsigned int level)') as HostLib['setLoglevel'],
      setImageDir: lib.func('void cph_set_image_dir(int fd)') as HostLib['setImageDir'],
      setInventory: lib.func('void cph_set_inventory(cph_add_cb *add, cph_check_cb *check)') as HostLib['setInventory'],
    };
    // registered once for the life of the process: they read the current sink
    const logCb = koffi.register((level: number, text: string) => sink?.log(level, text), koffi.pointer(LogCb));
    const addCb = koffi.register((name: string) => (sink ? sink.addInventoryPlugin(name) : -1), koffi.pointer(AddCb));
    const checkCb = koffi.register(
      (name: string, n: number | bigint) => (sink ? (sink.checkAndRemoveInventoryPlugin(name, Number(n)) ? 1 : 0) : 1),
      koffi.pointer(CheckCb),
    );
    h.setLog(logCb, loglevel);
    h.setInventory(addCb, checkCb);
    host = h;
  }
  sink = to;
  host.setLoglevel(loglevel);
  host.setImageDir(imageDirFd);
}

export function setHostImageDir(fd: number): void {
  host?.setImageDir(fd);
}

/** A C plugin's descriptor, read from its CR_PLUGIN_DESC (or generated for an old-style plugin). */
export interface CDesc {
  name: string;
  version: number;
  maxHooks: number;
  init: Fn | null;
  exit: Fn | null;
  hooks: (Fn | null)[];
  lib: Lib;
}

/** the function names an old-style plugin exports its hooks under */
const OLD_NAMES: Record<HookName, string> = {
  DUMP_UNIX_SK: 'cr_plugin_dump_unix_sk',
  RESTORE_UNIX_SK: 'cr_plugin_restore_unix_sk',
  DUMP_EXT_FILE: 'cr_plugin_dump_file',
  RESTORE_EXT_FILE: 'cr_plugin_restore_file',
  DUMP_EXT_MOUNT: 'cr_plugin_dump_ext_mount',
  RESTORE_EXT_MOUNT: 'cr_plugin_restore_ext_mount',
  DUMP_EXT_LINK: 'cr_plugin_dump_ext_link',
  HANDLE_DEVICE_VMA: 'cr_plugin_handle_device_vma',
  UPDATE_VMA_MAP: 'cr_plugin_update_vma_map',
  RESUME_DEVICES_LATE: 'cr_plugin_resume_devices_late',
  PAUSE_DEVICES: 'cr_plugin_pause_devices',
  CHECKPOINT_DEVICES: 'cr_plugin_checkpoint_devices',
  POST_FORKING: 'cr_plugin_post_forking',
  RESTORE_INIT: 'cr_plugin_restore_init',
  DUMP_DEVICES_LATE: 'cr_plugin_dump_devices_late',
};

function symbol(lib: Lib, name: string): Fn | null {
  try {
    return lib.symbol(name, 'void') as Fn;
  } catch {
    return null;
  }
}

/** dlopen(path, RTLD_LAZY) and read its descriptor; `old` says the descriptor was generated. */
export function openCPlugin(path: string): { desc: CDesc; old: boolean } {
  let lib: Lib;
  try {
    lib = koffi.load(path, { lazy: true });
  } catch (e) {
    throw new CriuError(`Unable to load ${path}: ${(e as Error).message}`, {
      object: path,
      hint: 'a plugin may call only what criu-plugin.h and criu-log.h declare',
    });
  }
  const d = symbol(lib, 'CR_PLUGIN_DESC');
  if (d) {
    const head = koffi.decode(d, DescHead) as { name: string | null; init: Fn | null; exit: Fn | null; version: number; max_hooks: number };
    const n = Math.min(head.max_hooks, HOOK_MAX);
    const hooks = n ? (koffi.decode(d, koffi.sizeof(DescHead), 'void *', n) as (Fn | null)[]) : [];
    return { desc: { name: head.name ?? path, version: head.version, maxHooks: head.max_hooks, init: head.init, exit: head.exit, hooks, lib }, old: false };
  }
  const hooks = HOOK_NAMES.map((h) => symbol(lib, OLD_NAMES[h]));
  return {
    desc: {
      name: path,
      version: CRIU_PLUGIN_VERSION_OLD,
      maxHooks: HOOK_MAX,
      init: symbol(lib, 'cr_plugin_init'),
      exit: symbol(lib, 'cr_plugin_fini'),
      hooks,
      lib,
    },
    old: true,
  };
}

export function callInit(fn: Fn, stage: Stage): number {
  return koffi.call(fn, InitFn, stage) as number;
}
export function callExit(fn: Fn, stage: Stage, ret: number): void {
  koffi.call(fn, ExitFn, stage, ret);
}

/** Call a C hook with CRIU's argument types; out-parameters are written back into `args`. */
export function callCHook<H extends HookName>(hook: H, fn: Fn, args: HookArgs[H]): number {
  const a = args as HookArgs[HookName] as unknown[];
  const c = (proto: unknown, ...xs: unknown[]): number => koffi.call(fn, proto as never, ...xs) as number;
  switch (HOOK[hook]) {
    case HOOK.DUMP_UNIX_SK:
    case HOOK.DUMP_EXT_FILE:
      return c(P.fdId, a[0], a[1]);
    case HOOK.RESTORE_UNIX_SK:
    case HOOK.DUMP_DEVICES_LATE:
      return c(P.id, a[0]);
    case HOOK.RESTORE_EXT_FILE:
      return c(P.idRetry, a[0], Buffer.alloc(8));
    case HOOK.DUMP_EXT_MOUNT:
      return c(P.strId, a[0], a[1]);
    case HOOK.RESTORE_EXT_MOUNT: {
      const [id, mp, oldRoot, isFile] = args as HookArgs['RESTORE_EXT_MOUNT'];
      const b = isFile ? Buffer.alloc(4) : null;
      if (b && isFile) b.writeInt32LE(isFile.value, 0);
      const r = c(P.extMount, id, mp, oldRoot, b);
      if (b && isFile) isFile.value = b.readInt32LE(0);
      return r;
    }
    case HOOK.DUMP_EXT_LINK:
      return c(P.extLink, a[0], a[1], a[2]);
    case HOOK.HANDLE_DEVICE_VMA:
      return c(P.devVma, a[0], encodeStat(a[1] as BigIntStats));
    case HOOK.UPDATE_VMA_MAP: {
      const [path, addr, oldPgoff, out] = args as HookArgs['UPDATE_VMA_MAP'];
      const pg = Buffer.alloc(8),
        fd = Buffer.alloc(4);
      pg.writeBigUInt64LE(out.newPgoff, 0);
      fd.writeInt32LE(out.pluginFd, 0);
      const r = c(P.vmaMap, path, addr, oldPgoff, pg, fd);
      out.newPgoff = pg.readBigUInt64LE(0);
      out.pluginFd = fd.readInt32LE(0);
      return r;
    }
    case HOOK.RESUME_DEVICES_LATE:
    case HOOK.PAUSE_DEVICES:
    case HOOK.CHECKPOINT_DEVICES:
      return c(P.pid, a[0]);
    case HOOK.POST_FORKING:
    case HOOK.RESTORE_INIT:
      return c(P.none);
  }
  throw new CriuError(`no such plugin hook ${String(hook)}`);
}

/** struct stat as the kernel's stat() fills it on this architecture, for HANDLE_DEVICE_VMA */
export function encodeStat(st: BigIntStats): Buffer {
  const ts = (b: Buffer, off: number, ns: bigint): void => {
    b.writeBigInt64LE(ns / 1_000_000_000n, off);
    b.writeBigInt64LE(ns % 1_000_000_000n, off + 8);
  };
  if (process.arch === 'x64') {
    const b = Buffer.alloc(144);
    b.writeBigUInt64LE(st.dev, 0);
    b.writeBigUInt64LE(st.ino, 8);
    b.writeBigUInt64LE(st.nlink, 16);
    b.writeUInt32LE(Number(st.mode), 24);
    b.writeUInt32LE(Number(st.uid), 28);
    b.writeUInt32LE(Number(st.gid), 32);
    b.writeBigUInt64LE(st.rdev, 40);
    b.writeBigInt64LE(st.size, 48);
    b.writeBigInt64LE(st.blksize, 56);
    b.writeBigInt64LE(st.blocks, 64);
    ts(b, 72, st.atimeNs);
    ts(b, 88, st.mtimeNs);
    ts(b, 104, st.ctimeNs);
    return b;
  }
  // the generic layout (aarch64, riscv64 …)
  const b = Buffer.alloc(128);
  b.writeBigUInt64LE(st.dev, 0);
  b.writeBigUInt64LE(st.ino, 8);
  b.writeUInt32LE(Number(st.mode), 16);
  b.writeUInt32LE(Number(st.nlink), 20);
  b.writeUInt32LE(Number(st.uid), 24);
  b.writeUInt32LE(Number(st.gid), 28);
  b.writeBigUInt64LE(st.rdev, 32);
  b.writeBigInt64LE(st.size, 48);
  b.writeInt32LE(Number(st.blksize), 56);
  b.writeBigInt64LE(st.blocks, 64);
  ts(b, 72, st.atimeNs);
  ts(b, 88, st.mtimeNs);
  ts(b, 104, st.ctimeNs);
  return b;
}

export function unloadCPlugin(desc: CDesc): void {
  try {
    desc.lib.unload();
  } catch {
    /* already gone */
  }
}
