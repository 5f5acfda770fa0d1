// The plugins of one dump or restore as the engines see them (hooks.ts's PluginCalls): each call
// point runs its hook through Plugins.dispatch and turns the answer into what the engine needs,
// with CRIU's rules for what is an error (a negative answer other than -ENOTSUP) and what is
// "not mine". startPlugins() is what the CLI runs at the start of `criu dump` / `criu restore`:
// the folder's plugins and the built-in CUDA plugin loaded, init(stage) run, the images directory
// handed over (criu_get_image_dir), and the set installed for the engines.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { usePluginCalls, NO_PLUGINS, type DeviceStat, type PluginCalls } from '../hooks.js';
import { readOne } from '../images/typed.js';
import type { InventoryEntry } from '../images/gen/types.js';
import { PTRACE_O } from '../ptrace/consts.js';
import { ENOTSUP, loadPlugins, pluginDir, type Plugins } from './plugins.js';
import { STAGE, type HookName, type Stage, type VmaMapOut } from './hooks.js';
import { cudaPlugin, ptraceRestoreThread } from './cuda.js';

/** the options restore/state.ts gives the restored threads */
const RESTORE_PTRACE_O = PTRACE_O.EXITKILL | PTRACE_O.TRACESYSGOOD | PTRACE_O.TRACECLONE | PTRACE_O.TRACEFORK | PTRACE_O.SUSPEND_SECCOMP;

const failed = (ret: number): boolean => ret < 0 && ret !== -ENOTSUP;

/** PluginCalls over one loaded plugin set. */
export class PluginSet implements PluginCalls {
  private dirFd = -1;
  constructor(
    readonly set: Plugins,
    private readonly searched: string,
  ) {}

  /** the images directory: its fd is what criu_get_image_dir() answers */
  openImageDir(dir: string): void {
    try {
      this.dirFd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    } catch (e) {
      throw new CriuError(`cannot open the images directory ${dir} for the plugins: ${(e as Error).message}`, { object: dir });
    }
    this.set.setImageDir(dir, this.dirFd);
  }

  private must(hook: HookName, who: string, r: { ret: number; plugin: string | null }): void {
    if (failed(r.ret))
      throw new CriuError(`${who}: plugin ${r.plugin}: its ${hook} hook failed (${r.ret})`, { hint: "see the plugin's messages above in the log" });
  }

