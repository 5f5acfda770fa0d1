// The VM matrix (ci/vm/, `npm run zdtm -- --vm SPEC`): the spec grammar, the one report as a
// user sees it in Chromium, and the smoke: real guests of a kernel other than the host's boot,
// run zdtm programs with a real dump and restore inside, and bring their results back into
// one matrix; one of them on a CPU without XSAVE (qemu64: the FPU state through NT_PRFPREG).
import { test, expect, chromium } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repo, tmpdir } from './lib.js';
import { hostArch, listTests, readDesc } from '../../zdtm/runner/catalog.mjs';
// @ts-expect-error: plain ESM modules of ci/vm without types
import { parseSpec } from '../../ci/vm/cells.mjs';
// @ts-expect-error: plain ESM modules of ci/vm without types
import { writeMatrix } from '../../ci/vm/matrix.mjs';

test('--vm SPEC: kernels, CPUs and the host as cells; a bad part is named', () => {
  expect(parseSpec('6.1,6.12,aarch64,aarch64:6.12,6.1@qemu64,host')).toEqual([
    { id: 'x86_64-6.1', arch: 'x86_64', series: '6.1', cpu: undefined },
    { id: 'x86_64-6.12', arch: 'x86_64', series: '6.12', cpu: undefined },
    { id: 'aarch64-6.1', arch: 'aarch64', series: '6.1', cpu: undefined },
    { id: 'aarch64-6.12', arch: 'aarch64', series: '6.12', cpu: undefined },
    { id: 'x86_64-6.1-qemu64', arch: 'x86_64', series: '6.1', cpu: 'qemu64' },
    { id: 'host', host: true, arch: hostArch },
  ]);
  expect(() => parseSpec('6.1,sparc')).toThrow(/"sparc" is not \[ARCH:\]SERIES\[@CPU\], ARCH or host/);
  const r = spawnSync(process.execPath, [path.join(repo, 'zdtm', 'run.mjs'), '--no-build', '--vm', 'riscv', '-t', 'pipe00'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--vm: "riscv" is not/);
});

test('per-CPU tests: a .desc names its CPUs ("arch"), the aarch64 build leaves the x86 ones out, the runner skips them elsewhere', () => {
  const dir = tmpdir('desc');
  const desc = (d: object) => {
    const f = path.join(dir, 't.desc');
    fs.writeFileSync(f, JSON.stringify(d));
    return f;
  };
  expect(readDesc(desc({})).arch).toBeNull();
  expect(readDesc(desc({ arch: ['x86_64'] })).arch).toEqual(['x86_64']);
  expect(() => readDesc(desc({ arch: ['sparc'] }))).toThrow(/"arch" lists CPUs of x86_64, aarch64/);
  const x86 = listTests()
    .filter((t) => t.desc.arch?.join() === 'x86_64')
    .map((t) => t.name);
  expect(x86).toEqual(['fpu00', 'fpu01', 'fpu02', 'gdt_tls00', 'tls00']);
  const make = spawnSync('make', ['-n', '-C', path.join(repo, 'zdtm'), 'CC=aarch64-linux-gnu-gcc', `B=${path.join(dir, 'build')}`, 'static'], {
    encoding: 'utf8',
  });
  expect(make.status, make.stderr).toBe(0);
  expect(make.stdout).toMatch(/-o \S+\/static\/pipe00 /);
  for (const t of x86) expect(make.stdout).not.toMatch(new RegExp(`static/${t}\\b`));
  const host = spawnSync('make', ['-n', '-C', path.join(repo, 'zdtm'), `B=${path.join(dir, 'build-host')}`, 'static'], { encoding: 'utf8' });
  for (const t of x86) expect(host.stdout).toMatch(new RegExp(`static/${t}\\b`));
});

test('the Vagrantfile validates (vagrant validate), its provisioning parses, and a broken one is caught', () => {
  const validate = (cwd: string) =>
    spawnSync('vagrant', ['validate', '--ignore-provider'], { cwd, encoding: 'utf8', env: { ...process.env, VAGRANT_CWD: cwd } });
  const ok = validate(repo);
  expect(ok.status, `${ok.stdout}${ok.stderr}`).toBe(0);
  expect(ok.stdout).toMatch(/Vagrantfile validated successfully/);
  const text = fs.readFileSync(path.join(repo, 'Vagrantfile'), 'utf8');
  expect(text).toMatch(/config\.vm\.define name/);
  // the provisioning script as Ruby hands it to the guest's shell
  const script = spawnSync(
    'ruby',
    ['-e', `src = File.read(ARGV[0]); eval(src[/PROVISION = <<~SHELL.*?^SHELL$/m]); print PROVISION`, path.join(repo, 'Vagrantfile')],
    { encoding: 'utf8' },
  );
  expect(script.status, script.stderr).toBe(0);
  const sh = spawnSync('bash', ['-n'], { input: script.stdout, encoding: 'utf8' });
  expect(sh.status, sh.stderr).toBe(0);
  const broken = tmpdir('vagrant');
  fs.writeFileSync(path.join(broken, 'Vagrantfile'), text.replace('m.vm.box = box', 'm.vm.box = box\n      m.vm.no_such_setting = 1'));
  const bad = validate(broken);
  expect(bad.status).not.toBe(0);
  expect(`${bad.stdout}${bad.stderr}`).toMatch(/no_such_setting/);
});

/** a report folder of two made-up cells, as runCells leaves it */
function fakeReport(dir: string): void {
  const cell = (id: string, rows: object[]) => {
    const d = path.join(dir, 'cells', id, 'report');
    fs.mkdirSync(path.join(d, 'html'), { recursive: true });
    fs.writeFileSync(path.join(d, 'summary.json'), JSON.stringify({ status: 'failed', rows }));
    fs.writeFileSync(path.join(d, 'html', 'index.html'), `<html><body>report of ${id}</body></html>`);
    fs.writeFileSync(
      path.join(d, 'junit.xml'),
      `<?xml version="1.0"?>\n<testsuites><testsuite name="h.spec.ts" tests="1"><testcase name="pipe00"/></testsuite></testsuites>`,
    );
    fs.writeFileSync(path.join(dir, 'cells', id, 'console.log'), 'criu-vm: up\n');
  };
  const row = (project: string, title: string, status: string, what: string) => ({ project, title, status, what, secs: '1.0' });
  cell('x86_64-6.1', [row('zdtm-h', 'pipe00', 'ok', 'verdict: PASS'), row('zdtm-h', 'uffd_wp', 'skip', 'expected skip: no uffd_wp_async on 6.1')]);
  cell('x86_64-6.12', [row('zdtm-h', 'pipe00', 'ok', 'verdict: PASS'), row('zdtm-h', 'uffd_wp', 'ok', 'verdict: PASS')]);
}

test('the matrix report: test × kernel × CPU × flavor, each cell linking to its run, differences with their reason (Chromium)', async () => {
  const dir = tmpdir('matrix');
  fakeReport(dir);
  const metas = [
    {
      id: 'x86_64-6.1',
      arch: 'x86_64',
      kernel: '6.1.0-57-amd64',
      cpu: 'max',
      accel: 'tcg',
      bootMs: 7000,
      ms: 60000,
      counts: { ok: 1, FAIL: 0, skip: 1, fixme: 0 },
    },
    {
      id: 'x86_64-6.12',
      arch: 'x86_64',
      kernel: '6.12.118+deb12-amd64',
      cpu: 'max',
      accel: 'tcg',
      bootMs: 6000,
      ms: 50000,
      counts: { ok: 2, FAIL: 0, skip: 0, fixme: 0 },
    },
  ];
  const file = writeMatrix(dir, metas);
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
  try {
    const page = await browser.newPage();
    await page.goto(`file://${file}`);
    await expect(page.locator('th.cellhead .kernel')).toHaveText(['6.1.0-57-amd64', '6.12.118+deb12-amd64']);
    await expect(page.locator('th.cellhead .cpu').first()).toHaveText('x86_64 · max · tcg');
    const uffd = page.locator('tr[data-test="uffd_wp"]');
    await expect(uffd).toHaveClass(/differs/);
    await expect(uffd.locator('td.why')).toHaveText('x86_64-6.1/h: skip expected skip: no uffd_wp_async on 6.1');
    await expect(page.locator('tr[data-test="pipe00"]')).not.toHaveClass(/differs/);
    const cell = uffd.locator('td[data-cell="x86_64-6.1"][data-flavor="h"]');
    await expect(cell).toHaveClass('skip');
    await expect(cell).toHaveAttribute('title', 'expected skip: no uffd_wp_async on 6.1');
    await cell.locator('a').click();
    await expect(page.locator('body')).toHaveText('report of x86_64-6.1');
  } finally {
    await browser.close();
  }
  const junit = fs.readFileSync(path.join(dir, 'junit.xml'), 'utf8');
  expect(junit).toContain('<testsuite name="x86_64-6.1 › h.spec.ts"');
  expect(junit).toContain('<testsuite name="x86_64-6.12 › h.spec.ts"');
});

test('smoke: Debian 6.1 guests (a CPU with XSAVE and qemu64 without) run zdtm programs with a real dump and restore, into one matrix', () => {
  test.setTimeout(25 * 60_000);
  const report = path.join(tmpdir('vm-smoke'), 'report');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_|ZDTM_OPTS)/.test(k)));
  const args = [
    '--no-build',
    '--vm',
    '6.1,6.1@qemu64',
    '-t',
    'pipe00',
    '-t',
    'fork00',
    '-t',
    'fpu00',
    '-t',
    'posix_timers',
    '-f',
    'h,ns',
    '--keep-going',
    '--report',
    report,
  ];
  const r = spawnSync(process.execPath, [path.join(repo, 'zdtm', 'run.mjs'), ...args], { cwd: repo, encoding: 'utf8', env, timeout: 24 * 60_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  expect(r.status, out).toBe(0);
  expect(out).toMatch(/^16 passed, 0 failed, 0 skipped$/m);
  for (const id of ['x86_64-6.1', 'x86_64-6.1-qemu64']) {
    const meta = JSON.parse(fs.readFileSync(path.join(report, 'cells', id, 'meta.json'), 'utf8'));
    expect(meta.kernel, id).toMatch(/^6\.1\.0-\d+-amd64$/);
    expect(meta.rc, id).toBe(0);
    expect(meta.counts, id).toEqual({ ok: 8, FAIL: 0, skip: 0, fixme: 0 });
    // the guest ran the tests on its own kernel, not the host's
    expect(fs.readFileSync(path.join(report, 'cells', id, 'console.log'), 'utf8'), id).toMatch(/criu-vm: up: 6\.1\.0-\d+-amd64 x86_64/);
  }
  expect(fs.readFileSync(path.join(report, 'cells', 'x86_64-6.1-qemu64', 'qemu.cmd'), 'utf8')).toMatch(/-cpu qemu64 /);
  const html = fs.readFileSync(path.join(report, 'index.html'), 'utf8');
  expect(html.match(/<td class="ok"/g)?.length).toBe(16);
});

