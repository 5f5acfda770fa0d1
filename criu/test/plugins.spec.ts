// The plugin API (criu/src/plugins): C plugins with CRIU's ABI built here with gcc against our
// headers (include/criu) and CRIU 4.2's, TypeScript plugins, the folder choice, init/exit, the
// -ENOTSUP chain, the inventory's required plugins, and the CUDA plugin against a mock
// cuda-checkpoint (criu/test/mock/cuda-checkpoint).
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, tmpdir } from './lib.js';
import { loadPlugins, pluginDir, ENOTSUP, type LoadOptions } from '../src/plugins/plugins.js';
import { STAGE } from '../src/plugins/hooks.js';
import { cudaPlugin, type RestoreThreadControl } from '../src/plugins/cuda.js';
import { log } from '../src/log.js';

const hostLib = path.join(repo, 'native', 'build', 'libcriu-plugin-host.so');
const ourHeaders = path.join(repo, 'include', 'criu');
const mirror = '/work/.mirror/checkpoint-restore+criu/repo';
const mockTool = path.join(repo, 'criu', 'test', 'mock', 'cuda-checkpoint');

// the issue's example, verbatim
const TRIVIAL = fs.readFileSync(path.join(repo, 'criu', 'test', 'progs', 'trivial-plugin.c'), 'utf8');

const tmp = (tag: string): string => tmpdir(`plugins-${tag}`);

function build(dir: string, name: string, src: string, include = ourHeaders): string {
  const c = path.join(dir, `${name}.c`);
  fs.writeFileSync(c, src);
  const so = path.join(dir, `${name}.so`);
  execFileSync('gcc', ['-Wall', '-Werror', '-shared', '-fPIC', `-I${include}`, '-o', so, c]);
  fs.unlinkSync(c);
  return so;
}

/** a plugin that logs each call, answers `answer` from DUMP_EXT_FILE, and records itself in the inventory if asked */
function chainPlugin(name: string, answer: string, opts: { initRet?: number; record?: boolean } = {}): string {
  return `#include "criu-plugin.h"
#include "criu-log.h"
static int init(int stage) { pr_info("${name} init %d\\n", stage); ${opts.record ? `if (stage == CR_PLUGIN_STAGE__DUMP) add_inventory_plugin("${name}");` : ''} return ${opts.initRet ?? 0}; }
static void fini(int stage, int ret) { pr_info("${name} exit %d %d\\n", stage, ret); }
static int dump_ext_file(int fd, int id) { pr_info("${name} dump_ext_file %d %d\\n", fd, id); return ${answer}; }
static int restore_ext_file(int id) { pr_warn("${name} restore_ext_file %d\\n", id); return -ENOTSUP; }
CR_PLUGIN_REGISTER("${name}", init, fini)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, dump_ext_file)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, restore_ext_file)
`;
}

let logFile = '';
test.beforeEach(({}, info) => {
  logFile = path.join(info.outputDir, 'criu.log');
  fs.mkdirSync(info.outputDir, { recursive: true });
  log.setFile(logFile);
  log.level = 4;
  log.resetClock();
});
test.afterEach(() => log.setFile(null));
const logText = (): string => fs.readFileSync(logFile, 'utf8');
const load = (o: Partial<LoadOptions> & { stage: LoadOptions['stage'] }): ReturnType<typeof loadPlugins> =>
  loadPlugins({ hostLib, env: {}, defaultDir: '/nonexistent-criu-plugins/', ...o });

test("the issue's trivial plugin, built against our headers, is loaded and its DUMP_EXT_FILE hook logs through pr_info", async () => {
  const dir = tmp('trivial');
  build(dir, 'trivial', TRIVIAL);
  const p = await load({ stage: STAGE.DUMP, libdir: dir });
  expect(p.list.map((x) => x.name)).toEqual(['trivial']);
  expect(p.has('DUMP_EXT_FILE')).toBe(true);
  expect(p.run('DUMP_EXT_FILE', 5, 7)).toBe(0);
  expect(p.run('RESTORE_EXT_FILE', 7)).toBe(-ENOTSUP); // no plugin has it
  p.fini(0);
  expect(logText()).toMatch(/^\(\d\d\.\d{6}\) dump_ext_file: fd 5 id 7$/m);
});