  pauseDevices(pid: number): void {
    this.must('PAUSE_DEVICES', `task ${pid}`, this.set.dispatch('PAUSE_DEVICES', pid));
  }
  checkpointDevices(pid: number): void {
    this.must('CHECKPOINT_DEVICES', `task ${pid}`, this.set.dispatch('CHECKPOINT_DEVICES', pid));
  }
  dumpDevicesLate(rootPid: number): void {
    this.must('DUMP_DEVICES_LATE', `task ${rootPid}`, this.set.dispatch('DUMP_DEVICES_LATE', rootPid));
  }
  dumpExtFile(fd: number, id: number): boolean {
    const r = this.set.dispatch('DUMP_EXT_FILE', fd, id);
    this.must('DUMP_EXT_FILE', `file id ${id}`, r);
    if (r.ret >= 0) log.debug(`file id ${id}: dumped by plugin ${r.plugin}`);
    return r.ret >= 0;
  }
  restoreExtFile(id: number): number {
    const r = this.set.dispatch('RESTORE_EXT_FILE', id);
    if (r.ret < 0)
      throw new CriuError(`Unable to restore ext file 0x${id.toString(16)}: ${r.plugin ? `plugin ${r.plugin} answered ${r.ret}` : 'no plugin restores it'}`, {
        object: `files.img entry ${id}`,
        hint: r.plugin ? "see the plugin's messages above in the log" : `the images were dumped with a plugin; ${this.describe()}`,
      });
    return r.ret;
  }
  dumpUnixSk(fd: number, ino: number): boolean {
    const r = this.set.dispatch('DUMP_UNIX_SK', fd, ino);
    this.must('DUMP_UNIX_SK', `unix socket ${ino}`, r);
    if (r.ret === 0) log.debug(`unix socket ${ino}: dumped by plugin ${r.plugin}`);
    return r.ret === 0;
  }
  restoreUnixSk(ino: number): number {
    const r = this.set.dispatch('RESTORE_UNIX_SK', ino);
    if (r.ret < 0)
      throw new CriuError(`unix socket ${ino}: ${r.plugin ? `plugin ${r.plugin} answered ${r.ret}` : 'no plugin restores it'}`, {
        object: `socket:[${ino}]`,
        hint: r.plugin ? "see the plugin's messages above in the log" : `the images were dumped with a plugin (USK_CALLBACK); ${this.describe()}`,
      });
    return r.ret;
  }
  dumpExtMount(mountpoint: string, id: number): boolean {
    const r = this.set.dispatch('DUMP_EXT_MOUNT', mountpoint, id);
    this.must('DUMP_EXT_MOUNT', `mount ${id} at ${mountpoint}`, r);
    if (r.ret === 0) log.debug(`mount ${id} at ${mountpoint}: dumped by plugin ${r.plugin}`);
    return r.ret === 0;
  }
  restoreExtMount(id: number, mountpoint: string): void {
    const r = this.set.dispatch('RESTORE_EXT_MOUNT', id, mountpoint, '/', null);
    if (r.ret !== 0)
      throw new CriuError(`Can't restore ext mount ${id} (${r.ret}): ${r.plugin ? `plugin ${r.plugin} answered ${r.ret}` : 'no plugin restores it'}`, {
        object: `mount ${id}`,
        hint: r.plugin ? "see the plugin's messages above in the log" : `the images were dumped with a plugin (with_plugin); ${this.describe()}`,
      });
  }
  dumpExtLink(index: number, type: number, kind: string): boolean {
    const r = this.set.dispatch('DUMP_EXT_LINK', index, type, kind);
    this.must('DUMP_EXT_LINK', `link ${index} (${kind})`, r);
    if (r.ret === 0) log.debug(`link ${index} (type ${type} kind ${kind}): dumped by plugin ${r.plugin}`);
    return r.ret === 0;
  }
  handleDeviceVma(fd: number, st: DeviceStat): boolean {
    const r = this.set.dispatch('HANDLE_DEVICE_VMA', fd, st);
    return r.ret >= 0;
  }
  updateVmaMap(file: string, addr: bigint, pgoff: bigint): { pgoff: bigint; fd: number } | null {
    const out: VmaMapOut = { newPgoff: pgoff, pluginFd: -1 };
    const r = this.set.dispatch('UPDATE_VMA_MAP', file, addr, pgoff, out);
    if (r.ret !== 1 && out.pluginFd < 0) return null;
    return { pgoff: r.ret === 1 ? out.newPgoff : pgoff, fd: out.pluginFd };
  }
  inventoryPlugins(): string[] {
    return this.set.inventoryPlugins();
  }
  postForking(): void {
    this.must('POST_FORKING', 'the restored tree', this.set.dispatch('POST_FORKING'));
  }
  resumeDevicesLate(pid: number): void {
    const r = this.set.dispatch('RESUME_DEVICES_LATE', pid);
    // CRIU only notes it: the plugin has said what went wrong
    if (failed(r.ret)) log.warn(`task ${pid}: plugin ${r.plugin}: RESUME_DEVICES_LATE failed (${r.ret})`);
  }
  finish(ret: number): void {
    this.set.fini(ret);
    if (this.dirFd >= 0) fs.closeSync(this.dirFd);
    this.dirFd = -1;
  }
  describe(): string {
    const names = this.set.list.filter((p) => !p.path.startsWith('(built-in)')).map((p) => p.name);
    if (!this.set.dir) return this.searched;
    return `${this.searched}: ${names.length ? `${names.join(', ')} loaded, none of them took it` : 'no plugin there'}`;
  }
}

export interface StartOptions {
  stage: Stage;
  libdir?: string | null;
  imagesDir: string;
  timeoutS?: number;
  leaveRunning?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** the inventory of the images, read before anything else at restore (its plugins_entry) */
function readInventory(imagesDir: string): InventoryEntry | null {
  const f = path.join(imagesDir, 'inventory.img');
  return fs.existsSync(f) ? readOne(f, 'INVENTORY') : null;
}

/** Load the run's plugins (init(stage) for each), install them for the engines. */
export async function startPlugins(o: StartOptions): Promise<PluginSet> {
  const env = o.env ?? process.env;
  if (o.stage === STAGE.DUMP) fs.mkdirSync(o.imagesDir, { recursive: true });
  const where = pluginDir(o.libdir, env);
  const searched = where
    ? `plugins were looked for in ${where.dir} (from ${where.from === 'option' ? '-L/--libdir' : where.from === 'env' ? '$CRIU_LIBS_DIR' : 'the default folder'})`
    : 'no plugin folder was given (-L/--libdir, $CRIU_LIBS_DIR) and /usr/lib/criu/ does not exist, so no plugin is loaded';
  const set = await loadPlugins({
    stage: o.stage,
    libdir: o.libdir,
    env,
    imageDir: o.imagesDir,
    inventory: o.stage === STAGE.RESTORE ? readInventory(o.imagesDir) : null,
    options: { timeout: o.timeoutS ?? 10, leaveRunning: o.leaveRunning ?? false },
    builtin: [cudaPlugin({ env, threads: ptraceRestoreThread(o.stage === STAGE.DUMP ? PTRACE_O.SUSPEND_SECCOMP : RESTORE_PTRACE_O) })],
  });
  const calls = new PluginSet(set, searched);
  try {
    calls.openImageDir(o.imagesDir);
  } catch (e) {
    calls.finish(-1);
    throw e;
  }
  usePluginCalls(calls);
  return calls;
}

/** The end of the run: exit(stage, ret) of every plugin (if the engine has not run it already), and the engines see no plugins again. */
export function stopPlugins(calls: PluginSet, ret: number): void {
  calls.finish(ret);
  usePluginCalls(NO_PLUGINS);
}
