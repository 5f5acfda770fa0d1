// Unit tests of the bench's pure parts: npx playwright test -c bench
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'test',
  testMatch: /.*\.spec\.ts/,
  reporter: [['list']],
});
