// The plugin set of one run, as CRIU's plugin.c runs it: one folder (pluginDir()), every `*.so`
// in it a C plugin and every `*.mjs`/`*.js` a TypeScript one, loaded in name order; each
// descriptor's version checked, its init(stage) run right after it is loaded (before any of its
// hooks), its hooks chained; at restore the inventory's required plugins checked and
// RESTORE_INIT run. run(HOOK, …) asks the plugins with that hook in load order, a -ENOTSUP
// passing to the next; fini(ret) runs every exit(stage, ret), also when the run failed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { log } from '../log.js';
import { CriuError, describe } from '../errors.js';
import { defaultPluginDir, pluginHostLib } from '../paths.js';
import * as typedImages from '../images/typed.js';
import * as rawImages from '../images/image.js';
import * as libc from '../sys/libc.js';
import type { InventoryEntry } from '../images/gen/types.js';
import {
  CRIU_PLUGIN_VERSION,
  CRIU_PLUGIN_VERSION_OLD,
  HOOK,
  HOOK_MAX,
  HOOK_NAMES,
  TS_HOOK_METHOD,
  stageName,
  type HookArgs,
  type HookName,
  type PluginHost,
  type PluginRunOptions,
  type Stage,
  type TsPluginDesc,
} from './hooks.js';
import { InventoryPlugins } from './inventory.js';
import { callCHook, callExit, callInit, openCPlugin, setHostImageDir, unloadCPlugin, useHost, type CDesc, type HostSink } from './native.js';

export const ENOTSUP = 95;

/** Where the plugins come from: -L/--libdir, else $CRIU_LIBS_DIR, else /usr/lib/criu/ when it exists (else none). */
export function pluginDir(
  libdir: string | null | undefined,
  env: NodeJS.ProcessEnv = process.env,
  dflt = defaultPluginDir,
): { dir: string; from: 'option' | 'env' | 'default' } | null {
  if (libdir) return { dir: libdir, from: 'option' };
  if (env.CRIU_LIBS_DIR) return { dir: env.CRIU_LIBS_DIR, from: 'env' };
  return fs.existsSync(dflt) ? { dir: dflt, from: 'default' } : null;
}

export interface LoadOptions {
  stage: Stage;
  /** the -L/--libdir value */
  libdir?: string | null;
  env?: NodeJS.ProcessEnv;
  /** CR_PLUGIN_DEFAULT (tests) */
  defaultDir?: string;
  /** libcriu-plugin-host.so (tests load it from the repository) */
  hostLib?: string;
  imageDir?: string | null;
  /** at restore: the images' inventory (plugins_entry), read before the plugins are loaded */
  inventory?: InventoryEntry | null;
  options?: Partial<PluginRunOptions>;
  /** TypeScript plugins of the tool itself, loaded after the folder's */
  builtin?: TsPluginDesc[];
}

type AnyHook = (...args: HookArgs[HookName]) => number;
interface Loaded {
  name: string;
  path: string;
  kind: 'c' | 'ts';
  version: number;
  hooks: (AnyHook | null)[];
  exit: ((ret: number) => void) | null;
  unload(): void;
}

/** The plugins of one run. Made by loadPlugins(). */
export class Plugins implements PluginHost {
  readonly list: Loaded[] = [];
  readonly inventory: InventoryPlugins;
  readonly log = log;
  readonly images = { typed: typedImages, raw: rawImages };
  readonly sys = libc;
  readonly options: PluginRunOptions;
  imageDir: string | null = null;
  imageDirFd = -1;
  interruptOnly = false;
  private finished = false;

  constructor(
    readonly stage: Stage,
    readonly dir: string | null,
    o: LoadOptions,
  ) {
    this.inventory = o.stage === 2 ? InventoryPlugins.fromInventory(o.inventory) : new InventoryPlugins();
    this.options = { timeout: o.options?.timeout ?? 10, leaveRunning: o.options?.leaveRunning ?? false };
  }

  addInventoryPlugin(name: string): number {
    return this.inventory.add(name);
  }
  checkAndRemoveInventoryPlugin(name: string, n?: number): boolean {
    return this.inventory.checkAndRemove(name, n);
  }
  setInterruptOnlyMode(): void {
    this.interruptOnly = true;
  }

  /** where libcriu-plugin-host.so sends a C plugin's calls */
  hostSink(): HostSink {
    return {
      log: (level, text) => log.print(level, text.endsWith('\n') ? text.slice(0, -1) : text),
      addInventoryPlugin: (name) => this.addInventoryPlugin(name),
      checkAndRemoveInventoryPlugin: (name, n) => this.checkAndRemoveInventoryPlugin(name, n),
    };
  }

  /** the images directory, once open (criu_get_image_dir() answers its fd) */
  setImageDir(dir: string, fd: number): void {
    this.imageDir = dir;
    this.imageDirFd = fd;
    setHostImageDir(fd);
  }

