// The V8 start-up snapshot (criu/bundle.mjs, native/launcher.c, criu/src/snapshot.ts): the
// launcher starts Node from it when it fits, and falls back to the bundle when it does not; state
// a module takes at load (the log's clock, CRIU_FAULT) is taken again when a command starts.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { criu, repo, tmpdir } from './lib.js';

const cpuKey = execFileSync(path.join(repo, 'native', 'build', 'criu'), [], { env: { ...process.env, CRIU_LAUNCHER_CPU_KEY: '1' }, encoding: 'utf8' }).trim();
const blob = path.join(repo, 'dist', 'criu', 'src', `criu.cjs.${cpuKey}.blob`);
const startedFrom = (log: string): string => /the tool started from (.*)/.exec(log)?.[1] ?? '(no line)';

/** a dump of a sleeping child that fails at its first step (CRIU_FAULT=1): the child goes on */
async function faultedDump(dir: string, name: string, env: NodeJS.ProcessEnv): Promise<string> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const log = path.join(dir, `${name}.log`);
    const r = criu(['dump', '-t', String(child.pid), '--shell-job', '-D', dir, '-o', log, '-v4'], { CRIU_FAULT: '1', ...env });
    expect(r.code, r.stderr).not.toBe(0);
    return fs.readFileSync(log, 'utf8');
  } finally {
    child.kill('SIGKILL');
  }
}

test.describe.configure({ mode: 'serial' });

test('the build makes a snapshot, and the launcher starts the tool from it unless told not to or NODE_OPTIONS is set', async () => {
  expect(fs.existsSync(blob), `${blob} (made by npm run build)`).toBe(true);
  expect(fs.readFileSync(`${blob}.node`, 'utf8')).toContain(`${fs.realpathSync(repo)}\n`);
  const dir = tmpdir('snapshot');
  expect(startedFrom(await faultedDump(dir, 'plain', {}))).toBe('the start-up snapshot');
  expect(startedFrom(await faultedDump(dir, 'off', { CRIU_NO_SNAPSHOT: '1' }))).toBe('the bundle');
  expect(startedFrom(await faultedDump(dir, 'node-options', { NODE_OPTIONS: '--no-deprecation' }))).toBe('the bundle');
});

test('from the snapshot, the log clock starts with the process and CRIU_FAULT is read at start', async () => {
  const log = await faultedDump(tmpdir('snapshot-state'), 'dump', {});
  expect(startedFrom(log)).toBe('the start-up snapshot');
  // the build ran seconds or hours ago: a clock kept from it would start far beyond one second
  expect(Number(/^\((\d+\.\d+)\)/.exec(log)?.[1]), log.split('\n')[0]).toBeLessThan(1);
  expect(log).toContain('fault injected at step 1');
});

test('a blob made on another CPU is left aside: the launcher starts the bundle (Node would exit 14 on it)', async () => {
  expect(cpuKey).toMatch(new RegExp(`^${process.arch}-[0-9a-f]{16}$`));
  const other = blob.replace(cpuKey, `${process.arch}-0000000000000000`);
  const dir = tmpdir('snapshot-cpu');
  fs.renameSync(blob, other);
  fs.renameSync(`${blob}.node`, `${other}.node`);
  try {
    expect(startedFrom(await faultedDump(dir, 'other-cpu', {}))).toBe('the bundle');
  } finally {
    fs.renameSync(other, blob);
    fs.renameSync(`${other}.node`, `${blob}.node`);
  }
  expect(startedFrom(await faultedDump(dir, 'this-cpu', {}))).toBe('the start-up snapshot');
});