test('an aarch64 guest boots the Debian arm64 kernel on a root of its CPU (the Debian runtime, Node 20 for arm64) with the project bound in', async () => {
  test.setTimeout(10 * 60_000);
  const { guestFor } = await import(path.join(repo, 'ci', 'vm', 'guest.mjs'));
  const { runInGuest } = await import(path.join(repo, 'ci', 'vm', 'boot.mjs'));
  const guest = guestFor('6.1', 'aarch64');
  expect(guest.kernel.release).toMatch(/^6\.1\.0-\d+-arm64$/);
  const results = tmpdir('vm-arm64');
  const cmd = `uname -m\nnode -p 'process.arch + " " + process.versions.node.split(".")[0]'\ncd '${repo}' && node -p 'require("./package.json").name'\n`;
  const r = await runInGuest(guest, { results, cmd, timeoutMs: 8 * 60_000 });
  const out = fs.readFileSync(path.join(results, 'out.log'), 'utf8');
  expect(r.rc, out).toBe(0);
  expect(out).toBe('aarch64\narm64 20\ncriu-ts\n');
  expect(fs.readFileSync(path.join(results, 'console.log'), 'utf8')).toMatch(/criu-vm: up: 6\.1\.0-\d+-arm64 aarch64/);
});

test('smoke: an aarch64 guest (cross-built native/ and zdtm/) passes zdtm programs in flavors h and ns, its FPSIMD, SVE and PAC state among them', () => {
  test.setTimeout(25 * 60_000);
  const report = path.join(tmpdir('vm-smoke-arm64'), 'report');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_|ZDTM_OPTS)/.test(k)));
  const tests = ['pipe00', 'fork00', 'maps00', 'arm_fpsimd00', 'arm_pac00', 'arm_sve00'];
  const args = ['--no-build', '--vm', 'aarch64:6.1', ...tests.flatMap((t) => ['-t', t]), '-f', 'h,ns', '--keep-going', '--report', report];
  const r = spawnSync(process.execPath, [path.join(repo, 'zdtm', 'run.mjs'), ...args], { cwd: repo, encoding: 'utf8', env, timeout: 24 * 60_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  expect(r.status, out).toBe(0);
  expect(out).toMatch(/^12 passed, 0 failed, 0 skipped$/m);
  const meta = JSON.parse(fs.readFileSync(path.join(report, 'cells', 'aarch64-6.1', 'meta.json'), 'utf8'));
  expect(meta.kernel).toMatch(/^6\.1\.0-\d+-arm64$/);
  expect(meta.counts).toEqual({ ok: 12, FAIL: 0, skip: 0, fixme: 0 });
  // the programs ran in the guest, built for its CPU
  expect(fs.readFileSync(path.join(report, 'cells', 'aarch64-6.1', 'console.log'), 'utf8')).toMatch(/criu-vm: up: 6\.1\.0-\d+-arm64 aarch64/);
});