  /** whether some plugin has this hook */
  has(hook: HookName): boolean {
    return this.list.some((p) => p.hooks[HOOK[hook]]);
  }

  /** run_plugins(): the first answer that is not -ENOTSUP, and who gave it; -ENOTSUP when no plugin took it */
  dispatch<H extends HookName>(hook: H, ...args: HookArgs[H]): { ret: number; plugin: string | null } {
    for (const p of this.list) {
      const fn = p.hooks[HOOK[hook]];
      if (!fn) continue;
      log.debug(`plugin: \`${p.name}' hook ${HOOK[hook]} (${hook})`);
      let ret: number;
      try {
        ret = fn(...args);
      } catch (e) {
        throw new CriuError(`plugin ${p.name}: its ${hook} hook failed: ${describe(e)}`, {
          object: p.path,
          hint: "see the plugin's messages above in the log",
        });
      }
      if (ret === -ENOTSUP) continue;
      return { ret, plugin: p.name };
    }
    return { ret: -ENOTSUP, plugin: null };
  }

  run<H extends HookName>(hook: H, ...args: HookArgs[H]): number {
    return this.dispatch(hook, ...args).ret;
  }

  /** inventory.img's plugins_entry.plugins at the end of a dump */
  inventoryPlugins(): string[] {
    return this.inventory.list();
  }

  /** cr_plugin_fini(): every plugin's exit(stage, ret) in load order, then unloaded. Once. */
  fini(ret: number): void {
    if (this.finished) return;
    this.finished = true;
    for (const p of this.list.splice(0)) {
      try {
        p.exit?.(ret);
      } catch (e) {
        log.error(`plugin ${p.name}: exit(${this.stage}, ${ret}) failed: ${describe(e)}`);
      }
      p.unload();
    }
  }

  /** load one file of the folder: init(stage), then its hooks chained (cr_lib_load) */
  add(p: Loaded, init: (() => number) | null): void {
    if (p.version > CRIU_PLUGIN_VERSION)
      throw new CriuError(
        `Corrupted plugin ${p.path}: its version 0x${p.version.toString(16)} is newer than 0x${CRIU_PLUGIN_VERSION.toString(16)}, the newest criu-ts knows`,
        { object: p.path, hint: "build the plugin against criu-ts's include/criu headers or CRIU 4.2's" },
      );
    log.debug(`Plugin "${p.name}" (version ${p.version} hooks ${p.hooks.length})`);
    p.hooks.forEach((h, i) => {
      if (h) log.debug(`\t${String(i).padStart(4)} -> ${HOOK_NAMES[i]}`);
    });
    let r: number;
    try {
      r = init ? init() : 0;
    } catch (e) {
      p.unload();
      throw new CriuError(`Failed in init(${this.stage}) of "${p.name}": ${describe(e)}`, { object: p.path });
    }
    if (r) {
      p.unload();
      throw new CriuError(`Failed in init(${this.stage}) of "${p.name}" (it answered ${r})`, {
        object: p.path,
        hint: "see the plugin's messages above in the log, or take it out of the plugin folder",
      });
    }
    this.list.push(p);
  }
}

function fromC(file: string, desc: CDesc, stage: Stage): Loaded {
  if (desc.maxHooks > HOOK_MAX) {
    unloadCPlugin(desc);
    throw new CriuError(`Corrupted plugin ${file}: it has ${desc.maxHooks} hooks, criu-ts knows ${HOOK_MAX}`, { object: file });
  }
  const hooks: (AnyHook | null)[] = new Array<AnyHook | null>(HOOK_MAX).fill(null);
  desc.hooks.forEach((fn, i) => {
    if (fn) hooks[i] = (...args) => callCHook(HOOK_NAMES[i], fn, args);
  });
  const exit = desc.exit;
  return {
    name: desc.name,
    path: file,
    kind: 'c',
    version: desc.version,
    hooks,
    exit: exit ? (ret) => callExit(exit, stage, ret) : null,
    unload: () => unloadCPlugin(desc),
  };
}

function fromTs(file: string, d: TsPluginDesc, stage: Stage): Loaded {
  const hooks: (AnyHook | null)[] = HOOK_NAMES.map((h) => {
    const fn: unknown = d[TS_HOOK_METHOD[h]];
    if (fn === undefined) return null;
    if (typeof fn !== 'function') throw new CriuError(`plugin ${d.name} (${file}): ${TS_HOOK_METHOD[h]} is not a function`, { object: file });
    return (...args: HookArgs[HookName]) => (fn as AnyHook).apply(d, args);
  });
  return {
    name: d.name,
    path: file,
    kind: 'ts',
    version: d.version ?? CRIU_PLUGIN_VERSION,
    hooks,
    exit: d.exit ? (ret) => d.exit?.(stage, ret) : null,
    unload: () => {},
  };
}