test('pr_info is dropped below -v3 and pr_err carries CRIU\'s "Error (file:line): " prefix', async () => {
  const dir = tmp('levels');
  build(
    dir,
    'lv',
    `#include "criu-plugin.h"
#include "criu-log.h"
static int h(int fd, int id) { pr_info("quiet %d\\n", fd); pr_err("loud %d\\n", id); return pr_quelled(LOG_INFO) ? 1 : 2; }
CR_PLUGIN_REGISTER_DUMMY("lv")
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, h)
`,
  );
  log.level = 2;
  const p = await load({ stage: STAGE.DUMP, libdir: dir });
  expect(p.run('DUMP_EXT_FILE', 1, 2)).toBe(1);
  p.fini(0);
  expect(logText()).not.toContain('quiet');
  expect(logText()).toMatch(/Error \(\S*lv\.c:3\): loud 2/);
});

test("the same plugin built against CRIU 4.2's own headers loads unchanged", async () => {
  test.skip(!fs.existsSync(mirror), "CRIU's source mirror is not on this machine");
  const inc = tmp('criu42-inc');
  // criu-log.h includes "log.h": three headers, not two
  for (const h of ['criu/include/criu-plugin.h', 'criu/include/criu-log.h', 'criu/include/log.h']) {
    fs.writeFileSync(path.join(inc, path.basename(h)), execFileSync('git', ['-C', mirror, 'show', `v4.2:${h}`]));
  }
  const dir = tmp('trivial42');
  build(dir, 'trivial', TRIVIAL, inc);
  const p = await load({ stage: STAGE.DUMP, libdir: dir });
  expect(p.list[0].name).toBe('trivial');
  expect(p.list[0].version).toBe(0x200);
  expect(p.run('DUMP_EXT_FILE', 9, 3)).toBe(0);
  p.fini(0);
  expect(logText()).toContain('dump_ext_file: fd 9 id 3');
});

test('a hook answering -ENOTSUP passes the object to the next plugin, in name order; an answer stops the chain', async () => {
  const dir = tmp('chain');
  build(dir, 'a-first', chainPlugin('first', '-ENOTSUP'));
  build(dir, 'b-second', chainPlugin('second', 'fd == 3 ? -ENOTSUP : 0'));
  build(dir, 'c-third', chainPlugin('third', '-EIO'));
  const p = await load({ stage: STAGE.DUMP, libdir: dir });
  expect(p.dispatch('DUMP_EXT_FILE', 4, 1)).toEqual({ ret: 0, plugin: 'second' });
  expect(p.dispatch('DUMP_EXT_FILE', 3, 2)).toEqual({ ret: -5, plugin: 'third' });
  expect(p.run('RESTORE_EXT_FILE', 1)).toBe(-ENOTSUP);
  p.fini(0);
  const calls = logText()
    .split('\n')
    .filter((l) => l.includes('dump_ext_file'))
    .map((l) => l.replace(/^\(\S+\) /, ''));
  expect(calls).toEqual([
    'first dump_ext_file 4 1',
    'second dump_ext_file 4 1',
    'first dump_ext_file 3 2',
    'second dump_ext_file 3 2',
    'third dump_ext_file 3 2',
  ]);
});

test('init(stage) runs at load before any hook, exit(stage, ret) at the end with the outcome; a refusing init fails the load and the others get exit(-1)', async () => {
  const dir = tmp('initexit');
  build(dir, 'a', chainPlugin('a', '0'));
  build(dir, 'b', chainPlugin('b', '0'));
  const p = await load({ stage: STAGE.RESTORE, libdir: dir });
  p.run('DUMP_EXT_FILE', 1, 1);
  p.fini(-1);
  p.fini(0); // once only
  const lines = (): string[] =>
    logText()
      .split('\n')
      .filter((l) => / (init|exit|dump_ext_file) /.test(l))
      .map((l) => l.replace(/^\(\S+\) /, ''));
  expect(lines()).toEqual(['a init 2', 'b init 2', 'a dump_ext_file 1 1', 'a exit 2 -1', 'b exit 2 -1']);

  build(dir, 'c', chainPlugin('c', '0', { initRet: -1 }));
  log.setFile(logFile);
  await expect(load({ stage: STAGE.DUMP, libdir: dir })).rejects.toThrow(/Failed in init\(0\) of "c"/);
  expect(lines()).toEqual(['a init 0', 'b init 0', 'c init 0', 'a exit 0 -1', 'b exit 0 -1']);
});

test('an old-style plugin (cr_plugin_init, cr_plugin_dump_file) gets a generated descriptor named by its path', async () => {
  const dir = tmp('old');
  const so = build(
    dir,
    'old',
    `#include "criu-log.h"
int cr_plugin_init(void) { pr_info("old init\\n"); return 0; }
void cr_plugin_fini(void) { pr_info("old fini\\n"); }
int cr_plugin_dump_file(int fd, int id) { pr_info("old dump %d %d\\n", fd, id); return 0; }
`,
  );
  const p = await load({ stage: STAGE.DUMP, libdir: dir });
  expect(p.list[0].name).toBe(so);
  expect(p.list[0].version).toBe(0x100);
  expect(p.run('DUMP_EXT_FILE', 2, 8)).toBe(0);
  p.fini(0);
  expect(logText()).toContain('Generating dynamic descriptor');
  expect(logText()).toMatch(/old init[\s\S]*old dump 2 8[\s\S]*old fini/);
});

