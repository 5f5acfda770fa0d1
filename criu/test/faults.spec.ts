// Numbered fault points (CRIU_FAULT=N): every dump step and every restore step is made to
// fail in turn. A failed dump leaves the process running unharmed and writes no inventory; a
// failed restore leaves no process behind. Each failure is one line naming the step.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, tmpdir, alive, waitGone, verdict, startFixtureProg, memFixture, sleep, childrenOf } from './lib.js';
import { mapsFields } from '../../zdtm/runner/maps.js';

test.describe.configure({ mode: 'serial' });

const DUMP_STEPS = [1, 2, 3, 4, 5, 6, 7];
const RESTORE_STEPS = [101, 102, 103, 104, 105, 106, 107, 108, 109, 110];

test('every dump step can fail and the process runs on', async () => {
  const dir = tmpdir('fault-dump');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'mem.out');
  const pid = await startFixtureProg('mem', out, '2');
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  // killed at the end, or let go early with -R (before the images are written)
  for (const [n, opt] of [...DUMP_STEPS.map((x) => [x, '-v2']), ...DUMP_STEPS.map((x) => [x, '-R'])] as [number, string][]) {
    const img = path.join(dir, `img-${n}${opt}`);
    const r = criu(['dump', '-t', String(pid), '-D', img, opt], { CRIU_FAULT: String(n) });
    expect(r.code, `step ${n}`).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(`fault injected at step ${n}`);
    expect(fs.existsSync(path.join(img, 'inventory.img')), `step ${n}`).toBe(false);
    expect(alive(pid)).toBe(true);
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0/);
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/State:\s+[SR]/);
    expect(mapsFields(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')), `step ${n}`).toEqual(mapsFields(maps));
  }
  await sleep(200);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('every restore step can fail and nothing is left behind', async () => {
  const { out, pid, img } = await memFixture('fault-restore', '2');
  const d = criu(['dump', '-t', String(pid), '-D', img]);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  for (const n of RESTORE_STEPS) {
    const r = criu(['restore', '-D', img, '-d'], { CRIU_FAULT: String(n) });
    expect(r.code, `step ${n}`).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(`fault injected at step ${n}`);
    await waitGone(pid, 5000);
  }
  // and with no fault the same images still restore
  const r = criu(['restore', '-D', img, '-d']);
  expect(r.code, r.stderr).toBe(0);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('a tree whose restore fails at any step leaves no task behind, not even a zombie for PID 1 to reap', async () => {
  const dir = tmpdir('fault-tree');
  fs.chmodSync(dir, 0o777);
  const pid = await startFixtureProg('tree', path.join(dir, 'tree.out'));
  const kids = await childrenOf(pid, 2);
  expect(kids).toHaveLength(2);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img]);
  expect(d.code, d.stderr).toBe(0);
  for (const p of [pid, ...kids]) await waitGone(p);
  for (const n of RESTORE_STEPS) {
    const r = criu(['restore', '-D', img, '-d'], { CRIU_FAULT: String(n) });
    expect(r.code, `step ${n}`).toBe(1);
    expect(r.stderr).toContain(`fault injected at step ${n}`);
    // PID 1 reaps orphans lazily (seconds here): a task it has to reap is one left behind
    for (const p of [pid, ...kids]) await waitGone(p, 500);
  }
});
