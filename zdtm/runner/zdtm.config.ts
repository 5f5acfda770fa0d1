// Playwright config of a zdtm run; zdtm/run.mjs passes the run's options in ZDTM_OPTS.
import { defineConfig } from '@playwright/test';
import * as path from 'node:path';
import { currentOptions, repo } from './catalog.mjs';

const o = currentOptions();
const report: string = o.report ?? path.join(repo, 'reports', 'zdtm');

export default defineConfig({
  testDir: '.',
  timeout: 120_000,
  retries: 0,
  workers: o.jobs ?? undefined,
  fullyParallel: true,
  maxFailures: o.keepGoing ? 0 : 1,
  outputDir: path.join(report, 'test-results'),
  reporter: [
    ['list'],
    ['junit', { outputFile: path.join(report, 'junit.xml') }],
    ['html', { outputFolder: path.join(report, 'html'), open: 'never' }],
    ['./summary-reporter.mjs', { json: path.join(report, 'summary.json') }],
    ['../../ci/summary-reporter.mjs'],
  ],
  projects: (o.flavors as string[]).map((f) => ({ name: `zdtm-${f}`, testMatch: new RegExp(`(^|/)${f}\\.spec\\.ts$`), metadata: { flavor: f } })),
});