test('a descriptor newer than CRIU_PLUGIN_VERSION is refused as CRIU refuses it', async () => {
  const dir = tmp('newer');
  build(
    dir,
    'newer',
    `#include "criu-plugin.h"
cr_plugin_desc_t CR_PLUGIN_DESC = { .name = "newer", .version = CRIU_PLUGIN_GEN_VERSION(0, 3, 0), .max_hooks = CR_PLUGIN_HOOK__MAX };
`,
  );
  await expect(load({ stage: STAGE.DUMP, libdir: dir })).rejects.toThrow(/Corrupted plugin .*newer\.so: its version 0x300 is newer than 0x200/);
});

test('the plugin folder: -L/--libdir, else $CRIU_LIBS_DIR, else /usr/lib/criu/ when it exists, else none', async () => {
  const d = tmp('dflt');
  expect(pluginDir('/opt/x', { CRIU_LIBS_DIR: '/env' }, d)).toEqual({ dir: '/opt/x', from: 'option' });
  expect(pluginDir(null, { CRIU_LIBS_DIR: '/env' }, d)).toEqual({ dir: '/env', from: 'env' });
  expect(pluginDir(undefined, {}, d)).toEqual({ dir: d, from: 'default' });
  expect(pluginDir(undefined, {}, '/nonexistent-criu-plugins/')).toBeNull();
  expect(pluginDir(undefined, {})?.dir ?? '/usr/lib/criu/').toBe('/usr/lib/criu/');
  build(d, 'trivial', TRIVIAL);
  expect((await load({ stage: STAGE.DUMP, defaultDir: d })).list.map((x) => x.name)).toEqual(['trivial']);
  expect((await load({ stage: STAGE.DUMP, env: { CRIU_LIBS_DIR: d } })).list.map((x) => x.name)).toEqual(['trivial']);
  expect((await load({ stage: STAGE.DUMP })).list).toEqual([]);
  await expect(load({ stage: STAGE.DUMP, env: { CRIU_LIBS_DIR: '/nonexistent-libs' } })).rejects.toThrow(/Unable to open directory \/nonexistent-libs/);
});

test('add_inventory_plugin at dump gives plugins_entry; a restore without that plugin fails with "Missing required plugin: NAME"', async () => {
  const dir = tmp('inv');
  build(dir, 'rec', chainPlugin('recorder', '0', { record: true }));
  const dump = await load({ stage: STAGE.DUMP, libdir: dir });
  expect(dump.inventoryPlugins()).toEqual(['recorder']);
  dump.fini(0);

  const inventory = { img_version: 2, plugins_entry: { plugins: ['recorder'] } };
  const empty = tmp('inv-empty');
  await expect(load({ stage: STAGE.RESTORE, libdir: empty, inventory })).rejects.toThrow(/^Missing required plugin: recorder$/);
  expect(logText()).toMatch(/Missing required plugin: recorder/);
  const ok = await load({ stage: STAGE.RESTORE, libdir: dir, inventory });
  expect(ok.inventory.list()).toEqual([]);
  ok.fini(0);
  // images without plugins_entry (older CRIU) enable every plugin and require none
  const old = await load({ stage: STAGE.RESTORE, libdir: empty, inventory: { img_version: 2 } });
  expect(old.inventory.everyPluginEnabled).toBe(true);
  expect(old.checkAndRemoveInventoryPlugin('anything')).toBe(true);
});

