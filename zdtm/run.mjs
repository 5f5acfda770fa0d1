#!/usr/bin/env node
// The zdtm runner: `npm run zdtm -- [options]`. It selects tests, turns the options into
// ZDTM_OPTS and runs Playwright with zdtm/runner/zdtm.config.ts (one project per flavor:
// zdtm-h, zdtm-ns, zdtm-uns). See `npm run zdtm -- --help`.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FLAVORS, defaultOptions, listTests, repo } from './runner/catalog.mjs';

const HELP = `usage: npm run zdtm -- [options] [-- playwright options]
selection:
  -t NAME            run this test (repeatable; also names a noauto test)
  -a                 run all tests but the noauto ones
  -T REGEX           run the tests whose name (or dir/name) matches (noauto excluded)
  -x REGEX           exclude the matching tests (repeatable)
  -f h,ns,uns        flavors (default: all; a test runs in those its .desc lists)
  --list             print the selection and exit
mode:
  --nocr             no checkpoint: start, SIGTERM, verdict (proves the test itself)
  --norst            dump with --leave-running, no restore
  --iters N          dump, restore, dump the restored tree ... N times
  --break            ZDTM_BREAK=1: every program breaks its state, its verdict must be FAIL
  --criu-bin PATH    criu-compatible binary (default $ZDTM_CRIU, else native/build/criu)
run:
  --keep-going       run on after a failure (default: stop at the first one)
  -j N               parallel workers (excl tests always run alone)
  -k always|never|failed   keep the per-test directories and images (default failed)
  --report DIR       HTML and JUnit reports there (default reports/zdtm)
  --no-build         do not run make/tsc first
kernels and CPUs (ci/vm/):
  --vm SPEC          run the selection in qemu guests, one cell per kernel and CPU, and write
                     one matrix (REPORT/index.html, REPORT/junit.xml); SPEC is a comma list
                     of [ARCH:]SERIES[@CPU], ARCH or host: 6.1, 6.12, aarch64, aarch64:6.12,
                     6.1@qemu64, host (guests are cached in $CRIU_VM_CACHE, default
                     /var/cache/criu-ts/vm)
  --repro CELLDIR    run a cell's failed runs again on its kernel package and CPU
                     (CELLDIR = REPORT/cells/ID of an earlier --vm run)
  --keep             with --vm/--repro: a shell on the guest's console once the tests are done
  --vm-timeout MIN   a cell's time limit (default 60)`;

