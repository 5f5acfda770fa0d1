#!/usr/bin/env node
// The image fuzzer: "bad images are refused, never crash".
//
//   npm run fuzz -- --cases N [--seed S] [--keep DIR] [--jobs 1|2] [--restore-share F]
//                   [--only K] [--crit PATH] [--no-fresh] [--no-fixtures] [--json FILE] [--strict]
//                   [--quiet] [--work DIR] [--crit-timeout MS] [--restore-timeout MS]
//
// Bases: the CRIU 4.2 fixtures (../shared/fixtures/criu-4.2{,-intel}/{mem,threads,tree}) and
// fresh dumps made at start (fixture-prog tree and threads, zdtm epoll00 and file_pos00, run
// in a scratch folder). Each case mutates one file of one base (fuzz/mutate.mjs), runs
// `crit decode` (or `crit x`) on it, and for a share of the fresh-dump cases `criu restore`
// of the whole mutated directory, each in its own process, with a time limit and memory
// capped. The restore runs in its own cgroup and in a throwaway mount namespace where all
// but a scratch tmpfs and the case directory is read-only (fuzz/sandbox.sh), with
// CRIU_FAULT_BEFORE_RELEASE=1: it fails right before it would release the tree, and its
// failure path kills the tree, so a mutated program never runs free. Each case must end in a
// clean refusal (exit 1, one line naming the image file, and for a field, its entry and field)
// or an acceptance; a crash (signal, other exit code, JS error type or stack, heap exhaustion),
// a hang or a process left behind fails the run. Failing cases are saved with a case.json.
// `--seed S --only K` replays case K of seed S.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { makeRng, caseSeed, loadBase, mutate } from './mutate.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = path.resolve(repo, '..', 'shared');
const criuBin = path.join(repo, 'native', 'build', 'criu');
const critJs = path.join(repo, 'criu', 'bin', 'crit.js');
const sandbox = path.join(repo, 'fuzz', 'sandbox.sh');
const CG_ROOT = '/sys/fs/cgroup/unified';
let CRIT_TIMEOUT = 5_000,
  RESTORE_TIMEOUT = 20_000;

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = {
    cases: 100,
    seed: undefined,
    keep: path.join(repo, 'fuzz', 'failures'),
    jobs: 2,
    restoreShare: 0.4,
    only: undefined,
    crit: undefined,
    fresh: true,
    json: undefined,
    strict: false,
    quiet: false,
    work: undefined,
    fixtures: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--cases') o.cases = Number(val());
    else if (a === '--seed') o.seed = Number(val()) >>> 0;
    else if (a === '--keep') o.keep = path.resolve(val());
    else if (a === '--jobs') o.jobs = Math.max(1, Math.min(2, Number(val())));
    else if (a === '--restore-share') o.restoreShare = Number(val());
    else if (a === '--only') o.only = Number(val());
    else if (a === '--crit') o.crit = path.resolve(val());
    else if (a === '--no-fresh') o.fresh = false;
    else if (a === '--crit-timeout') CRIT_TIMEOUT = Number(val());
    else if (a === '--restore-timeout') RESTORE_TIMEOUT = Number(val());
    else if (a === '--no-fixtures') o.fixtures = false;
    else if (a === '--json') o.json = path.resolve(val());
    else if (a === '--work') o.work = path.resolve(val());
    else if (a === '--strict') o.strict = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        fs
          .readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('\n')
          .slice(1, 20)
          .map((l) => l.replace(/^\/\/ ?/, ''))
          .join('\n') + '\n',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (!Number.isInteger(o.cases) || o.cases < 0) throw new Error('--cases takes a whole number');
  if (o.seed === undefined) o.seed = (Date.now() ^ (process.pid << 16)) >>> 0;
  return o;
}

// ---------------------------------------------------------------- processes

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const spawned = new Set();

/**
 * Runs a command with a time limit, once more with four times the limit if it ran over (a
 * loaded machine is not a hang); a hang is a run over both.
 */
async function runLimited(cmd, args, opts) {
  const r = await runOnce(cmd, args, opts);
  if (!r.hung || opts.noRetry) return r;
  await opts.beforeRetry?.();
  const again = await runOnce(cmd, args, { ...opts, timeout: opts.timeout * 4 });
  again.retried = true;
  return again;
}