/** the descriptor a TypeScript plugin module exports (default, or CR_PLUGIN_DESC) */
async function importTs(file: string): Promise<TsPluginDesc> {
  let mod: { default?: unknown; CR_PLUGIN_DESC?: unknown };
  try {
    const url = pathToFileURL(file).href;
    // the bundled CLI runs as a vm.Script, which has no import() of its own: criu-boot.cjs lends its one
    const lent = (globalThis as Record<symbol, unknown>)[Symbol.for('criu-ts.import')] as ((u: string) => Promise<unknown>) | undefined;
    mod = (await (lent ? lent(url) : import(url))) as typeof mod;
  } catch (e) {
    throw new CriuError(`Unable to load ${file}: ${describe(e)}`, { object: file });
  }
  const d = (mod.CR_PLUGIN_DESC ?? mod.default) as Partial<TsPluginDesc> | undefined;
  if (!d || typeof d !== 'object' || typeof d.name !== 'string' || !d.name) {
    throw new CriuError(`Can't load plugin ${file}: it exports no plugin descriptor (a default or CR_PLUGIN_DESC export with a name)`, { object: file });
  }
  return d as TsPluginDesc;
}

const isC = (f: string): boolean => f.length >= 3 && f.endsWith('.so');
const isTs = (f: string): boolean => f.endsWith('.mjs') || f.endsWith('.js');

async function loadOne(set: Plugins, file: string, stage: Stage): Promise<void> {
  if (isC(file)) {
    const { desc, old } = openCPlugin(file);
    if (old) log.warn(`Generating dynamic descriptor for plugin \`${file}'. Won't work in next version of the program. Please update your plugin.`);
    const init = desc.init;
    set.add(fromC(file, desc, stage), init ? () => callInit(init, stage) : null);
    return;
  }
  const d = await importTs(file);
  set.add(fromTs(file, d, stage), d.init ? () => d.init?.call(d, stage, set) ?? 0 : null);
}

/**
 * cr_plugin_init(): load the folder's plugins (and the tool's built-in ones) for a stage. A
 * failure (a plugin that does not load, an init that refuses, a missing required plugin) runs
 * exit(stage, -1) of those already loaded and throws.
 */
export async function loadPlugins(o: LoadOptions): Promise<Plugins> {
  const where = pluginDir(o.libdir, o.env ?? process.env, o.defaultDir ?? defaultPluginDir);
  const set = new Plugins(o.stage, where?.dir ?? null, o);
  if (o.imageDir) set.imageDir = o.imageDir;
  let files: string[] = [];
  if (where) {
    try {
      files = fs
        .readdirSync(where.dir)
        .filter((f) => isC(f) || isTs(f))
        .sort()
        .map((f) => path.join(where.dir, f));
    } catch (e) {
      throw new CriuError(`Unable to open directory ${where.dir}: ${describe(e)}`, {
        object: where.dir,
        hint: `the plugin folder comes from ${where.from === 'option' ? '-L/--libdir' : where.from === 'env' ? '$CRIU_LIBS_DIR' : 'the default'}`,
      });
    }
  }
  if (files.some(isC)) useHost(o.hostLib ?? pluginHostLib, set.hostSink(), log.level, -1);
  try {
    for (const f of files) await loadOne(set, f, o.stage);
    for (const d of o.builtin ?? []) set.add(fromTs(`(built-in) ${d.name}`, d, o.stage), d.init ? () => d.init?.call(d, o.stage, set) ?? 0 : null);
    if (o.stage === 2) restoreChecks(set);
  } catch (e) {
    set.fini(-1);
    throw e;
  }
  log.info(`plugins for ${stageName(o.stage)}: ${set.list.map((p) => `${p.name} (${p.kind})`).join(', ') || 'none'}${where ? ` from ${where.dir}` : ''}`);
  return set;
}

/** at restore: every plugin the images need is here (check_inventory_plugins), then RESTORE_INIT */
function restoreChecks(set: Plugins): void {
  for (const p of set.list) set.inventory.checkAndRemove(p.name);
  const missing = set.inventory.list();
  if (missing.length) {
    for (const m of missing) log.error(`Missing required plugin: ${m}`);
    throw new CriuError(`Missing required plugin: ${missing.join(', ')}`, {
      object: 'inventory.img (plugins_entry)',
      hint: `the images were dumped with ${missing.length > 1 ? 'these plugins' : 'this plugin'}; put it in the plugin folder${set.dir ? ` (${set.dir})` : ''} or name one with -L DIR`,
    });
  }
  const r = set.dispatch('RESTORE_INIT');
  if (r.ret < 0 && r.ret !== -ENOTSUP)
    throw new CriuError(`plugin ${r.plugin}: its RESTORE_INIT hook failed (${r.ret})`, { hint: "see the plugin's messages above in the log" });
}

export { CRIU_PLUGIN_VERSION_OLD };