test('a TypeScript plugin (an ES module in the folder) gets typed hooks and writes and reads an image of its own', async () => {
  const dir = tmp('ts');
  const images = tmp('ts-images');
  fs.writeFileSync(
    path.join(dir, 'extfile.mjs'),
    `
let host;
export default {
  name: 'ts-ext',
  init(stage, h) { host = h; h.log.info('ts-ext init ' + stage); if (stage === 0) h.addInventoryPlugin('ts-ext'); return 0; },
  exit(stage, ret) { host.log.info('ts-ext exit ' + stage + ' ' + ret); },
  dumpExtFile(fd, id) {
    if (fd !== 42) return -95;
    host.images.typed.writeMessages(host.imageDir, 'ext-files.img', 'EXT_FILES', [{ id, fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 } }]);
    return 0;
  },
  restoreExtFile(id) {
    const e = host.images.typed.readOne(host.imageDir + '/ext-files.img', 'EXT_FILES');
    return e.id === id ? 77 : -2;
  },
};
`,
  );
  build(dir, 'z-trivial', TRIVIAL);
  const p = await load({ stage: STAGE.DUMP, libdir: dir, imageDir: images });
  expect(p.list.map((x) => `${x.name}:${x.kind}`)).toEqual(['ts-ext:ts', 'trivial:c']);
  expect(p.dispatch('DUMP_EXT_FILE', 42, 0x11)).toEqual({ ret: 0, plugin: 'ts-ext' });
  expect(p.dispatch('DUMP_EXT_FILE', 3, 0x12)).toEqual({ ret: 0, plugin: 'trivial' }); // -ENOTSUP from TS, on to C
  expect(p.inventoryPlugins()).toEqual(['ts-ext']);
  p.fini(0);
  expect(fs.existsSync(path.join(images, 'ext-files.img'))).toBe(true);
  const r = await load({ stage: STAGE.RESTORE, libdir: dir, imageDir: images, inventory: { img_version: 2, plugins_entry: { plugins: ['ts-ext'] } } });
  expect(r.run('RESTORE_EXT_FILE', 0x11)).toBe(77);
  r.fini(0);
  expect(logText()).toMatch(/ts-ext init 0[\s\S]*ts-ext exit 0 0[\s\S]*ts-ext init 2[\s\S]*ts-ext exit 2 0/);
});

/** the mock's world and a fake restore-thread control that records what the plugin does to the thread */
function cudaWorld(tag: string, state: Record<string, { state: string; restoreTid: number }>, env: Record<string, string> = {}) {
  const d = tmp(tag);
  const stateFile = path.join(d, 'state.json'),
    calls = path.join(d, 'calls.log');
  fs.writeFileSync(stateFile, JSON.stringify(state));
  const thread: string[] = [];
  const threads: RestoreThreadControl = {
    resume: (tid) => {
      thread.push(`resume ${tid}`);
      return 0x1234n;
    },
    interrupt: (tid, saved) => {
      thread.push(`interrupt ${tid} ${saved.toString(16)}`);
    },
  };
  const plugin = cudaPlugin({ tool: mockTool, forceEnable: true, threads, env: { ...process.env, CUDA_MOCK_STATE: stateFile, CUDA_MOCK_LOG: calls, ...env } });
  return {
    plugin,
    thread,
    calls: (): string[] => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : []),
    state: (pid: number): string => (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as Record<string, { state: string }>)[pid].state,
  };
}

test('CUDA plugin: lock at PAUSE_DEVICES, checkpoint at CHECKPOINT_DEVICES with the restore thread let run, recorded as cuda_plugin; restore and unlock at RESUME_DEVICES_LATE', async () => {
  const w = cudaWorld('cuda-ok', { '100': { state: 'running', restoreTid: 101 } });
  const dump = await load({ stage: STAGE.DUMP, builtin: [w.plugin], options: { timeout: 7 } });
  expect(dump.interruptOnly).toBe(true); // set_compel_interrupt_only_mode()
  expect(dump.run('PAUSE_DEVICES', 100)).toBe(0);
  expect(dump.run('PAUSE_DEVICES', 555)).toBe(0); // not a CUDA task: nothing to do
  expect(dump.run('CHECKPOINT_DEVICES', 100)).toBe(0);
  expect(dump.inventoryPlugins()).toEqual(['cuda_plugin']);
  dump.fini(0);
  expect(w.state(100)).toBe('checkpointed');
  expect(w.calls()).toEqual([
    '-h',
    '--get-restore-tid --pid 100',
    '--get-state --pid 101',
    '--action lock --pid 100 --timeout 7000',
    '--get-restore-tid --pid 555',
    '--get-restore-tid --pid 100',
    '--action checkpoint --pid 100',
  ]);
  expect(w.thread).toEqual(['resume 101', 'interrupt 101 1234']);

  const w2 = cudaWorld('cuda-restore', { '100': { state: 'checkpointed', restoreTid: 101 } });
  const r = await load({ stage: STAGE.RESTORE, builtin: [w2.plugin], inventory: { img_version: 2, plugins_entry: { plugins: ['cuda_plugin'] } } });
  expect(r.run('RESUME_DEVICES_LATE', 100)).toBe(0);
  r.fini(0);
  expect(w2.state(100)).toBe('running');
  expect(w2.calls().slice(1)).toEqual(['--get-restore-tid --pid 100', '--action restore --pid 100', '--action unlock --pid 100']);
  expect(w2.thread).toEqual(['resume 101', 'interrupt 101 1234']);
});