/** Runs a command with a time limit; kills its process group (and `onTimeout`) when it is over. */
function runOnce(cmd, args, { env, timeout, cwd, onTimeout }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, cwd, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    spawned.add(child.pid);
    let stderr = '';
    let hung = false;
    child.stderr.on('data', (d) => {
      if (stderr.length < 65536) stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => {
      hung = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      onTimeout?.();
    }, timeout);
    child.on('error', (e) => {
      stderr += `spawn failed: ${e.message}\n`;
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      spawned.delete(child.pid);
      resolve({ code, signal, stderr, hung, ms: Date.now() - t0 });
    });
  });
}

let libc;
/** Reaps our zombie children that libuv does not know (orphans of restores, dumped programs). */
function reapOrphans() {
  if (!libc) return;
  let kids = [];
  try {
    for (const t of fs.readdirSync('/proc/self/task')) {
      kids.push(...fs.readFileSync(`/proc/self/task/${t}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number));
    }
  } catch {
    return;
  }
  for (const pid of kids) {
    if (spawned.has(pid)) continue;
    try {
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) !== 'Z') continue;
      libc.waitpid(pid, libc.__WALL | libc.WNOHANG);
    } catch {
      /* gone */
    }
  }
}

function procState(pid) {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

function cgProcs(cg) {
  try {
    return fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Waits until the cgroup is empty; false if something is still alive after `ms`. */
async function cgDrained(cg, ms) {
  const end = Date.now() + ms;
  for (;;) {
    reapOrphans();
    const live = cgProcs(cg).filter((p) => procState(p) && procState(p) !== 'Z');
    if (!live.length) return [];
    if (Date.now() > end) return live;
    await sleep(20);
  }
}

async function cgKill(cg) {
  try {
    fs.writeFileSync(path.join(cg, 'cgroup.kill'), '1');
  } catch {
    /* old kernel: one by one */ for (const p of cgProcs(cg)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  await cgDrained(cg, 5000);
}

/** Until none of `pids` is taken (we reap what is ours; PID 1 reaps the rest, lazily). */
async function pidsFree(pids, ms) {
  const end = Date.now() + ms;
  for (;;) {
    reapOrphans();
    const taken = pids.filter((p) => procState(p));
    if (!taken.length || Date.now() > end) return taken;
    await sleep(25);
  }
}

// ---------------------------------------------------------------- verdicts

const JS_ERRORS = /\b(TypeError|RangeError|ReferenceError|SyntaxError|EvalError|URIError|AggregateError)\b/;
const FATAL = /JavaScript heap out of memory|FATAL ERROR|Maximum call stack|Segmentation fault|core dumped|Aborted|node::|Uncaught/;
const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\)|<anonymous>\)?)$/m;
const IMG_NAME = /\b[\w.-]+\.img\b|\bstats-(dump|restore)\b/;

/** The one error line: stderr without a debug stack trace (CRIU_DEBUG=1 adds one after it). */
function errorLines(stderr) {
  const lines = stderr.split('\n').filter((l) => l.trim());
  const stackAt = lines.findIndex((l, i) => i > 0 && (/^\w*Error\b/.test(l) || /^\s+at /.test(l)));
  return stackAt < 0 ? lines : lines.slice(0, stackAt);
}

/** Does `line` name the file, and where the mutation is in a field, its entry and field? */
function naming(desc, line, anyImage) {
  const base = desc.file;
  const namesFile = line.includes(base);
  if (!namesFile) return anyImage && IMG_NAME.test(line) ? null : `does not name ${anyImage ? 'an image file' : base}`;
  if (desc.field && desc.entry !== undefined) {
    const leaf = desc.field
      .replace(/\[\d+\]/g, '')
      .split('.')
      .filter((p) => !p.startsWith('#'))
      .pop();
    // a size field can show up as a bad next entry: then that entry is named
    if (!new RegExp(`\\bentry ${desc.entry}\\b`).test(line)) return /\bentry \d+\b/.test(line) ? null : `does not name entry ${desc.entry}`;
    if (leaf && !line.includes(leaf) && !/\bbyte \d+|offset \d+/.test(line)) return `does not name field ${desc.field}`;
  }
  return null;
}

function judgeCrit(r, desc, isX) {
  if (r.hung) return { v: 'hang', why: `crit ran over ${CRIT_TIMEOUT / 1000} s` };
  if (r.signal) return { v: 'crash', why: `crit killed by ${r.signal}` };
  const lines = errorLines(r.stderr);
  if (JS_ERRORS.test(r.stderr) || FATAL.test(r.stderr) || /internal error/.test(r.stderr) || STACK.test(r.stderr)) {
    return { v: 'crash', why: `crit: ${(lines.find((l) => JS_ERRORS.test(l) || FATAL.test(l) || /internal error/.test(l)) ?? lines[0] ?? '').slice(0, 300)}` };
  }
  if (r.code === 0) return { v: 'accepted' };
  if (r.code !== 1) return { v: 'crash', why: `crit exit code ${r.code}` };
  if (lines.length !== 1) return { v: 'unnamed', why: `crit printed ${lines.length} lines` };
  const bad = naming(desc, lines[0], isX);
  return bad ? { v: 'unnamed', why: `crit: ${bad}: ${lines[0].slice(0, 300)}` } : { v: 'ok', line: lines[0] };
}

function judgeRestore(r, desc, log) {
  if (r.hung) return { v: 'hang', why: `restore ran over ${RESTORE_TIMEOUT / 1000} s` };
  if (r.signal) return { v: 'crash', why: `restore killed by ${r.signal}` };
  const lines = errorLines(r.stderr);
  const header = r.stderr.split('\n').find((l) => /^[A-Z]\w*Error\b/.test(l)) ?? '';
  const logTail = log
    .split('\n')
    .filter((l) => /Error/.test(l))
    .slice(-3)
    .join('\n');
  if (JS_ERRORS.test(header) || FATAL.test(r.stderr) || JS_ERRORS.test(lines.join('\n')) || FATAL.test(logTail) || JS_ERRORS.test(logTail)) {
    return { v: 'crash', why: `restore: ${header || lines[0] || ''}`.slice(0, 400) };
  }
  if (r.code === 0) return { v: 'leak', why: 'restore succeeded: the fault before the release did not fire, the tree ran free' };
  if (r.code !== 1) return { v: 'crash', why: `restore exit code ${r.code}: ${lines[0] ?? ''}` };
  if (/fault injected before the release/.test(r.stderr)) return { v: 'restored' };
  if (lines.length !== 1) return { v: 'unnamed', why: `restore printed ${lines.length} lines before its stack: ${lines.slice(0, 3).join(' | ')}` };
  // a refusal of what the images hold (a PID taken, a session not its own) names the task instead
  if (/\btask \d+\b/.test(lines[0]) && !lines[0].includes(desc.file)) return { v: 'ok', line: lines[0] };
  const bad = naming(desc, lines[0], true);
  return bad ? { v: 'unnamed', why: `restore: ${bad}: ${lines[0].slice(0, 300)}` } : { v: 'ok', line: lines[0] };
}

// ---------------------------------------------------------------- fresh dumps

async function waitFile(f, ms = 10_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const s = fs.readFileSync(f, 'utf8');
      if (s.trim()) return s.trim();
    } catch {
      /* not yet */
    }
    await sleep(20);
  }
  throw new Error(`${f} did not appear`);
}

async function freshDumps(work, scratch, log) {
  const bases = [];
  const fx = path.join(shared, 'fixtures', 'criu-4.2');
  for (const d of ['bin', 'data', 'out']) fs.mkdirSync(path.join(scratch, d), { recursive: true });
  fs.chmodSync(path.join(scratch, 'out'), 0o1777);
  fs.chmodSync(scratch, 0o777);
  fs.copyFileSync(path.join(fx, 'bin', 'fixture-prog'), path.join(scratch, 'bin', 'fixture-prog'));
  fs.chmodSync(path.join(scratch, 'bin', 'fixture-prog'), 0o755);
  fs.copyFileSync(path.join(fx, 'src', 'file.dat'), path.join(scratch, 'data', 'file.dat'));
  const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  if (pidMax < 4194304) fs.writeFileSync('/proc/sys/kernel/pid_max', '4194304');
  const progs = [
    { name: 'fresh-tree', start: () => fixtureProg(scratch, 'tree') },
    { name: 'fresh-threads', start: () => fixtureProg(scratch, 'threads', '2') },
  ];
  for (const z of ['epoll00', 'file_pos00']) {
    const bin = path.join(repo, 'zdtm', 'build', 'static', z);
    if (fs.existsSync(bin)) progs.push({ name: `fresh-${z}`, start: () => zdtmProg(scratch, z, bin) });
    else log(`fuzz: ${bin} is not built (make -C zdtm): no fresh dump of ${z}`);
  }
  for (const p of progs) {
    const dir = path.join(work, 'bases', p.name);
    try {
      const pid = await p.start();
      await sleep(150);
      const r = await runLimited(criuBin, ['dump', '-t', String(pid), '-D', dir, '-o', 'dump.log'], { timeout: 30_000 });
      if (r.code !== 0) throw new Error(`dump of ${p.name} failed: ${r.stderr.trim()}`);
      bases.push(dir);
    } catch (e) {
      log(`fuzz: no fresh dump ${p.name}: ${e.message}`);
    }
  }
  return bases;
}

async function fixtureProg(scratch, mode, arg) {
  const out = path.join(scratch, 'out', `${mode}.out`);
  execFileSync(path.join(scratch, 'bin', 'fixture-prog'), [mode, out, ...(arg ? [arg] : [])], {
    cwd: scratch,
    stdio: 'ignore',
    env: { PATH: '/usr/bin:/bin', HOME: '/root' },
  });
  return Number(await waitFile(`${out}.pid`));
}

async function zdtmProg(scratch, name, bin) {
  const out = path.join(scratch, 'out', `${name}.out`);
  const pidf = path.join(scratch, 'out', `${name}.pid`);
  fs.writeFileSync(out, '');
  fs.chownSync(out, 18943, 18943);
  execFileSync(
    bin,
    [`--pidfile=${pidf}`, `--outfile=${out}`, `--filename=${path.join(scratch, `${name}.file`)}`, `--dirname=${path.join(scratch, `${name}.dir`)}`],
    { cwd: scratch, stdio: 'ignore' },
  );
  return Number(await waitFile(pidf));
}

// ---------------------------------------------------------------- one case

function writeCaseDir(dir, base, mut) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'work'), { recursive: true });
  for (const f of base.files) {
    const dst = path.join(dir, f.name);
    if (!mut.files.has(f.name)) {
      fs.symlinkSync(f.path, dst);
      continue;
    }
    const m = mut.files.get(f.name);
    if (m === null) continue;
    if (m.truncateTo !== undefined) {
      const fd = fs.openSync(m.src, 'r');
      const b = Buffer.alloc(m.truncateTo);
      fs.readSync(fd, b, 0, b.length, 0);
      fs.closeSync(fd);
      fs.writeFileSync(dst, b);
    } else fs.writeFileSync(dst, m);
  }
}

function critCommand(o) {
  const node = [process.execPath, '--max-old-space-size=256'];
  const tool = o.crit ?? critJs;
  const cmd = /\.[cm]?js$/.test(tool) ? [...node, tool] : [tool];
  return ['prlimit', ['--as=2147483648:', '--', ...cmd]];
}

async function runCase(ctx, k, w) {
  const { o, bases, lib } = ctx;
  const rng = makeRng(caseSeed(o.seed, k));
  // half of the cases on the fresh dumps (the ones restored), half on the fixtures
  const fresh = bases.filter((b) => b.restorable),
    fixed = bases.filter((b) => !b.restorable);
  const base = fresh.length && (!fixed.length || rng.chance(0.5)) ? rng.pick(fresh) : rng.pick(fixed);
  const doRestore = base.restorable && rng.chance(o.restoreShare);
  const mut = mutate(rng, lib, base, doRestore);
  const desc = mut.desc;
  const dir = w.caseDir;
  writeCaseDir(dir, base, mut);
  const res = { case: k, seed: o.seed, base: base.name, mutation: desc, runs: [] };
  const verdicts = [];

  const target = path.join(dir, desc.file);
  if (mut.files.get(desc.file) !== null && !base.files.find((f) => f.name === desc.file)?.raw) {
    const useX = rng.chance(0.1) && base.files.some((f) => f.name === 'pstree.img');
    const args = useX
      ? ['x', dir, rng.pick(['ps', 'fds', 'mems', 'rss'])]
      : ['decode', '-i', target, '-o', '/dev/null', ...(rng.chance(0.5) ? ['--pretty'] : [])];
    const [cmd, pre] = critCommand(o);
    const r = await runLimited(cmd, [...pre, ...args], { timeout: CRIT_TIMEOUT });
    const j = judgeCrit(r, desc, useX);
    res.runs.push({ tool: 'crit', args, code: r.code, signal: r.signal, ms: r.ms, stderr: r.stderr.slice(0, 4000), ...j });
    verdicts.push(j.v);
  }
  if (doRestore) {
    // two restores of one base would want the same PIDs at once: one at a time per base
    const prev = base.lock ?? Promise.resolve();
    let release;
    base.lock = new Promise((r) => {
      release = r;
    });
    await prev;
    try {
      await restoreCase(ctx, base, desc, dir, w, res, verdicts);
    } finally {
      release();
    }
  }
  const order = ['crash', 'hang', 'leak', 'unnamed'];
  let v = order.find((x) => verdicts.includes(x));
  if (!v) v = doRestore ? (verdicts.at(-1) === 'restored' ? 'restored' : 'ok') : verdicts.includes('ok') ? 'ok' : 'restored';
  res.verdict = v;
  return res;
}

/** The restore of one case's images, judged. */
async function restoreCase(ctx, base, desc, dir, w, res, verdicts) {
  const cg = w.cg;
  const args = [cg, ctx.pristine, ctx.scratch, dir, criuBin, 'restore', '-D', dir, '-W', path.join(dir, 'work'), '-o', 'restore.log'];
  const r = await runLimited(sandbox, args, {
    timeout: RESTORE_TIMEOUT,
    env: { CRIU_FAULT_BEFORE_RELEASE: '1', CRIU_DEBUG: '1', CRIU_NODE: ctx.nodeCapped },
    onTimeout: () => {
      try {
        fs.writeFileSync(path.join(cg, 'cgroup.kill'), '1');
      } catch {
        /* empty */
      }
    },
    beforeRetry: async () => {
      await cgKill(cg);
      await pidsFree(base.pids, 3000);
      fs.rmSync(path.join(dir, 'work'), { recursive: true, force: true });
      fs.mkdirSync(path.join(dir, 'work'));
    },
  });
  let log = '';
  try {
    log = fs.readFileSync(path.join(dir, 'work', 'restore.log'), 'utf8');
  } catch {
    /* none */
  }
  const j = judgeRestore(r, desc, log);
  const left = await cgDrained(cg, 2000);
  if (left.length) {
    const who = left.map((p) => {
      try {
        return `${p} ${fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim()}`;
      } catch {
        return String(p);
      }
    });
    if (j.v !== 'hang' && j.v !== 'crash') {
      j.v = 'leak';
      j.why = `left alive after the restore: ${who.join(', ')}`;
    } else j.why += `; left alive: ${who.join(', ')}`;
    await cgKill(cg);
  }
  // the next restore of this base needs its PIDs: reap what is ours
  const taken = await pidsFree(base.pids, 3000);
  const alive = taken.filter((p) => procState(p) !== 'Z' && cgProcs(cg).includes(p));
  if (alive.length && j.v !== 'leak') {
    j.v = 'leak';
    j.why = `pstree PIDs ${alive.join(', ')} still alive`;
  }
  res.runs.push({
    tool: 'restore',
    args: args.slice(4),
    code: r.code,
    signal: r.signal,
    ms: r.ms,
    stderr: r.stderr.slice(0, 8000),
    log: log.slice(-4000),
    ...j,
  });
  verdicts.push(j.v);
}

// ---------------------------------------------------------------- main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const say = (s) => {
    if (!o.quiet) process.stdout.write(s + '\n');
  };
  const lib = await import(path.join(repo, 'dist', 'criu', 'src', 'images', 'index.js'));
  const isRoot = process.getuid?.() === 0;
  const canRestore = o.fresh && isRoot && fs.existsSync(path.join(CG_ROOT, 'cgroup.procs')) && fs.existsSync(criuBin);
  if (o.fresh && !canRestore) say('fuzz: restores need root, cgroup v2 at /sys/fs/cgroup/unified and native/build/criu: crit only');
  const work = o.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'criu-fuzz-'));
  fs.mkdirSync(work, { recursive: true });
  fs.chmodSync(work, 0o755); // the zdtm programs run as another uid inside it
  const ctx = { o, lib, bases: [], scratch: path.join(work, 's'), pristine: path.join(work, 'pristine'), nodeCapped: path.join(work, 'node-capped.sh') };
  const cgs = [];
  let exit = 0;
  try {
    if (canRestore) {
      libc = await import(path.join(repo, 'dist', 'criu', 'src', 'sys', 'libc.js'));
      libc.prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1);
    }
    if (o.fixtures) {
      for (const set of ['criu-4.2', 'criu-4.2-intel']) {
        for (const d of ['mem', 'threads', 'tree']) {
          const dir = path.join(shared, 'fixtures', set, d);
          if (fs.existsSync(dir)) ctx.bases.push(loadBase(lib, `${set}/${d}`, dir));
        }
      }
    }
    if (canRestore) {
      fs.writeFileSync(ctx.nodeCapped, `#!/bin/sh\nexec prlimit --as=8589934592: -- ${JSON.stringify(process.execPath)} --max-old-space-size=512 "$@"\n`, {
        mode: 0o755,
      });
      for (let i = 0; i < o.jobs; i++) {
        const cg = path.join(CG_ROOT, `criu-fuzz-${process.pid}-${i}`);
        fs.mkdirSync(cg, { recursive: true });
        cgs.push(cg);
      }
      const dirs = await freshDumps(work, ctx.scratch, say);
      reapOrphans();
      fs.cpSync(ctx.scratch, ctx.pristine, { recursive: true });
      // each fresh dump must restore up to its release before it is mutated
      let good = 0;
      for (const dir of dirs) {
        const base = loadBase(lib, path.basename(dir), dir, { restorable: true });
        const taken = await pidsFree(base.pids, 5000);
        if (taken.length) {
          say(`fuzz: ${base.name}: PIDs ${taken.join(', ')} still taken: not restored`);
          base.restorable = false;
          ctx.bases.push(base);
          continue;
        }
        const w = { caseDir: path.join(work, 'w0'), cg: cgs[0] };
        const mut = { files: new Map(), desc: { kind: 'none', file: 'pstree.img', what: 'unmutated' } };
        const r = await runCaseWith(ctx, base, mut, w);
        if (r.verdict === 'restored') good++;
        else {
          say(`fuzz: baseline restore of ${base.name} did not reach the release: ${r.runs.at(-1)?.why ?? r.runs.at(-1)?.line ?? r.runs.at(-1)?.stderr}`);
          base.restorable = false;
        }
        ctx.bases.push(base);
      }
      say(`fuzz: baseline: ${good} of ${dirs.length} fresh dumps restore up to the release`);
      ctx.baseline = { good, total: dirs.length };
    }
    if (!ctx.bases.length) throw new Error('no images to mutate');
    say(
      `fuzz: seed ${o.seed}, ${o.only !== undefined ? `case ${o.only}` : `${o.cases} cases`}, ${ctx.bases.length} bases (${ctx.bases.filter((b) => b.restorable).length} restorable), ${o.jobs} at a time, work ${work}`,
    );

    const counts = { cases: 0, ok: 0, restored: 0, crashes: 0, hangs: 0, leaks: 0, unnamed: 0, critRuns: 0, restoreRuns: 0 };
    const key = { ok: 'ok', restored: 'restored', accepted: 'restored', crash: 'crashes', hang: 'hangs', leak: 'leaks', unnamed: 'unnamed' };
    const queue = o.only !== undefined ? [o.only] : Array.from({ length: o.cases }, (_, i) => i);
    let saved = 0,
      done = 0;
    const worker = async (i) => {
      const w = { caseDir: path.join(work, `w${i}`), cg: cgs[i] };
      while (queue.length) {
        const k = queue.shift();
        const r = await runCase(ctx, k, w);
        counts.cases++;
        counts[key[r.verdict]]++;
        for (const run of r.runs) counts[run.tool === 'crit' ? 'critRuns' : 'restoreRuns']++;
        done++;
        if (!['ok', 'restored'].includes(r.verdict)) {
          const bad = r.runs.find((x) => !['ok', 'restored', 'accepted'].includes(x.v));
          say(
            `case ${k}: ${r.verdict.toUpperCase()} ${r.base} ${r.mutation.file} [${r.mutation.kind}: ${r.mutation.what}${r.mutation.entry !== undefined ? `, entry ${r.mutation.entry}` : ''}]: ${bad?.tool}: ${bad?.why}`,
          );
          if (saved++ < 40) {
            const keep = path.join(o.keep, `seed-${o.seed}-case-${k}`);
            fs.rmSync(keep, { recursive: true, force: true });
            fs.mkdirSync(keep, { recursive: true });
            fs.cpSync(w.caseDir, path.join(keep, 'images'), { recursive: true, dereference: true });
            fs.writeFileSync(path.join(keep, 'case.json'), JSON.stringify({ ...r, replay: `npm run fuzz -- --seed ${o.seed} --only ${k}` }, null, 2) + '\n');
          }
        } else if (o.only !== undefined)
          say(
            `case ${k}: ${r.verdict} ${r.base} ${r.mutation.file} [${r.mutation.kind}: ${r.mutation.what}]: ${r.runs.map((x) => `${x.tool}: ${x.line ?? x.v}`).join('; ')}`,
          );
        if (!o.quiet && process.stdout.isTTY && done % 50 === 0) process.stdout.write(`\r${done} cases ...\r`);
      }
    };
    await Promise.all(Array.from({ length: o.jobs }, (_, i) => worker(i)));
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    const line = `fuzz: ${counts.cases} cases: ok ${counts.ok}, restored ${counts.restored}, crashes ${counts.crashes}, hangs ${counts.hangs}, leaks ${counts.leaks}, unnamed ${counts.unnamed} (crit runs ${counts.critRuns}, restore runs ${counts.restoreRuns}; seed ${o.seed}; ${secs} s)`;
    if (o.json) fs.writeFileSync(o.json, JSON.stringify({ ...counts, seed: o.seed, seconds: Number(secs), baseline: ctx.baseline }, null, 2) + '\n');
    process.stdout.write(line + '\n');
    if (counts.crashes || counts.hangs || counts.leaks || (o.strict && counts.unnamed)) exit = 1;
  } finally {
    for (const cg of cgs) {
      await cgKill(cg);
      try {
        fs.rmdirSync(cg);
      } catch {
        /* busy */
      }
    }
    if (!o.work) fs.rmSync(work, { recursive: true, force: true });
  }
  return exit;
}

/** The baseline: one unmutated restore, judged like a case. */
async function runCaseWith(ctx, base, mut, w) {
  writeCaseDir(w.caseDir, base, mut);
  const cg = w.cg;
  const dir = w.caseDir;
  const args = [cg, ctx.pristine, ctx.scratch, dir, criuBin, 'restore', '-D', dir, '-W', path.join(dir, 'work'), '-o', 'restore.log'];
  const r = await runLimited(sandbox, args, { timeout: RESTORE_TIMEOUT, env: { CRIU_FAULT_BEFORE_RELEASE: '1', CRIU_DEBUG: '1', CRIU_NODE: ctx.nodeCapped } });
  const j = judgeRestore(r, mut.desc, '');
  await cgDrained(cg, 2000);
  await pidsFree(base.pids, 3000);
  return { verdict: j.v, runs: [{ ...j, stderr: r.stderr }] };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`fuzz: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.FUZZ_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 2;
  },
);
