// Plugins in real dumps and restores (`native/build/criu`, the bundled CLI): the trivial
// C plugin called for an fd no kind claims (a perf event of progs/perfev.c), sample plugins in C
// (progs/perf_plugin.c) and as an ES module (progs/perf_plugin.mjs) that dump and restore that
// fd and record themselves in the inventory, and the CUDA plugin driving the mock
// cuda-checkpoint (criu/test/mock/) at CRIU's call points. Runs as root.
import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, criu, tmpdir, alive, waitGone, waitFile, verdict, startTime } from './lib.js';
import { readOne, readMessagesOf } from '../src/images/typed.js';

test.describe.configure({ mode: 'serial' });

const progs = path.join(repo, 'criu', 'test', 'progs');
const headers = path.join(repo, 'include', 'criu');
const mockDir = path.join(repo, 'criu', 'test', 'mock');

// the example, as it is
const TRIVIAL = fs.readFileSync(path.join(repo, 'criu', 'test', 'progs', 'trivial-plugin.c'), 'utf8');

let perfev = '';
const started: number[] = [];

test.beforeAll(() => {
  const dir = tmpdir('perfev-bin');
  perfev = path.join(dir, 'perfev');
  execFileSync('gcc', ['-O1', '-Wall', '-pthread', '-o', perfev, path.join(progs, 'perfev.c')]);
});
test.afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** a plugin folder holding one C plugin built against include/criu/ */
function cPlugin(tag: string, name: string, src: string): string {
  const dir = tmpdir(`plugin-${tag}`);
  const c = path.join(dir, `${name}.c`);
  fs.writeFileSync(c, src);
  execFileSync('gcc', ['-Wall', '-Werror', '-shared', '-fPIC', `-I${headers}`, '-o', path.join(dir, `${name}.so`), c]);
  fs.unlinkSync(c);
  return dir;
}

/** progs/perfev in a fresh directory: its pid, the perf fd, the second thread's tid, its outfile */
async function startPerfev(...args: string[]): Promise<{ pid: number; fd: number; tid: number; out: string; dir: string }> {
  const dir = tmpdir('perfev');
  const out = path.join(dir, 'perfev.out');
  execFileSync(perfev, [out, ...args], { stdio: 'ignore' });
  const [pid, fd, tid] = (await waitFile(`${out}.pid`)).trim().split(' ').map(Number);
  started.push(pid);
  return { pid, fd, tid, out, dir };
}

const logOf = (dir: string, name: string): string => fs.readFileSync(path.join(dir, name), 'utf8');

test("the issue's trivial C plugin is loaded by `criu dump -L DIR`: its DUMP_EXT_FILE hook gets the perf event fd and its pr_info line is in the log", async () => {
  const plugins = cPlugin('trivial', 'trivial', TRIVIAL);
  const t = await startPerfev();
  const img = path.join(t.dir, 'img');
  const r = criu(['dump', '-t', String(t.pid), '-D', img, '-R', '-L', plugins, '-v4', '-o', 'dump.log']);
  expect(r.code, r.stderr).toBe(0);
  const log = logOf(img, 'dump.log');
  expect(log).toMatch(/plugins for dump: trivial \(c\)/);
  const m = /^\(\d\d\.\d{6}\) dump_ext_file: fd (\d+) id (\d+)$/m.exec(log);
  expect(m).not.toBeNull();
  // the fd is the tool's own copy (pidfd_getfd), and files.img has the plugin's EXT entry
  const files = readMessagesOf(path.join(img, 'files.img'), 'FILES');
  const ext = files.find((e) => e.type === 16);
  expect(ext?.ext?.id).toBe(Number(m![2]));
  const fdinfo = fs.readdirSync(img).find((f) => f.startsWith('fdinfo-'))!;
  expect(readMessagesOf(path.join(img, fdinfo), 'FDINFO').find((e) => e.fd === t.fd)).toMatchObject({ id: Number(m![2]), type: 16 });
  expect(alive(t.pid)).toBe(true);
  expect(await verdict(t.pid, t.out)).toMatch(/^PASS perf fd \d+ counts/);
});

