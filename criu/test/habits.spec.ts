// The habits that keep the house in order, run by every `npm test`: the sources and the tests
// type-check (`npm run typecheck`), the lint passes (`npm run lint`: typescript-eslint's
// recommended rules, no new `any`, and the layers of criu/src, see "Layers" in
// criu/ARCHITECTURE.md), the generated image types are those of proto/, the sources are
// formatted by prettier and no file or function is over the size limits.
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repo } from './lib.js';

function run(cmd: string, args: string[]): { code: number | null; output: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: repo, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 26 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
  return { code: r.status, output, ms: Date.now() - t0 };
}

test('the sources, the unit tests and the zdtm runner type-check (npm run typecheck)', () => {
  test.setTimeout(300_000);
  const r = run('npm', ['run', '-s', 'typecheck']);
  expect(r.code, `npm run typecheck failed:\n${r.output}`).toBe(0);
  test.info().annotations.push({ type: 'time', description: `typecheck: ${r.ms} ms` });
});

test('the lint passes: recommended rules, no new any, no import up the layers (npm run lint)', () => {
  test.setTimeout(300_000);
  const r = run('npm', ['run', '-s', 'lint']);
  expect(r.code, `npm run lint failed:\n${r.output}`).toBe(0);
  test.info().annotations.push({ type: 'time', description: `lint: ${r.ms} ms` });
});

test('the files allowed their `any` (eslint.config.mjs, KNOWN_ANY) have no more than their count', async () => {
  test.setTimeout(300_000);
  const { KNOWN_ANY } = (await import(path.join(repo, 'eslint.config.mjs'))) as { KNOWN_ANY: Record<string, number> };
  const files = Object.keys(KNOWN_ANY);
  const r = run(path.join(repo, 'node_modules', '.bin', 'eslint'), ['--rule', '{"@typescript-eslint/no-explicit-any": "error"}', '-f', 'json', ...files]);
  const found: Record<string, number> = Object.fromEntries(files.map((f) => [f, 0]));
  for (const f of JSON.parse(r.output.slice(r.output.indexOf('['))) as { filePath: string; messages: { ruleId: string | null }[] }[]) {
    found[path.relative(repo, f.filePath)] = f.messages.filter((m) => m.ruleId === '@typescript-eslint/no-explicit-any').length;
  }
  const over = files.filter((f) => found[f] > KNOWN_ANY[f]).map((f) => `${f}: ${found[f]} any, allowed ${KNOWN_ANY[f]}`);
  expect(over, 'remove the new any (or type it); the counts in eslint.config.mjs may only go down').toEqual([]);
  const under = files.filter((f) => found[f] < KNOWN_ANY[f]).map((f) => `${f}: ${found[f]} (listed ${KNOWN_ANY[f]})`);
  if (under.length) test.info().annotations.push({ type: 'lower KNOWN_ANY', description: under.join('; ') });
});

test('criu/src/images/gen is what proto/gen.mjs makes of proto/*.proto, and is committed so', () => {
  const r = run(process.execPath, ['proto/gen.mjs', '--check']);
  expect(r.code, `node proto/gen.mjs --check failed (run node proto/gen.mjs and commit criu/src/images/gen):\n${r.output}`).toBe(0);
  // `npm test` regenerates before it runs (pretest), so the check above sees fresh files; a
  // committed gen that lags behind the committed proto shows as a change to gen alone
  const g = run('git', ['status', '--porcelain', '--', 'criu/src/images/gen', 'proto']);
  if (g.code !== 0) {
    test.info().annotations.push({ type: 'note', description: 'not a git checkout: the check above only' });
    return;
  }
  const changed = g.output
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  const genOnly = changed.some((f) => f.startsWith('criu/src/images/gen/')) && !changed.some((f) => f.startsWith('proto/'));
  expect(
    genOnly,
    `criu/src/images/gen differs from the committed files while proto/ does not: the committed gen is stale; commit the regenerated files:\n${g.output}`,
  ).toBe(false);
});

test('every source is formatted as prettier formats it (npm run format:check; npm run format fixes it)', () => {
  test.setTimeout(300_000);
  const r = run('npm', ['run', '-s', 'format:check']);
  expect(r.code, `npm run format:check failed: run npm run format and commit:\n${r.output}`).toBe(0);
  test.info().annotations.push({ type: 'time', description: `format:check: ${r.ms} ms` });
});

test('no hand-written file of criu/src is longer than 600 lines, and no file is excepted from the size rules', async () => {
  const { KNOWN_LONG, KNOWN_UNSAFE } = (await import(path.join(repo, 'eslint.config.mjs'))) as { KNOWN_LONG: string[]; KNOWN_UNSAFE: string[] };
  expect(KNOWN_LONG, 'a file or function over the size limits: split it').toEqual([]);
  expect(KNOWN_UNSAFE, 'a file casting untyped values away: type it').toEqual([]);
  const long = run('sh', ['-c', "find criu/src -name '*.ts' -not -path 'criu/src/images/gen/*' | xargs wc -l | grep -v ' total$'"])
    .output.split('\n')
    .filter(Boolean)
    .map((l) => l.trim().split(/\s+/))
    .filter(([n]) => Number(n) > 600);
  expect(long, 'files over 600 lines').toEqual([]);
});

test("the dump and restore path loads none of Node's heavy built-ins (child_process pulls in net: milliseconds of every small dump)", () => {
  const mods = ['cli/commands.js', 'dump/dump.js', 'restore/restore.js', 'plugins/calls.js'];
  const prog = `for (const m of ${JSON.stringify(mods)}) await import('./dist/criu/src/' + m);
console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (child_process|net|crypto|https?|zlib|tls|dgram|worker_threads)$/.test(m))));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', prog], { cwd: repo, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual([]);
});
