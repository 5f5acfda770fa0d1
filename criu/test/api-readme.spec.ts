// The README's Node API examples run as written: every ```js block of its "The Node API" section
// is saved inside the package (so that `import ... from 'criu-ts'` resolves through the exports
// map) and run as `node example.mjs PID DIR` against a running fixture tree. Each must exit 0,
// print what the `<!-- expect: /RE/flags -->` line before it says, and leave the tree running.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, run, memFixture, verdict, waitGone } from './lib.js';

interface Example {
  code: string;
  expect: RegExp;
}

function examples(): Example[] {
  const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## The Node API\n');
  expect(start, 'README.md has a "The Node API" section').toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const out: Example[] = [];
  for (const m of section.matchAll(/<!-- expect: \/(.+)\/(\w*) -->\n```js\n([\s\S]*?)```/g)) out.push({ expect: new RegExp(m[1], m[2]), code: m[3] });
  return out;
}

test('the README has the Node API examples, each with what it prints', () => {
  const ex = examples();
  expect(ex.length).toBe(3);
  const blocks = (fs.readFileSync(path.join(repo, 'README.md'), 'utf8').split('\n## The Node API\n')[1] ?? '').match(/```js\n/g) ?? [];
  expect(blocks.length, 'every js block of the section is tested').toBe(ex.length);
});

for (const [i, ex] of examples().entries()) {
  test(`README Node API example ${i + 1} runs as written`, async ({}, testInfo) => {
    const { pid, out, img } = await memFixture(`readme-${i + 1}`, '64');
    const file = testInfo.outputPath(`example-${i + 1}.mjs`);
    expect(path.relative(repo, file).startsWith('..'), 'the example lies inside the package, for the self-reference').toBe(false);
    fs.writeFileSync(file, ex.code);
    const r = run(process.execPath, [file, String(pid), img]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(ex.expect);
    // the tree runs on (the first one restored it: the example's exit reparented its root)
    expect(await verdict(pid, out)).toBe('PASS');
    await waitGone(pid);
  });
}
