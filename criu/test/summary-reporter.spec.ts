// The closing line of `npm test` ("N passed, N failed, N skipped", ci/summary-reporter.mjs) and
// its exit code: a spec file that does not load (a syntax error, an import that throws) stops
// Playwright before any test runs, and must still count as a failure, not as "0 failed".
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, tmpdir } from './lib.js';

test.describe.configure({ mode: 'parallel' });

const pw = path.join(repo, 'node_modules', '@playwright', 'test', 'index.mjs');

/** `npm test`'s entry point (ci/test.mjs) on a config in a temp dir holding these files. */
function runSuite(files: Record<string, string>): { code: number; out: string; last: string } {
  const dir = tmpdir('summary');
  fs.writeFileSync(
    path.join(dir, 'playwright.config.mjs'),
    `export default { testDir: '.', retries: 0, reporter: [
    ['list'], [${JSON.stringify(path.join(repo, 'zdtm', 'runner', 'summary-reporter.mjs'))}], [${JSON.stringify(path.join(repo, 'ci', 'summary-reporter.mjs'))}]] };\n`,
  );
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_)/.test(k)));
  const r = spawnSync(process.execPath, [path.join(repo, 'ci', 'test.mjs'), '-c', path.join(dir, 'playwright.config.mjs')], {
    cwd: repo,
    encoding: 'utf8',
    env,
    timeout: 60_000,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  const out = `${r.stdout}`;
  return { code: r.status ?? 1, out: `${out}\n${r.stderr}`, last: out.trimEnd().split('\n').at(-1) ?? '' };
}

const good = `import { test } from ${JSON.stringify(pw)};\ntest('fine', () => {});\n`;

test('a spec file with a syntax error counts as a failure and fails the run', () => {
  const r = runSuite({ 'good.spec.mjs': good, 'broken.spec.mjs': `import { test } from ${JSON.stringify(pw)};\ntest('x', () => { ( });\n` });
  expect(r.last, r.out).toBe('0 passed, 1 failed, 0 skipped');
  expect(r.code, r.out).not.toBe(0);
  expect(r.out).toMatch(/error outside any test: \S*broken\.spec\.mjs:2: SyntaxError/);
  // the zdtm summary has a row for it too
  expect(r.out).toMatch(/^ +FAIL +broken\.spec\.mjs .*error outside any test: SyntaxError/m);
});

test('a spec file whose import throws counts as a failure and fails the run', () => {
  const r = runSuite({ 'good.spec.mjs': good, 'throws.spec.mjs': `import './thrower.mjs';\n`, 'thrower.mjs': `throw new Error('boom at import');\n` });
  expect(r.last, r.out).toBe('0 passed, 1 failed, 0 skipped');
  expect(r.code, r.out).not.toBe(0);
  expect(r.out).toContain('error outside any test: ');
  expect(r.out).toContain('boom at import');
});

test('the counts of a run that loads: passed, failed and skipped tests', () => {
  const ok = runSuite({ 'good.spec.mjs': good });
  expect(ok.last, ok.out).toBe('1 passed, 0 failed, 0 skipped');
  expect(ok.code, ok.out).toBe(0);
  const mixed = runSuite({
    'good.spec.mjs': good,
    'bad.spec.mjs': `import { test, expect } from ${JSON.stringify(pw)};\ntest('bad', () => { expect(1).toBe(2); });\ntest.skip('later', () => {});\n`,
  });
  expect(mixed.last, mixed.out).toBe('1 passed, 1 failed, 1 skipped');
  expect(mixed.code, mixed.out).not.toBe(0);
});
