// The cells of a zdtm matrix: `npm run zdtm -- --vm SPEC [zdtm options]` runs the selection
// in one qemu guest per kernel and CPU (and on the host for `host`), each cell's Playwright
// report, summary, console and kept test directories under REPORT/cells/ID, then one matrix
// (ci/vm/matrix.mjs). A cell's folder is its bundle: meta.json names the kernel package and
// CPU it ran on and the failed runs, cmd.sh the exact command; `--repro CELLDIR` runs those
// failed runs again on the same kernel and CPU.
//
// SPEC: a comma list of [ARCH:]SERIES[@CPU], ARCH alone (its default kernel) or host;
// ARCH x86_64 (default) or aarch64, SERIES a Debian 12 kernel (6.1, 6.12), CPU a qemu -cpu
// model (default: host under KVM, max under emulation; qemu64 has no XSAVE).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VmError } from './kernel.mjs';
import { guestFor, hostArch } from './guest.mjs';
import { runInGuest } from './boot.mjs';
import { readRows, writeMatrix } from './matrix.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARCHES = ['x86_64', 'aarch64'];
const DEFAULT_SERIES = '6.1';

/** the cells of a --vm SPEC: [{ id, host } | { id, arch, series, cpu }] */
export function parseSpec(spec) {
  const cells = [];
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (part === 'host') {
      cells.push({ id: 'host', host: true, arch: hostArch });
      continue;
    }
    const m = /^(?:(x86_64|aarch64):)?(\d+\.\d+)?(?:@([\w.,-]+))?$/.exec(ARCHES.includes(part) ? `${part}:` : part);
    if (!m || (!m[1] && !m[2])) throw new VmError(`--vm: "${part}" is not [ARCH:]SERIES[@CPU], ARCH or host (ARCH: ${ARCHES.join(', ')}; SERIES: 6.1, 6.12)`);
    const arch = m[1] ?? 'x86_64';
    const series = m[2] ?? DEFAULT_SERIES;
    const id = `${arch}-${series}${m[3] ? `-${m[3]}` : ''}`;
    if (cells.some((c) => c.id === id)) continue;
    cells.push({ id, arch, series, cpu: m[3] });
  }
  if (!cells.length) throw new VmError('--vm: no cells given');
  return cells;
}

function shq(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** where a guest of another CPU finds its builds (crossBuild), bound over the host's */
const crossDirs = (arch) => ['native/build', 'zdtm/build'].map((d) => [path.join(repo, d, arch), path.join(repo, d)]);

/**
 * native/ and the zdtm programs built for a guest of another CPU (gcc-ARCH-linux-gnu), under
 * native/build/ARCH and zdtm/build/ARCH; the launcher runs the guest root's Node
 * (/usr/local/bin/node, ci/vm/rootfs.mjs).
 */
function crossBuild(arch, say) {
  const cc = `${arch}-linux-gnu-gcc`;
  if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new VmError(`an ${arch} cell needs ${cc} for its builds: apt-get install gcc-${arch.replace('_', '-')}-linux-gnu (npm run pretest does)`);
  }
  say(`${arch}: building native/ and zdtm/ with ${cc}`);
  const jobs = `-j${Math.max(1, os.cpus().length)}`;
  for (const [dir, extra] of [
    ['native', ['NODE=/usr/local/bin/node']],
    ['zdtm', []],
  ]) {
    const r = spawnSync('make', ['-s', jobs, '-C', dir, `CC=${cc}`, `B=build/${arch}`, ...extra], { cwd: repo, encoding: 'utf8' });
    if (r.status !== 0) throw new VmError(`the ${arch} build of ${dir}/ failed:\n${(r.stderr || r.stdout).trim().split('\n').slice(-15).join('\n')}`);
  }
}

/** the script a guest runs: the zdtm runner on the shared tree, its kept test dirs copied out */
function guestScript(zdtmArgs, arch) {
  return [
    '#!/bin/sh',
    `# a VM cell of ${repo}: ${new Date().toISOString()}`,
    ...(arch === hostArch ? [] : crossDirs(arch).map(([from, to]) => `mount --bind ${shq(from)} ${shq(to)} || exit 3`)),
    `cd ${shq(repo)} || exit 3`,
    `node zdtm/run.mjs --no-build ${zdtmArgs.map(shq).join(' ')} --report /results/report`,
    'rc=$?',
    'mkdir -p /results/kept',
    'for d in /tmp/zdtm-run-*; do [ -d "$d" ] && cp -a "$d" /results/kept/; done',
    'exit $rc',
    '',
  ].join('\n');
}

async function runHost(cell, dir, zdtmArgs, say) {
  const t0 = Date.now();
  fs.writeFileSync(
    path.join(dir, 'cmd.sh'),
    `#!/bin/sh\ncd ${shq(repo)} && node zdtm/run.mjs --no-build ${zdtmArgs.map(shq).join(' ')} --report ${shq(path.join(dir, 'report'))}\n`,
  );
  const out = fs.openSync(path.join(dir, 'out.log'), 'w');
  const child = spawn('sh', [path.join(dir, 'cmd.sh')], { stdio: ['ignore', out, out] });
  const rc = await new Promise((resolve) => child.on('exit', (c) => resolve(c ?? 1)));
  fs.closeSync(out);
  say(`${cell.id}: rc ${rc}`);
  return { rc, kernel: os.release(), accel: 'none', cpu: 'host', bootMs: 0, ms: Date.now() - t0 };
}