test('CUDA plugin: disabled (hooks answer -ENOTSUP) for pre-dump, for images that do not need it, with a pre-r555 tool, without the tool', async () => {
  const inv = { img_version: 2, plugins_entry: { plugins: [] } };
  const cases: [string, Partial<LoadOptions>, Record<string, string>][] = [
    ['pre-dump', { stage: STAGE.PRE_DUMP }, {}],
    ['restore-not-needed', { stage: STAGE.RESTORE, inventory: inv }, {}],
    ['old-driver', { stage: STAGE.DUMP }, { CUDA_MOCK_OLD: '1' }],
    ['no-tool', { stage: STAGE.DUMP }, { CUDA_MOCK_FAIL: 'help' }],
  ];
  for (const [tag, o, env] of cases) {
    const w = cudaWorld(`cuda-${tag}`, { '100': { state: 'running', restoreTid: 101 } }, env);
    const p = await load({ stage: STAGE.DUMP, ...o, builtin: [w.plugin] });
    expect(p.run('PAUSE_DEVICES', 100), tag).toBe(-ENOTSUP);
    expect(p.run('RESUME_DEVICES_LATE', 100), tag).toBe(-ENOTSUP);
    p.fini(0);
    expect(w.state(100), tag).toBe('running');
  }
  expect(logText()).toContain('an r555 or higher version driver is required');
  expect(logText()).toMatch(/check that \S*cuda-checkpoint is present in \$PATH/);
});

test('CUDA plugin: a failure at each step of a dump fails the hook and leaves the task running (exit(-1) restores and unlocks)', async () => {
  for (const step of ['get-state', 'lock', 'checkpoint']) {
    const w = cudaWorld(`cuda-fail-${step}`, { '100': { state: 'running', restoreTid: 101 } }, { CUDA_MOCK_FAIL: step });
    const p = await load({ stage: STAGE.DUMP, builtin: [w.plugin] });
    let ret = p.run('PAUSE_DEVICES', 100);
    if (ret === 0) ret = p.run('CHECKPOINT_DEVICES', 100);
    expect(ret, step).toBe(-1);
    p.fini(-1); // the dump fails
    expect(w.state(100), step).toBe('running');
    expect(logText()).toContain(
      step === 'get-state'
        ? 'Failed to get CUDA state for PID 101'
        : `${step === 'lock' ? 'PAUSE' : 'CHECKPOINT'}_DEVICES failed with cuda-checkpoint: ${step} failed`,
    );
    expect(w.thread.filter((t) => t.startsWith('resume')).length, step).toBe(w.thread.filter((t) => t.startsWith('interrupt')).length);
  }
  // --leave-running: a successful dump gives the task back running too
  const w = cudaWorld('cuda-leave-running', { '100': { state: 'running', restoreTid: 101 } });
  const p = await load({ stage: STAGE.DUMP, builtin: [w.plugin], options: { leaveRunning: true } });
  expect(p.run('PAUSE_DEVICES', 100)).toBe(0);
  expect(p.run('CHECKPOINT_DEVICES', 100)).toBe(0);
  p.fini(0);
  expect(w.state(100)).toBe('running');
  // a task locked by someone else stays locked
  const wl = cudaWorld('cuda-locked', { '100': { state: 'locked', restoreTid: 101 } });
  const pl = await load({ stage: STAGE.DUMP, builtin: [wl.plugin] });
  expect(pl.run('PAUSE_DEVICES', 100)).toBe(0);
  expect(pl.run('CHECKPOINT_DEVICES', 100)).toBe(0);
  pl.fini(-1);
  expect(wl.state(100)).toBe('locked');
});

test('CUDA plugin: a failure at restore (restore or unlock) fails RESUME_DEVICES_LATE, and the restore thread is stopped again', async () => {
  for (const step of ['restore', 'unlock']) {
    const w = cudaWorld(`cuda-rfail-${step}`, { '100': { state: 'checkpointed', restoreTid: 101 } }, { CUDA_MOCK_FAIL: step });
    const p = await load({ stage: STAGE.RESTORE, builtin: [w.plugin], inventory: { img_version: 2 } });
    expect(p.run('RESUME_DEVICES_LATE', 100), step).toBe(-1);
    p.fini(-1);
    expect(w.calls().includes('--action unlock --pid 100'), step).toBe(step === 'unlock'); // a failed restore skips the unlock
    expect(w.thread, step).toEqual(['resume 101', 'interrupt 101 1234']);
    expect(logText()).toContain(`RESUME_DEVICES ${step.toUpperCase()} failed`);
  }
});