function die(msg) {
  process.stderr.write(`zdtm: ${msg}\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
const o = {
  names: [],
  all: false,
  regex: null,
  exclude: [],
  flavors: [...FLAVORS],
  list: false,
  nocr: false,
  norst: false,
  iters: 1,
  breakMode: false,
  criuBin: defaultOptions().criuBin,
  keepGoing: false,
  jobs: null,
  keep: 'failed',
  report: path.join(repo, 'reports', 'zdtm'),
  build: true,
  vm: null,
  repro: null,
  keepGuest: false,
  vmTimeout: 60,
};
// the options a VM cell's runner gets (the selection and the mode; not the VM's own, the report, the build)
const forward = [];
let passthrough = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const from = i;
  const val = () => {
    if (i + 1 >= argv.length) die(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '-h':
    case '--help':
      process.stdout.write(`${HELP}\n`);
      process.exit(0);
      break;
    case '-t':
    case '--test':
      o.names.push(val());
      break;
    case '-a':
    case '--all':
      o.all = true;
      break;
    case '-T':
    case '--tests':
      o.regex = new RegExp(val());
      break;
    case '-x':
    case '--exclude':
      o.exclude.push(new RegExp(val()));
      break;
    case '-f':
    case '--flavor':
      o.flavors = val().split(',').filter(Boolean);
      break;
    case '--list':
      o.list = true;
      break;
    case '--nocr':
      o.nocr = true;
      break;
    case '--norst':
      o.norst = true;
      break;
    case '--iters':
      o.iters = Number(val());
      break;
    case '--break':
      o.breakMode = true;
      break;
    case '--criu-bin':
      o.criuBin = path.resolve(val());
      break;
    case '--keep-going':
      o.keepGoing = true;
      break;
    case '-j':
    case '--jobs':
      o.jobs = Number(val());
      break;
    case '-k':
    case '--keep':
      o.keep = val();
      break;
    case '--report':
      o.report = path.resolve(val());
      break;
    case '--no-build':
      o.build = false;
      break;
    case '--vm':
      o.vm = val();
      break;
    case '--repro':
      o.repro = path.resolve(val());
      break;
    case '--keep':
      o.keepGuest = true;
      break;
    case '--vm-timeout':
      o.vmTimeout = Number(val());
      break;
    case '--':
      passthrough = argv.slice(i + 1);
      i = argv.length;
      break;
    default:
      die(`unknown option ${a} (see --help)`);
  }
  if (!['--report', '--no-build', '--vm', '--repro', '--keep', '--vm-timeout'].includes(a)) forward.push(...argv.slice(from, i + 1));
}
for (const f of o.flavors) if (!FLAVORS.includes(f)) die(`unknown flavor ${f}`);
if (!['always', 'never', 'failed'].includes(o.keep)) die('-k takes always, never or failed');
if (!Number.isInteger(o.iters) || o.iters < 1) die('--iters takes a positive number');
if (o.jobs !== null && (!Number.isInteger(o.jobs) || o.jobs < 1)) die('-j takes a positive number');
if (o.nocr && (o.norst || o.iters > 1)) die('--nocr does not go with --norst or --iters');
if (!o.names.length && !o.all && !o.regex && !o.repro) die('nothing to run: give -t NAME, -T REGEX or -a (see --help)');
if ((o.keepGuest || o.vmTimeout !== 60) && !o.vm && !o.repro) die('--keep and --vm-timeout go with --vm or --repro');
if (!(o.vmTimeout > 0)) die('--vm-timeout takes a positive number of minutes');

if (o.build) {
  const steps = [
    ['make', ['-s', '-C', 'native']],
    ['make', ['-s', '-C', 'zdtm']],
    ['npm', ['run', '-s', 'build:ts']],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { cwd: repo, stdio: 'inherit' });
    if (r.status !== 0) die(`${cmd} ${args.join(' ')} failed`);
  }
}

if ((o.vm || o.repro) && !o.list) {
  if (o.vm && o.repro) die('--vm and --repro do not go together');
  const { parseSpec, runCells, repro, checkSelection, cellBroke } = await import('../ci/vm/cells.mjs');
  const vo = { report: o.report, keep: o.keepGuest, timeoutMs: o.vmTimeout * 60_000 };
  let r;
  try {
    if (o.repro) r = await repro(o.repro, { ...vo, report: path.join(o.report, 'repro') });
    else {
      checkSelection(forward);
      r = await runCells(parseSpec(o.vm), forward, vo);
    }
  } catch (e) {
    if (e?.constructor?.name !== 'VmError') throw e;
    die(e.message);
  }
  const sum = (k) => r.metas.reduce((n, m) => n + (m.counts?.[k] ?? 0), 0);
  console.log(`${sum('ok')} passed, ${sum('FAIL') + r.metas.filter(cellBroke).length} failed, ${sum('skip') + sum('fixme')} skipped`);
  process.exit(r.failed ? 1 : 0);
}

const catalog = listTests();
const byName = new Map(catalog.map((t) => [t.name, t]));
const selected = new Set();
for (const n of o.names) {
  const name = n.replace(/^(zdtm\/)?(static|transition)\//, '');
  if (!byName.has(name)) die(`no such test: ${n}`);
  selected.add(name);
}
for (const t of catalog) {
  const auto = !t.desc.flags.includes('noauto');
  if (o.all && auto) selected.add(t.name);
  if (o.regex && auto && (o.regex.test(t.name) || o.regex.test(`${t.dir}/${t.name}`))) selected.add(t.name);
}
for (const x of o.exclude) for (const n of [...selected]) if (x.test(n) || x.test(`${byName.get(n).dir}/${n}`)) selected.delete(n);
const tests = catalog.filter((t) => selected.has(t.name));
const runs = tests.flatMap((t) => o.flavors.filter((f) => t.desc.flavors.includes(f)).map((f) => `${f}:${t.name}`));
if (!runs.length) die('the selection is empty');

if (o.list) {
  for (const t of tests)
    console.log(
      `${t.dir}/${t.name}  [${o.flavors.filter((f) => t.desc.flavors.includes(f)).join(',')}]${t.desc.flags.length ? `  flags: ${t.desc.flags.join(',')}` : ''}`,
    );
  process.exit(0);
}
if (process.getuid() !== 0) die('the zdtm runner needs root (it drops test programs to uid 18943 and builds namespaces)');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'zdtm-run-'));
fs.chmodSync(work, 0o755); // test programs run as uid 18943 below it
const mode = o.nocr ? 'no C/R (--nocr)' : `${o.norst ? 'dump --leave-running' : 'dump+restore'}${o.iters > 1 ? ` x${o.iters}` : ''} with ${o.criuBin}`;
console.log(
  `zdtm: ${tests.length} tests, ${runs.length} runs in flavors ${o.flavors.join(',')}; ${mode}${o.breakMode ? '; break mode (verdicts must be FAIL)' : ''}`,
);
console.log(`zdtm: work dir ${work}, reports in ${o.report}`);

const opts = {
  tests: tests.map((t) => t.name),
  flavors: o.flavors,
  nocr: o.nocr,
  norst: o.norst,
  iters: o.iters,
  breakMode: o.breakMode,
  keep: o.keep,
  criuBin: o.criuBin,
  work,
  report: o.report,
  jobs: o.jobs ?? os.cpus().length,
  keepGoing: o.keepGoing,
  userBase: 100000,
};
// a run started from inside another Playwright run (the report unit test) must not inherit its worker's settings
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(TEST_WORKER_INDEX|TEST_PARALLEL_INDEX|PW_|PLAYWRIGHT_)/.test(k)));
env.ZDTM_OPTS = JSON.stringify(opts);
fs.rmSync(o.report, { recursive: true, force: true });
// Playwright's own CLI on this Node: a guest root has Node without npm (ci/vm/rootfs.mjs)
const cli = path.join(repo, 'node_modules', '@playwright', 'test', 'cli.js');
const r = spawnSync(process.execPath, [cli, 'test', '-c', path.join('zdtm', 'runner', 'zdtm.config.ts'), ...passthrough], { cwd: repo, stdio: 'inherit', env });
if (r.error) console.error(`zdtm: cannot run Playwright (${cli}): ${r.error.message}`);

// nothing kept: drop the empty work dir
const leftover = (d) => fs.readdirSync(d, { withFileTypes: true }).some((e) => e.name !== '.locks' && (!e.isDirectory() || leftover(path.join(d, e.name))));
if (!leftover(work)) fs.rmSync(work, { recursive: true, force: true });
else console.log(`zdtm: kept test directories under ${work}`);
process.exit(r.status ?? 1);