async function runVm(cell, dir, zdtmArgs, o, say) {
  // a guest of another CPU has its own root (ci/vm/rootfs.mjs: Node for its CPU) and builds
  if (cell.arch !== hostArch) crossBuild(cell.arch, say);
  say(`${cell.id}: making the guest`);
  const guest = o.pin ? guestFor(cell.series, cell.arch, say, o.pin) : guestFor(cell.series, cell.arch, say);
  say(`${cell.id}: booting ${guest.kernel.release} (${guest.arch})`);
  const r = await runInGuest(guest, {
    results: dir,
    cmd: guestScript(zdtmArgs, cell.arch),
    cpu: cell.cpu,
    keep: o.keep,
    timeoutMs: o.timeoutMs,
    onLine: (l) => {
      if (/^\s+(ok|FAIL|skip|fixme)\s|^\s+✘/.test(l) || /^\s*\d+ (passed|failed) \(/.test(l)) say(`${cell.id}: ${l.trim()}`);
    },
  });
  return { ...r, kernel: guest.kernel.release, pkg: guest.kernel.pkg, version: guest.kernel.version, guestBuildMs: guest.builtMs };
}

/**
 * whether a cell failed beyond its failed tests: it did not finish, or its run exited non-zero
 * without a failed row (a crash of the runner, an error outside every test); it counts as one
 * more failure in the totals
 */
export const cellBroke = (m) => Boolean(m.error || (m.rc !== undefined && m.rc !== 0 && !m.counts?.FAIL));

/**
 * Runs every cell, one after the other (a guest takes the machine's CPUs), then writes the
 * matrix; returns { failed } (cells that did not run count as failed).
 */
export async function runCells(cells, zdtmArgs, o) {
  const say = (m) => process.stdout.write(`zdtm-vm: ${m}\n`);
  fs.rmSync(o.report, { recursive: true, force: true });
  const metas = [];
  for (const cell of cells) {
    const dir = path.join(o.report, 'cells', cell.id);
    fs.mkdirSync(dir, { recursive: true });
    const meta = { id: cell.id, arch: cell.arch, series: cell.series ?? null, args: zdtmArgs, started: new Date().toISOString() };
    try {
      Object.assign(meta, cell.host ? await runHost(cell, dir, zdtmArgs, say) : await runVm(cell, dir, zdtmArgs, o, say));
    } catch (e) {
      if (!(e instanceof VmError)) throw e;
      meta.error = e.message;
      say(`${cell.id}: ${e.message}`);
    }
    const rows = readRows(dir);
    meta.failed = rows.filter((r) => r.status === 'FAIL').map((r) => ({ project: r.project, title: r.title }));
    meta.counts = Object.fromEntries(['ok', 'FAIL', 'skip', 'fixme'].map((s) => [s, rows.filter((r) => r.status === s).length]));
    fs.writeFileSync(path.join(dir, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
    const broke = cellBroke(meta) ? 1 : 0;
    say(
      `${cell.id}: ${meta.counts.ok} passed, ${meta.counts.FAIL + broke} failed, ${meta.counts.skip + meta.counts.fixme} skipped${meta.error ? ' (the cell did not finish)' : broke ? ` (the run exited ${meta.rc} with no failed test)` : ''}`,
    );
    metas.push(meta);
  }
  const file = writeMatrix(o.report, metas);
  say(`matrix: ${file}`);
  return { failed: metas.filter((m) => m.error || m.rc !== 0).length, metas };
}

/** `--repro CELLDIR`: the failed runs of a cell again, on its kernel package and CPU */
export async function repro(bundle, o) {
  const meta = JSON.parse(fs.readFileSync(path.join(bundle, 'meta.json'), 'utf8'));
  if (!meta.failed?.length && !meta.error) throw new VmError(`${bundle}: nothing failed in this cell`);
  const tests = [...new Set(meta.failed.map((f) => f.title))];
  const flavors = [...new Set(meta.failed.map((f) => f.project.replace(/^zdtm-/, '')))];
  // the selection of the cell minus its own selection options, then only the failed runs
  const keepArgs = [];
  for (let i = 0; i < meta.args.length; i++) {
    const a = meta.args[i];
    if (['-t', '-T', '-x', '-f', '--test', '--tests', '--exclude', '--flavor'].includes(a)) i++;
    else if (a !== '-a' && a !== '--all') keepArgs.push(a);
  }
  const args = tests.length ? [...keepArgs, ...tests.flatMap((t) => ['-t', t]), '-f', flavors.join(',')] : meta.args;
  const cell =
    meta.id === 'host'
      ? { id: 'host', host: true }
      : { id: meta.id, arch: meta.arch, series: meta.series, cpu: meta.cpu === 'host' || meta.cpu === 'max' ? undefined : meta.cpu };
  return runCells([cell], args, { ...o, pin: meta.pkg ? { pkg: meta.pkg, version: meta.version } : undefined });
}

/** validates the selection on the host (fast, before any guest boots) */
export function checkSelection(zdtmArgs) {
  const r = spawnSync(process.execPath, [path.join(repo, 'zdtm', 'run.mjs'), '--no-build', ...zdtmArgs, '--list'], { encoding: 'utf8' });
  if (r.status !== 0) throw new VmError(`the selection does not hold: ${(r.stderr || r.stdout).trim()}`);
}
