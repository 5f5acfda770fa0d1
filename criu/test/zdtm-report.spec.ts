// The zdtm runner's HTML report: a tiny zdtm run (env00 without checkpoint, and umask00 in break
// mode), then the report opened in Debian's chromium must show each test with its verdict and
// its logs.
import { test, expect, chromium, type Browser, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { repo, tmpdir } from './lib.js';

test.describe.configure({ mode: 'serial' });

function zdtm(args: string[]): { code: number; out: string } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_)/.test(k)));
  const r = spawnSync(process.execPath, [path.join(repo, 'zdtm', 'run.mjs'), '--no-build', ...args], { cwd: repo, encoding: 'utf8', env, timeout: 150_000 });
  return { code: r.status ?? 1, out: `${r.stdout}\n${r.stderr}` };
}

/** Serves dir on 127.0.0.1; resolves with the base URL and a closer. */
async function serve(dir: string): Promise<{ url: string; close: () => Promise<void> }> {
  const types: Record<string, string> = {
    '.html': 'text/html',
    '.js': 'text/javascript',
    '.css': 'text/css',
    '.json': 'application/json',
    '.svg': 'image/svg+xml',
    '.zip': 'application/zip',
  };
  const server = http.createServer((req, res) => {
    const p = path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    const file = path.join(dir, p === '/' ? 'index.html' : p);
    if (!file.startsWith(dir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

let browser: Browser;
test.beforeAll(async () => {
  test.setTimeout(60_000);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});
test.afterAll(async () => {
  await browser?.close();
});

/** Opens the report, finds the test in the list with its status, opens it; returns the page. */
async function openTest(url: string, title: string, status: 'passed' | 'failed'): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  const row = page.locator('.test-file-test').filter({ hasText: title });
  await expect(row).toHaveCount(1);
  await expect(row.locator(`[aria-label="${status}"], .color-icon-success, .color-text-danger`).first()).toBeVisible();
  await row.getByRole('link', { name: title }).first().click();
  await expect(page).toHaveURL(/testId=/);
  await expect(page.getByText(title, { exact: true }).first()).toBeVisible();
  return page;
}

test('a zdtm run writes an HTML report that shows each test, its verdict and its logs', async () => {
  test.setTimeout(300_000);
  const base = tmpdir('zdtm-report');
  const runs = [
    { args: ['--nocr', '-t', 'env00', '-f', 'h'], title: 'env00', verdict: /verdict\s*:?\s*PASS/, outfile: 'PASS' },
    { args: ['--nocr', '--break', '-t', 'umask00', '-f', 'h'], title: 'umask00', verdict: /verdict\s*:?\s*FAIL: /, outfile: 'FAIL: ' },
  ];
  for (const [i, run] of runs.entries()) {
    const report = path.join(base, `r${i}`);
    const r = zdtm([...run.args, '-k', 'never', '--report', report]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('1 passed, 0 failed, 0 skipped');
    expect(fs.readFileSync(path.join(report, 'junit.xml'), 'utf8')).toContain(`name="${run.title}`);
    const srv = await serve(path.join(report, 'html'));
    try {
      const page = await openTest(srv.url, run.title, 'passed');
      // the verdict (an annotation) and the project (flavor)
      await expect(page.getByRole('region').filter({ hasText: 'verdict:' }).first()).toContainText(run.verdict);
      await expect(page.getByText('zdtm-h').first()).toBeVisible();
      // the logs are attached: the outfile (its last line is the verdict), the launcher's log
      // and the subreaper's events
      for (const name of ['outfile', 'launch.log', 'subreaper events']) {
        await expect(page.getByText(name, { exact: true }).first()).toBeVisible();
      }
      const outfile = page
        .getByRole('group')
        .filter({ hasText: /^outfile/ })
        .first();
      await outfile.click();
      await expect(outfile).toContainText(run.outfile);
      await expect(
        page
          .getByRole('group')
          .filter({ hasText: /^subreaper events/ })
          .first(),
      ).toBeVisible();
      await page.close();
    } finally {
      await srv.close();
    }
  }
  fs.rmSync(base, { recursive: true, force: true });
});
