// Declares the zdtm tests of one flavor (one Playwright project per flavor).
import { test } from '@playwright/test';
import * as os from 'node:os';
import * as path from 'node:path';
import { currentOptions, findSkip, listTests, readExpected } from './catalog.mjs';
import { runZdtmTest, type ZdtmOptions, type ZdtmTest } from './harness.js';

/**
 * names: the tests to declare (default: the run's selection, else every test); options: set over
 * the run's options (ZDTM_OPTS), for the projects of `npm test` that fix their own mode.
 */
export function declareZdtm(flavor: string, names?: string[], options: Partial<ZdtmOptions> = {}): void {
  const opts = { ...currentOptions(), ...options };
  const o: ZdtmOptions = { ...opts, work: opts.work ?? path.join(os.tmpdir(), 'zdtm-work-default') };
  const wanted: string[] | null = names ?? opts.tests;
  const expected = readExpected();
  const all: ZdtmTest[] = listTests();
  if (names) {
    const unknown = names.filter((n) => !all.some((t) => t.name === n));
    if (unknown.length) throw new Error(`unknown zdtm tests: ${unknown.join(' ')}`);
  }
  test.describe.configure({ mode: 'parallel' });
  for (const t of all) {
    if (wanted && !wanted.includes(t.name)) continue;
    if (!t.desc.flavors.includes(flavor)) continue;
    test(t.name, { tag: `@${t.dir}` }, async ({}, testInfo) => {
      const skip = findSkip(expected, t.name, flavor);
      // the only skips: committed in zdtm/expected-skips.json, with their reason
      test.skip(!!skip, `expected skip: ${skip?.reason}`);
      await runZdtmTest(t, flavor, o, testInfo);
    });
  }
}