test('an fd no kind and no plugin takes is refused with `not supported yet`, naming the fd and where plugins were looked for', async () => {
  const t = await startPerfev();
  const img = path.join(t.dir, 'img');
  const none = criu(['dump', '-t', String(t.pid), '-D', img, '-o', 'dump.log'], { CRIU_LIBS_DIR: '' });
  expect(none.code).toBe(1);
  expect(none.stderr).toMatch(new RegExp(`not supported yet: task ${t.pid} \\([^)]+\\): fd ${t.fd} \\(anon_inode:\\[perf_event\\]\\): perf event`));
  expect(none.stderr).toMatch(/no plugin folder was given \(-L\/--libdir, \$CRIU_LIBS_DIR\) and \/usr\/lib\/criu\/ does not exist, so no plugin is loaded/);
  const empty = tmpdir('plugins-empty');
  const r = criu(['dump', '-t', String(t.pid), '-D', img, '-o', 'dump.log'], { CRIU_LIBS_DIR: empty });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`plugins were looked for in ${empty} (from $CRIU_LIBS_DIR): no plugin there`);
  expect(alive(t.pid)).toBe(true);
  expect(await verdict(t.pid, t.out)).toMatch(/^PASS perf fd \d+ counts/);
});

/** dump with the plugin, restore without it (refused, nothing left), then with it: the fd counts again */
async function roundTrip(plugins: string, name: string, imageFile: RegExp): Promise<void> {
  const t = await startPerfev();
  const img = path.join(t.dir, 'img');
  const d = criu(['dump', '-t', String(t.pid), '-D', img, '-L', plugins, '-v4', '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  expect(readOne(path.join(img, 'inventory.img'), 'INVENTORY').plugins_entry?.plugins).toEqual([name]);
  expect(fs.readdirSync(img).some((f) => imageFile.test(f))).toBe(true);
  await waitGone(t.pid);

  const bare = criu(['restore', '-D', img, '-d', '-v4', '-o', 'bare.log'], { CRIU_LIBS_DIR: '' });
  expect(bare.code).toBe(1);
  expect(bare.stderr).toContain(`Missing required plugin: ${name}`);
  expect(alive(t.pid)).toBe(false);
  expect(logOf(img, 'bare.log')).not.toMatch(/Forked puppet/);

  const r = criu(['restore', '-D', img, '-d', '-L', plugins, '-v4', '-o', 'restore.log']);
  expect(r.code, r.stderr + logOf(img, 'restore.log')).toBe(0);
  expect(logOf(img, 'restore.log')).toMatch(/hook 3 \(RESTORE_EXT_FILE\)/);
  expect(await verdict(t.pid, t.out)).toMatch(new RegExp(`^PASS perf fd ${t.fd} counts`));
}

test('a sample C plugin dumps and restores the perf event fd (an image of its own, add_inventory_plugin); a restore without it says `Missing required plugin` and leaves nothing', async () => {
  const plugins = tmpdir('plugin-perf');
  execFileSync('gcc', ['-Wall', '-Werror', '-shared', '-fPIC', `-I${headers}`, '-o', path.join(plugins, 'perf_plugin.so'), path.join(progs, 'perf_plugin.c')]);
  await roundTrip(plugins, 'perf_event', /^perf-event-\d+\.img$/);
});

test('a TypeScript plugin (perf_plugin.mjs) loads in the bundled CLI and dumps and restores the perf event fd through the image API', async () => {
  const plugins = tmpdir('plugin-perf-ts');
  fs.copyFileSync(path.join(progs, 'perf_plugin.mjs'), path.join(plugins, 'perf_plugin.mjs'));
  await roundTrip(plugins, 'perf_event_ts', /^perf-ts-\d+\.img$/);
});

// ---------------------------------------------------------------- the CUDA plugin and the mock

/** a CUDA task (its second thread the restore thread) or not, in the mock's world */
async function cudaTask(tag: string, cuda: boolean) {
  const t = await startPerfev('thread', 'noperf');
  const state = path.join(t.dir, 'cuda.json');
  const calls = path.join(t.dir, 'cuda.log');
  fs.writeFileSync(state, JSON.stringify(cuda ? { [t.pid]: { state: 'running', restoreTid: t.tid } } : {}));
  // CRIU_FAULT=138 is CRIU's FI_PLUGIN_CUDA_FORCE_ENABLE: no GPU here
  const env = (more: Record<string, string> = {}) => ({
    PATH: `${mockDir}:${process.env.PATH}`,
    CRIU_FAULT: '138',
    CUDA_MOCK_STATE: state,
    CUDA_MOCK_LOG: calls,
    ...more,
  });
  const stateOf = (): string => (JSON.parse(fs.readFileSync(state, 'utf8')) as Record<string, { state: string }>)[t.pid]?.state;
  const callsSoFar = (): string[] => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : []);
  return { ...t, img: path.join(t.dir, `img-${tag}`), env, stateOf, callsSoFar };
}

test("the CUDA plugin in a real dump and restore: CRIU's order of cuda-checkpoint calls (lock, checkpoint; restore, unlock), recorded as cuda_plugin", async () => {
  const c = await cudaTask('ok', true);
  const P = c.pid;
  const d = criu(['dump', '-t', String(P), '-D', c.img, '-v4', '-o', 'dump.log'], c.env());
  expect(d.code, d.stderr).toBe(0);
  expect(c.callsSoFar()).toEqual([
    '-h',
    `--get-restore-tid --pid ${P}`,
    `--get-state --pid ${c.tid}`,
    `--action lock --pid ${P} --timeout 10000`,
    `--get-restore-tid --pid ${P}`,
    `--action checkpoint --pid ${P}`,
  ]);
  expect(c.stateOf()).toBe('checkpointed');
  expect(readOne(path.join(c.img, 'inventory.img'), 'INVENTORY').plugins_entry?.plugins).toEqual(['cuda_plugin']);
  const log = logOf(c.img, 'dump.log');
  expect(log.indexOf('hook 10 (PAUSE_DEVICES)')).toBeLessThan(log.indexOf(`Seizing ${P}'s ${P} thread`));
  expect(log.indexOf(`Seizing ${P}'s ${c.tid} thread`)).toBeLessThan(log.indexOf('hook 11 (CHECKPOINT_DEVICES)'));
  await waitGone(P);

  const r = criu(['restore', '-D', c.img, '-d', '-v4', '-o', 'restore.log'], c.env());
  expect(r.code, r.stderr).toBe(0);
  expect(c.callsSoFar().slice(6)).toEqual(['-h', `--get-restore-tid --pid ${P}`, `--action restore --pid ${P}`, `--action unlock --pid ${P}`]);
  expect(c.stateOf()).toBe('running');
  expect(logOf(c.img, 'restore.log')).toMatch(/hook 9 \(RESUME_DEVICES_LATE\)[\s\S]*Restore finished successfully/);
  expect(fs.readdirSync(`/proc/${P}/task`).map(Number).sort()).toEqual([P, c.tid].sort());
  expect(await verdict(P, c.out)).toBe('PASS no perf fd');
});

test('the CUDA plugin leaves a task that is not a CUDA task alone (as the real plugin decides: no restore thread)', async () => {
  const c = await cudaTask('not-cuda', false);
  const d = criu(['dump', '-t', String(c.pid), '-D', c.img, '-R', '-v4', '-o', 'dump.log'], c.env());
  expect(d.code, d.stderr).toBe(0);
  expect(c.callsSoFar()).toEqual(['-h', `--get-restore-tid --pid ${c.pid}`, `--get-restore-tid --pid ${c.pid}`]);
  expect(readOne(path.join(c.img, 'inventory.img'), 'INVENTORY').plugins_entry?.plugins ?? []).toEqual([]);
  expect(await verdict(c.pid, c.out)).toBe('PASS no perf fd');
});

for (const step of ['get-state', 'lock', 'checkpoint']) {
  test(`the CUDA plugin: cuda-checkpoint failing at ${step} fails the dump and leaves the tree running, unchanged`, async () => {
    const c = await cudaTask(`fail-${step}`, true);
    const before = startTime(c.pid);
    const d = criu(['dump', '-t', String(c.pid), '-D', c.img, '-v4', '-o', 'dump.log'], c.env({ CUDA_MOCK_FAIL: step }));
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(step === 'checkpoint' ? /CHECKPOINT_DEVICES hook failed/ : /PAUSE_DEVICES hook failed/);
    expect(logOf(c.img, 'dump.log')).toContain(`cuda-checkpoint: ${step} failed (CUDA_MOCK_FAIL)`);
    // the same process, its CUDA state back to running (exit(-1) unlocked what was locked), not traced
    expect(startTime(c.pid)).toBe(before);
    expect(c.stateOf()).toBe('running');
    if (step === 'checkpoint') expect(c.callsSoFar().slice(-2)).toEqual([`--get-state --pid ${c.tid}`, `--action unlock --pid ${c.pid}`]);
    for (const tid of [c.pid, c.tid]) expect(fs.readFileSync(`/proc/${c.pid}/task/${tid}/status`, 'utf8')).toMatch(/TracerPid:\s+0\n/);
    expect(fs.existsSync(path.join(c.img, 'inventory.img'))).toBe(false);
    expect(await verdict(c.pid, c.out)).toBe('PASS no perf fd');
  });
}

// HANDLE_DEVICE_VMA (dump, dump/vmas.ts: VMA_EXT_PLUGIN) and UPDATE_VMA_MAP (restore,
// restore/memory.ts) need a task mapping a character device other than /dev/zero; this machine
// has none that can be mapped (no /dev/mem, GPU, DRM, framebuffer or uio device; /dev/zero is
// CRIU's own case and takes no plugin).
test.fixme('a device plugin takes a mapped character device (HANDLE_DEVICE_VMA, VMA_EXT_PLUGIN) and maps it again at restore (UPDATE_VMA_MAP)', () => {});
