// A restored tree dumps and restores again as it was: the zdtm programs whose state drifts with
// each restore if the tool gets it slightly wrong (CPU itimers that the kernel arms a tick late,
// clocks that must go on from the last dump, POSIX timers) run three dump/restore rounds.
import { test, expect } from '@playwright/test';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repo, tmpdir } from './lib.js';

test('itimers, posix_timers and timens00 hold through three dump/restore rounds (--iters 3)', () => {
  test.setTimeout(180_000);
  // a run started from a Playwright worker must not inherit the worker's settings
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_|ZDTM_OPTS)/.test(k)));
  const r = spawnSync(
    process.execPath,
    [
      path.join(repo, 'zdtm', 'run.mjs'),
      '--no-build',
      '-t',
      'itimers',
      '-t',
      'posix_timers',
      '-t',
      'timens00',
      '-f',
      'h',
      '--iters',
      '3',
      '-k',
      'never',
      '--report',
      path.join(tmpdir('iters'), 'report'),
    ],
    { cwd: repo, encoding: 'utf8', env, timeout: 170_000 },
  );
  const out = `${r.stdout}\n${r.stderr}`;
  expect(r.status, out).toBe(0);
  for (const t of ['itimers', 'posix_timers', 'timens00']) expect(out, out).toMatch(new RegExp(`^ +ok +zdtm-h +${t} +[\\d.]+s +verdict: PASS`, 'm'));
});
