// Long work shows a progress line on a terminal, and nothing when stderr is not one.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { criu, criuBin, tmpdir, waitGone, startFixtureProg, verdict } from './lib.js';
import { ptyLock, type Held } from '../../zdtm/runner/lock.js';

// ptys are numbered machine-wide: none is made while a zdtm pty test has its index free (lock.ts)
let ptyHeld: Held | undefined;
test.beforeEach(async () => {
  ptyHeld = await ptyLock(`unit-${path.basename(test.info().file)}-${test.info().title}`);
  test.info().setTimeout(test.info().timeout + ptyHeld.waitedMs);
});
test.afterEach(() => ptyHeld?.release());

const pty = createRequire(import.meta.url)('node-pty') as typeof import('node-pty');

test('a dump on a terminal shows pages written; off a terminal it is quiet', async () => {
  const dir = tmpdir('progress');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'mem.out');
  const pid = await startFixtureProg('mem', out, '64');
  const term = pty.spawn(criuBin, ['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-o', 'dump.log'], {
    env: { ...process.env, CI: '' } as Record<string, string>,
  });
  let screen = '';
  term.onData((d) => {
    screen += d;
  });
  const code = await new Promise<number>((res) => term.onExit((e) => res(e.exitCode)));
  expect(code, screen).toBe(0);
  expect(screen).toMatch(/MiB of pages written/);
  await waitGone(pid);
  const r = criu(['restore', '-D', path.join(dir, 'img'), '-d']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe('');
  expect(await verdict(pid, out)).toBe('PASS');
});
