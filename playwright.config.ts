// The test runner for unit tests (criu/test) and the zdtm suite (zdtm/, added by its runner).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  timeout: 120_000,
  retries: 0,
  workers: 2,
  fullyParallel: false,
  reporter: [
    ['list'],
    ['junit', { outputFile: 'reports/junit.xml' }],
    ['html', { outputFolder: 'reports/html', open: 'never' }],
    ['./ci/summary-reporter.mjs'],
  ],
  projects: [
    { name: 'unit', testDir: 'criu/test', testMatch: /.*\.spec\.ts/ },
    // the bench's pure parts (medians, verdicts, the breakdown of a MISS); no time is asserted
    { name: 'bench', testDir: 'bench/test', testMatch: /.*\.spec\.ts/ },
    // the fast zdtm subset (zdtm/fast.json): real dump+restore in flavor h, see zdtm/run.mjs
    { name: 'zdtm-fast', testDir: 'zdtm/runner', testMatch: /fast\.spec\.ts/, fullyParallel: true },
    // every zdtm program in break mode without C/R (flavor h): each verdict must be FAIL, see zdtm/runner/break.spec.ts
    { name: 'zdtm-break', testDir: 'zdtm/runner', testMatch: /break\.spec\.ts/, fullyParallel: true },
  ],
});
