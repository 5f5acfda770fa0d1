#!/usr/bin/env node
// `npm run bench [-- OPTIONS]`: dump/restore times of fresh workloads, with this machine's
// ceilings measured in the same run. Results (JSON, markdown, SVG/PNG plot) go to bench/out/DATE/.
//
//   --repeat N     measurements per workload and binary (default 3; 5, and at least 5, with --vs)
//   --quick        smoke run: the workloads of at most 64 MiB, 1 repeat
//   --vs PATH      also run a criu-compatible binary on the same workloads, alternating with
//                  ours: each workload's verdict is then ours ÷ theirs of the medians for dump,
//                  frozen time and restore (OK ≤ 1.0, second mark ≤ 0.8), not absolute targets
//   --only A,B     only these workloads (names as in the table, e.g. dense-512M)
//   --scaling      instead of the workloads: dump and restore time against memory size (64 MiB
//                  … 4 GiB), task count (1 … 200) and VMA count (10 … 10,000), for each binary,
//                  one chart each (scaling-memory.svg, scaling-tasks.svg, scaling-vmas.svg)
//   --out DIR      results folder (default bench/out/<date>)
//   --replot DIR   only redraw DIR/plot.svg (and .png) from DIR/results.json
//
// Every run: start the workload (it writes its pidfile when ready), `criu dump -R` (frozen time
// with --leave-running, the workload's own observed pause), `criu dump` (which kills it), wait
// until its PIDs are gone from /proc, `criu restore -d`, ping the restored workload (time until
// it answers), SIGTERM it and read its verdict: its memory checksum must hold (FAIL is loud and
// makes the bench exit 1). A workload the tool refuses is reported with the tool's error line.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, spread, fmtS, fmtSpread, fmtBytes, mbps, fmtPct, fmtRatio, mdTable, textTable, judge, judgeRatio } from './lib/stats.mjs';
import { plotSvg } from './lib/svg.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH, '..');
const BUILD = path.join(BENCH, 'build');
const WL = path.join(BUILD, 'wl'),
  TIMEIT = path.join(BUILD, 'timeit'),
  CEIL = path.join(BUILD, 'ceil');
const HEAP = path.join(BENCH, 'workloads', 'heap.mjs');
const OURS = path.join(ROOT, 'native', 'build', 'criu');
const TMP = '/tmp/criu-bench';
const T_START = Date.now();

// ---------------------------------------------------------------- options
function parseOpts(argv) {
  const o = { repeat: 3, quick: false, vs: null, only: null, out: null, scaling: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--repeat') o.repeat = Number(val());
    else if (a === '--quick') o.quick = true;
    else if (a === '--scaling') o.scaling = true;
    else if (a === '--vs') o.vs = path.resolve(val());
    else if (a === '--only') o.only = val().split(',');
    else if (a === '--out') o.out = path.resolve(val());
    else if (a === '--replot') o.replot = path.resolve(val());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        fs
          .readFileSync(fileURLToPath(import.meta.url), 'utf8')
          .split('\n')
          .slice(1, 17)
          .map((l) => l.replace(/^\/\/ ?/, ''))
          .join('\n') + '\n',
      );
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  if (!(o.repeat >= 1)) die('--repeat needs a positive number');
  if (o.quick && !argv.includes('--repeat')) o.repeat = 1;
  // a ratio is judged on medians of at least 5 alternating runs of each binary
  if (o.vs && !o.quick) o.repeat = Math.max(o.repeat, 5);
  return o;
}

function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

const say = (s) => process.stdout.write(`${s}\n`);
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const elapsed = () => ((Date.now() - T_START) / 1000).toFixed(0);

// ---------------------------------------------------------------- workloads
// mib: the memory the workload fills (the x of the plot); series: which line of the plot
const WORKLOADS = [
  { name: 'dense-64M', mib: 64, series: 'dense', cmd: [WL, 'dense', '64'], what: '64 MiB random private memory' },
  { name: 'dense-512M', mib: 512, series: 'dense', cmd: [WL, 'dense', '512'], what: '512 MiB random private memory' },
  { name: 'dense-2G', mib: 2048, series: 'dense', cmd: [WL, 'dense', '2048'], what: '2 GiB random private memory' },
  { name: 'sparse-4G', mib: 256, cmd: [WL, 'sparse', '4', '16'], what: '4 GiB mapped, 1 page in 16 touched (256 MiB)' },
  { name: 'vmas-2000', mib: (2000 * 4096) / 2 ** 20, cmd: [WL, 'vmas', '2000'], what: '2000 one-page VMAs' },
  { name: 'tree-50x4', mib: 50, cmd: [WL, 'tree', '50', '4', '50'], what: '50 processes × 4 threads, 50 MiB' },
  { name: 'tree-4x4-100M', mib: 100, cmd: [WL, 'tree', '4', '4', '100'], what: '4 processes × 4 threads, 100 MiB' },
  { name: 'fds-1000', mib: 4, cmd: [WL, 'fds', '1000'], what: '1000 fds on regular files' },
  { name: 'node-heap-1G', mib: 1024, cmd: [process.execPath, HEAP, '1024'], what: 'Node.js, 1 GiB of JS arrays' },
];

/** --scaling: one parameter grown at a time, the rest small (axis: the chart, x: its value) */
export const SCALING = [
  ...[64, 256, 1024, 4096].map((m) => ({
    name: `mem-${m}M`,
    mib: m,
    axis: 'memory',
    x: m,
    cmd: [WL, 'dense', String(m)],
    what: `${m} MiB random private memory`,
  })),
  ...[1, 10, 50, 200].map((n) => ({
    name: `tasks-${n}`,
    mib: n,
    axis: 'tasks',
    x: n,
    cmd: [WL, 'tree', String(n), '1', String(n)],
    what: `${n} processes, 1 MiB each`,
  })),
  ...[10, 100, 1000, 10000].map((n) => ({
    name: `vmas-${n}`,
    mib: (n * 4096) / 2 ** 20,
    axis: 'vmas',
    x: n,
    cmd: [WL, 'vmas', String(n)],
    what: `${n} one-page VMAs`,
  })),
];
const AXES = {
  memory: 'memory (MiB, log scale)',
  tasks: 'processes (log scale)',
  vmas: 'VMAs (log scale)',
};

/** the scaling charts: per axis, dump and restore median time of each binary against x */
export function scalingPlots(sums, bins, date) {
  const colors = { dump: '#1f77b4', restore: '#d62728' };
  const out = {};
  for (const [axis, xLabel] of Object.entries(AXES)) {
    const series = [];
    for (const bin of bins) {
      for (const m of ['dump', 'restore']) {
        const points = SCALING.filter((w) => w.axis === axis)
          .map((w) => ({ w, s: sums.find((x) => x.workload === w.name && x.bin === bin && x[m]) }))
          .filter(({ s }) => s)
          .map(({ w, s }) => ({ x: w.x, y: s[m].median, lo: s[m].min, hi: s[m].max, tag: w.name }));
        if (points.length) series.push({ label: `${bin}: ${m}`, color: colors[m], dash: bin === 'ours' ? null : '6 4', points });
      }
    }
    if (series.length) out[axis] = plotSvg({ title: `criu dump/restore time against ${axis} (${date})`, series, xLabel });
  }
  return out;
}

// upper ends of CRIU 4.2's figures on this machine (issue 5)
const TARGETS = [
  { w: 'dense-512M', m: 'dump', limit: 0.38, label: '512 MiB dense: dump' },
  { w: 'dense-512M', m: 'restore', limit: 0.53, label: '512 MiB dense: restore' },
  { w: 'dense-512M', m: 'frozenR', limit: 0.17, label: '512 MiB dense: frozen (--leave-running)' },
  { w: 'dense-2G', m: 'dump', limit: 1.2, label: '2 GiB dense: dump' },
  { w: 'dense-2G', m: 'frozen', limit: 1.0, label: '2 GiB dense: frozen' },
  { w: 'dense-2G', m: 'restore', limit: 2.2, label: '2 GiB dense: restore' },
  { w: 'tree-4x4-100M', m: 'dump', limit: 0.1, label: '4 proc × 4 threads 100 MiB: dump' },
  { w: 'tree-4x4-100M', m: 'restore', limit: 0.09, label: '4 proc × 4 threads 100 MiB: restore' },
];

// ---------------------------------------------------------------- process helpers
const alive = (pid) => fs.existsSync(`/proc/${pid}`);

/** pid and every descendant (through /proc/PID/task/TID/children). */
function treePids(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tids = [];
    try {
      tids = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        for (const c of fs.readFileSync(`/proc/${out[i]}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        /* gone */
      }
    }
  }
  return out;
}

/** Waits until none of pids is in /proc (reaped, not just dead); false on timeout. */
function waitGone(pids, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (!pids.some(alive)) return true;
    if (Date.now() > end) return false;
    sleep(5);
  }
}

function waitFile(file, timeoutMs, test = () => true) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const s = fs.readFileSync(file, 'utf8');
      if (test(s)) return s;
    } catch {
      /* not yet */
    }
    if (Date.now() > end) return null;
    sleep(5);
  }
}

function killAll(pids, sig = 'SIGKILL') {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* gone */
    }
  }
}

/** Runs argv under the C timer: { wall (s), status, answer (s, with ping), out (stdout+stderr text) }. */
function timed(dir, tag, argv, ping) {
  const res = path.join(dir, `${tag}.time`),
    outF = path.join(dir, `${tag}.out`);
  const fd = fs.openSync(outF, 'w');
  const pre = ping ? ['--ping', ping.pidfile, ping.pingfile, String(ping.timeoutMs)] : [];
  const r = spawnSync(TIMEIT, [...pre, res, '--', ...argv], { stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  const out = fs.readFileSync(outF, 'utf8');
  if (r.status !== 0 || !fs.existsSync(res)) throw new Error(`timeit failed (${r.status}): ${out}`);
  const f = fs.readFileSync(res, 'utf8').trim().split(/\s+/);
  const [ns, st, ans] = f.slice(0, 3).map(Number);
  const status = (st & 0x7f) === 0 ? (st >> 8) & 0xff : 128 + (st & 0x7f);
  return {
    wall: ns / 1e9,
    status,
    answer: ans === undefined || ans < 0 ? null : ans / 1e9,
    out,
    execAt: BigInt(f[3]),
    exitAt: BigInt(f[4]),
    maxrssKiB: f[5] !== undefined && Number(f[5]) >= 0 ? Number(f[5]) : null,
  };
}

/** The line that says why a command failed: its last stderr line, else the last error of its log. */
function errorLine(out, logFile) {
  const lines = out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length) return lines[lines.length - 1];
  try {
    const errs = fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => /Error/.test(l));
    if (errs.length) return errs[errs.length - 1].trim();
  } catch {
    /* no log */
  }
  return 'failed without a message';
}

/**
 * Where a command's wall time went, from file time stamps against the exec and exit times:
 * head = exec until the tool created its log (-o, opened right after the options are read),
 * tail = the last write (of an image, or of the log) until exit, middle = between the two.
 */
function stampPhases(t, logFile, lastFiles) {
  try {
    const born = fs.statSync(logFile, { bigint: true }).birthtimeNs;
    if (!born) return null;
    const last = lastFiles
      .map((f) => {
        try {
          return fs.statSync(f, { bigint: true }).mtimeNs;
        } catch {
          return 0n;
        }
      })
      .reduce((a, b) => (b > a ? b : a), 0n);
    if (!last) return null;
    const s = (x) => Number(x) / 1e9;
    return { head: s(born - t.execAt), middle: s(last - born), tail: s(t.exitAt - last) };
  } catch {
    return null;
  }
}

const filesIn = (dir) => fs.readdirSync(dir).map((n) => path.join(dir, n));

function dirBytes(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return n;
}

/** stats-dump through crit: { freezing, frozen, memdump, pagesWritten } in seconds, or null. */
function statsDump(imgDir) {
  const f = path.join(imgDir, 'stats-dump');
  if (!fs.existsSync(f)) return null;
  const r = spawnSync(process.execPath, [path.join(ROOT, 'criu', 'bin', 'crit.js'), 'decode', '-i', f], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  try {
    const d = JSON.parse(r.stdout).entries[0].dump;
    return { freezing: d.freezing_time / 1e6, frozen: d.frozen_time / 1e6, memdump: d.memdump_time / 1e6, pagesWritten: Number(d.pages_written) };
  } catch {
    return null;
  }
}

/** Phase times from a log at -v3 ("(SS.UUUUUU) text"): first/last stamps and named lines. */
function logPhases(file) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const lines = text
    .split('\n')
    .map((l) => /^\((\d+)\.(\d+)\)\s*(.*)$/.exec(l))
    .filter(Boolean)
    .map((m) => ({ t: Number(m[1]) + Number(m[2]) / 1e6, text: m[3] }));
  if (!lines.length) return null;
  const at = (re) => lines.find((l) => re.test(l.text))?.t ?? null;
  const lastAt = (re) => lines.findLast((l) => re.test(l.text))?.t ?? null;
  return {
    first: lines[0].t,
    last: lines[lines.length - 1].t,
    forked: at(/^Forked puppet/),
    pagesRestored: lastAt(/pages restored from/),
  };
}

// ---------------------------------------------------------------- one measurement
/**
 * One run of workload w with binary bin: fresh workload, dump -R, dump, restore, verdict.
 * Returns a record; never throws for the tool's failures (they are recorded).
 */
function runOnce(w, bin, rep) {
  const dir = path.join(TMP, `${w.name}.${bin.id}.${rep}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const pidfile = path.join(dir, 'pid'),
    outfile = path.join(dir, 'out'),
    pingfile = `${outfile}.ping`;
  const rec = { workload: w.name, bin: bin.id, rep, status: 'ok' };
  let pids = [];
  let verdictDone = false;
  const verdict = (pid) => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return 'FAIL: the restored root is gone before SIGTERM';
    }
    const s = waitFile(outfile, 180_000, (t) => /^(PASS|FAIL)/m.test(t));
    verdictDone = true;
    if (!s) return 'FAIL: no verdict in 180 s';
    return s.split('\n').find((l) => /^(PASS|FAIL)/.test(l));
  };
  try {
    // the workload
    // the workload, and meanwhile a scratch file as big as its memory: deleted right before the
    // first dump, its page-cache pages are what that dump's images get (the page cache is warm,
    // as after a first run; this VM hands memory that stays free back to its host)
    const t0 = Date.now();
    const scratch = path.join(TMP, 'warm.scratch');
    const st = spawnSync(
      'sh',
      [
        '-c',
        '"$0" fill "$1" "$2" >/dev/null & shift 2; "$@"; rc=$?; wait; exit $rc',
        CEIL,
        scratch,
        String(Math.ceil(w.mib)),
        w.cmd[0],
        ...w.cmd.slice(1),
        '--pidfile',
        pidfile,
        '--outfile',
        outfile,
      ],
      { stdio: 'ignore', timeout: 300_000 },
    );
    fs.rmSync(scratch, { force: true });
    if (st.status !== 0 || !waitFile(pidfile, 5000)) {
      rec.status = 'error';
      rec.error = `workload did not start (${st.status ?? st.signal}): ${fs.existsSync(outfile) ? fs.readFileSync(outfile, 'utf8').trim() : ''}`;
      return rec;
    }
    rec.setup = (Date.now() - t0) / 1000;
    const pid = Number(fs.readFileSync(pidfile, 'utf8'));
    pids = treePids(pid);
    rec.pids = pids.length;

    // dump with --leave-running: frozen time, and the pause the workload saw
    const imgR = path.join(dir, 'img-R');
    fs.mkdirSync(imgR);
    const dR = timed(dir, 'dumpR', [bin.path, 'dump', '-t', String(pid), '-D', imgR, '-R', '-v3', '-o', path.join(dir, 'dumpR.log')]);
    if (dR.status !== 0) {
      const line = errorLine(dR.out, path.join(dir, 'dumpR.log'));
      rec.status = /not supported/i.test(line) ? 'unsupported' : 'error';
      rec.error = line;
      rec.verdict = verdict(pid); // it must run on, intact
      if (/^FAIL/.test(rec.verdict)) rec.status = 'FAIL';
      return rec;
    }
    rec.dumpR = { wall: dR.wall, stats: statsDump(imgR), bytes: dirBytes(imgR) };
    fs.rmSync(pingfile, { force: true });
    try {
      process.kill(pid, 'SIGUSR1');
    } catch {
      /* checked below */
    }
    const gap = waitFile(pingfile, 10_000);
    rec.dumpR.pause = gap === null ? null : Number(gap) / 1e6;
    fs.rmSync(imgR, { recursive: true, force: true });

    // dump: the tree is killed
    const img = path.join(dir, 'img');
    fs.mkdirSync(img);
    pids = treePids(pid);
    const d = timed(dir, 'dump', [bin.path, 'dump', '-t', String(pid), '-D', img, '-v3', '-o', path.join(dir, 'dump.log')]);
    if (d.status !== 0) {
      rec.status = 'error';
      rec.error = `dump: ${errorLine(d.out, path.join(dir, 'dump.log'))}`;
      rec.verdict = alive(pid) ? verdict(pid) : null;
      return rec;
    }
    rec.dump = {
      wall: d.wall,
      maxrssKiB: d.maxrssKiB,
      stats: statsDump(img),
      bytes: dirBytes(img),
      log: logPhases(path.join(dir, 'dump.log')),
      phases: stampPhases(d, path.join(dir, 'dump.log'), filesIn(img)),
    };
    const tg = Date.now();
    if (!waitGone(pids, 30_000)) {
      rec.status = 'error';
      rec.error = `the dumped PIDs ${pids.filter(alive).join(',')} are still in /proc 30 s after the dump`;
      return rec;
    }
    rec.reapWait = (Date.now() - tg) / 1000;

    // restore, and the time until the restored workload answers a ping
    const rpid = path.join(dir, 'restored.pid');
    fs.rmSync(pingfile, { force: true });
    const r = timed(dir, 'restore', [bin.path, 'restore', '-D', img, '-d', '--pidfile', rpid, '-v3', '-o', path.join(dir, 'restore.log')], {
      pidfile: rpid,
      pingfile,
      timeoutMs: 30_000,
    });
    if (r.status !== 0) {
      const line = errorLine(r.out, path.join(dir, 'restore.log'));
      rec.status = /not supported/i.test(line) ? 'unsupported' : 'error';
      rec.error = `restore: ${line}`;
      return rec;
    }
    const rlog = path.join(dir, 'restore.log');
    rec.restore = { wall: r.wall, answer: r.answer, maxrssKiB: r.maxrssKiB, log: logPhases(rlog), phases: stampPhases(r, rlog, [rlog]) };
    const newPid = Number(fs.readFileSync(rpid, 'utf8'));
    pids = treePids(newPid);
    rec.verdict = verdict(newPid);
    if (!/^PASS/.test(rec.verdict ?? '')) rec.status = 'FAIL';
    if (r.answer === null && rec.status === 'ok') {
      rec.status = 'error';
      rec.error = 'the restored workload did not answer its ping in 30 s';
    }
    return rec;
  } catch (e) {
    rec.status = 'error';
    rec.error = `bench: ${e.message}`;
    return rec;
  } finally {
    // nothing of ours stays: a workload not verified is killed
    if (!verdictDone) killAll(pids.filter(alive));
    waitGone(pids, 30_000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- ceilings and start-up
function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    kernel: os.release(),
    cpu,
    node: process.version,
    thp: (() => {
      try {
        return fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim();
      } catch {
        return null;
      }
    })(),
    tmpFs: (() => {
      const r = spawnSync('df', ['-T', '/tmp'], { encoding: 'utf8' });
      return r.stdout?.split('\n')[1]?.split(/\s+/)[1] ?? null;
    })(),
  };
}

function ceil(args) {
  const r = spawnSync(CEIL, args, { encoding: 'utf8' });
  if (r.status !== 0) die(`ceil ${args.join(' ')}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

function ceilings() {
  fs.mkdirSync(TMP, { recursive: true });
  return {
    at: new Date().toISOString(),
    memcpyGBs: ceil(['memcpy', '256']),
    touchGBs: ceil(['touch', '256']),
    pcwriteGBs: ceil(['pcwrite', path.join(TMP, 'pcwrite.tmp'), '512']),
  };
}

function startWall(argv, n = 5) {
  const xs = [];
  for (let i = 0; i < n; i++) {
    const t = timed(TMP, 'startup', argv);
    if (t.status !== 0) return { error: errorLine(t.out, '') };
    xs.push(t.wall);
  }
  return spread(xs);
}

/** Peak RSS (MiB) of our `criu dump -R` of a sleeping process: the baseline of the memory check. */
function emptyDumpRss(bin, n = 3) {
  const sl = spawn('sleep', ['3600'], { detached: true, stdio: 'ignore' });
  const xs = [];
  try {
    for (let i = 0; i < n; i++) {
      const img = path.join(TMP, `rss-empty-${i}`);
      fs.mkdirSync(img, { recursive: true });
      const t = timed(TMP, 'rss-empty', [bin, 'dump', '-t', String(sl.pid), '-D', img, '-R']);
      fs.rmSync(img, { recursive: true, force: true });
      if (t.status !== 0 || t.maxrssKiB == null) return { error: `dump of an empty process failed: ${errorLine(t.out, '')}` };
      xs.push(t.maxrssKiB / 1024);
    }
  } finally {
    try {
      process.kill(sl.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return spread(xs);
}

/** Issue 5: the peak RSS of `criu` dumping 2 GiB is at most 64 MiB above its RSS on an empty process. */
function rssCheck(sums, ctx) {
  const s = sums.find((x) => x.workload === 'dense-2G' && x.bin === 'ours');
  const base = ctx.rssEmpty?.median ?? null,
    peak = med(s, 'dumpRssMiB');
  const limit = base !== null ? base + 64 : null;
  if (!s || peak === null || limit === null) return { verdict: 'SKIP', peak, base, limit, cause: s ? 'not measured' : 'not run (--quick or --only)' };
  return { verdict: peak <= limit ? 'OK' : 'MISS', peak, base, limit, spread: s.dumpRssMiB };
}

/** CPU time of the whole machine (all processes, this bench included), from /proc/stat. */
function cpuTimes() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return { busy: f.reduce((a, b) => a + b, 0) - idle, total: f.reduce((a, b) => a + b, 0) };
}

function loadavg() {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

/** The bench's own CPU seconds and its reaped children's (from /proc/self/stat; daemonized workloads are not counted). */
function selfCpu() {
  const f = fs
    .readFileSync('/proc/self/stat', 'utf8')
    .replace(/^.*\) /, '')
    .split(' ')
    .map(Number);
  const hz = 100;
  return (f[11] + f[12] + f[13] + f[14]) / hz;
}

// ---------------------------------------------------------------- summaries
const M = {
  dump: (r) => r.dump?.wall,
  dumpRssMiB: (r) => (r.dump?.maxrssKiB != null ? r.dump.maxrssKiB / 1024 : null),
  restoreRssMiB: (r) => (r.restore?.maxrssKiB != null ? r.restore.maxrssKiB / 1024 : null),
  frozen: (r) => (r.dump?.stats ? r.dump.stats.freezing + r.dump.stats.frozen : null),
  frozenR: (r) => (r.dumpR?.stats ? r.dumpR.stats.freezing + r.dumpR.stats.frozen : null),
  pauseR: (r) => r.dumpR?.pause,
  dumpRWall: (r) => r.dumpR?.wall,
  restore: (r) => r.restore?.wall,
  answer: (r) => r.restore?.answer,
  bytes: (r) => r.dump?.bytes,
  memdump: (r) => r.dump?.stats?.memdump,
  memdumpR: (r) => r.dumpR?.stats?.memdump,
  collectR: (r) => (r.dumpR?.stats ? r.dumpR.stats.frozen - r.dumpR.stats.memdump : null),
  collect: (r) => (r.dump?.stats ? r.dump.stats.frozen - r.dump.stats.memdump : null),
  freezing: (r) => r.dump?.stats?.freezing,
  // restore: from the first log line to the "pages restored" line (puppet, VMAs, memory)
  restoreMem: (r) => (r.restore?.log?.pagesRestored != null && r.restore.log.forked != null ? r.restore.log.pagesRestored - r.restore.log.forked : null),
  restoreLogged: (r) => (r.restore?.log ? r.restore.log.last - r.restore.log.first : null),
  dumpLogged: (r) => (r.dump?.log ? r.dump.log.last - r.dump.log.first : null),
  setup: (r) => r.setup,
  dumpHead: (r) => r.dump?.phases?.head,
  dumpMiddle: (r) => r.dump?.phases?.middle,
  dumpTail: (r) => r.dump?.phases?.tail,
  restoreHead: (r) => r.restore?.phases?.head,
  restoreMiddle: (r) => r.restore?.phases?.middle,
  restoreTail: (r) => r.restore?.phases?.tail,
};

function summarize(records) {
  const out = [];
  const keys = [...new Set(records.map((r) => `${r.workload}\0${r.bin}`))];
  for (const k of keys) {
    const [workload, bin] = k.split('\0');
    const rs = records.filter((r) => r.workload === workload && r.bin === bin);
    const s = {
      workload,
      bin,
      runs: rs.length,
      status: rs.some((r) => r.status === 'FAIL') ? 'FAIL' : rs.every((r) => r.status === 'ok') ? 'ok' : rs.find((r) => r.status !== 'ok').status,
    };
    const bad = rs.find((r) => r.status !== 'ok');
    if (bad) s.error = bad.error ?? bad.verdict;
    s.ok = rs.filter((r) => r.status === 'ok').length;
    // some runs measured, some not (a transient error): the numbers of the good runs, and a note
    if (s.status === 'error' && s.ok) s.status = 'partial';
    if (bad) s.note = `${rs.length - s.ok} of ${rs.length} runs: ${bad.status === 'unsupported' ? 'unsupported by the tool' : bad.status}: ${s.error}`;
    s.verdicts = rs.map((r) => r.verdict ?? null);
    for (const [name, f] of Object.entries(M)) s[name] = spread(rs.filter((r) => r.status === 'ok').map(f));
    out.push(s);
  }
  return out;
}

const med = (s, m) => s?.[m]?.median ?? null;

/**
 * Where the time of a dump, restore or freeze went, from this run's measurements, the largest
 * part first; each part says what it is and, where a measurement shows it, what would close it.
 */
export function breakdown(s, metric, ctx, limit) {
  const parts = [];
  const add = (s_, what, close) => {
    if (s_ !== null && Number.isFinite(s_)) parts.push({ s: s_, what, close });
  };
  const startup = ctx.startup[s.bin]?.median ?? null;
  const nodeS = ctx.startup.node?.median ?? null;
  const bytes = med(s, 'bytes');
  const ours = s.bin === 'ours';
  const startupWhat = `start-up ${fmtS(startup)} s (\`${ctx.binName[s.bin]} --version\`, measured; \`node -e 0\` alone ${fmtS(nodeS)} s)`;
  const startupClose =
    startup !== null && limit !== undefined && startup >= limit
      ? `start-up alone is over the ${fmtS(limit)} s limit: only a tool that does not start Node per command (or a snapshot/bundle that starts in under ${fmtS(limit)} s) can meet it`
      : 'a smaller start-up (bundle, lazy imports)';
  const importOf = (k) => (ours && ctx.startup[k]?.median != null && nodeS != null ? Math.max(0, ctx.startup[k].median - nodeS) : null);
  const head = med(s, `${metric}Head`),
    middle = med(s, `${metric}Middle`),
    tail = med(s, `${metric}Tail`);
  const headWhat = `exec until the tool opened its log ${fmtS(head)} s (Node start-up and the CLI, from the log's birth time; \`${ctx.binName[s.bin]} --version\` takes ${fmtS(startup)} s, \`node -e 0\` ${fmtS(nodeS)} s)`;
  const headClose =
    head !== null && limit !== undefined && head >= limit
      ? `start-up alone is over the ${fmtS(limit)} s limit: only a tool that does not start Node per command (or a snapshot/bundle that starts in under ${fmtS(limit)} s) can meet it`
      : 'a smaller start-up (bundle, lazy imports)';
  if (metric === 'dump') {
    const wall = med(s, 'dump'),
      memd = med(s, 'memdump'),
      coll = med(s, 'collect'),
      frz = med(s, 'freezing');
    const imp = importOf('loadTool');
    if (memd != null) {
      const rate = bytes / memd / 1e9,
        atCeil = bytes / 1e9 / ctx.ceil.pcwriteGBs;
      add(
        memd,
        `memory dump ${fmtS(memd)} s (stats-dump; ${rate.toFixed(2)} GB/s = ${fmtPct(rate / ctx.ceil.pcwriteGBs)} of the ${ctx.ceil.pcwriteGBs.toFixed(2)} GB/s page-cache-write ceiling)`,
        `a memory path at the page-cache-write ceiling would take ${fmtS(atCeil)} s`,
      );
    }
    add(
      coll,
      `collecting the task state and writing the other images while frozen ${fmtS(coll)} s (stats-dump)`,
      'fewer injected syscalls and /proc reads per task and thread',
    );
    add(frz, `freezing ${fmtS(frz)} s (stats-dump)`);
    if (head !== null && middle !== null && tail !== null) {
      add(head, headWhat, headClose);
      const prep = Math.max(0, middle - (frz ?? 0) - (memd ?? 0) - (coll ?? 0));
      add(
        prep,
        `from the log's creation to the first seize ${fmtS(prep)} s (loading the dump code: the bundle with its code cache takes ${fmtS(imp)} s more than node alone; then the cold, unoptimised first run of that code)`,
        'less work per object on the way to the freeze',
      );
      add(
        tail,
        `from the last image written until exit ${fmtS(tail)} s (killing or releasing the tree, exiting; file time stamps)`,
        'a faster kill/release and exit',
      );
    } else {
      add(startup, startupWhat, startupClose);
      add(imp, `loading the dump code ${fmtS(imp)} s (the bundle with its code cache, measured, minus node alone)`, 'a start-up snapshot of the loaded code');
      if (wall != null) {
        const rest = Math.max(0, wall - [memd, coll, frz, startup, imp].reduce((a, b) => a + (b ?? 0), 0));
        add(rest, `the rest ${fmtS(rest)} s (kill, exit and what the parts above do not cover)`);
      }
    }
  } else if (metric === 'restore') {
    const wall = med(s, 'restore'),
      mem = med(s, 'restoreMem');
    const imp = importOf('loadTool');
    const touchFloor = bytes / 1e9 / ctx.ceil.touchGBs;
    const touchClose =
      limit !== undefined && touchFloor > limit
        ? `the first touch of ${fmtBytes(bytes)} at the measured ${ctx.ceil.touchGBs.toFixed(2)} GB/s takes ${fmtS(touchFloor)} s, over the ${fmtS(limit)} s limit: on this VM only fewer page faults (huge pages, or the kernel filling pages in the read path) can meet it`
        : `at the first-touch ceiling it would take ${fmtS(touchFloor)} s`;
    if (mem != null) {
      const rate = bytes / mem / 1e9;
      add(
        mem,
        `puppets, VMAs and memory ${fmtS(mem)} s (from the log; ${rate.toFixed(2)} GB/s = ${fmtPct(rate / ctx.ceil.touchGBs)} of the ${ctx.ceil.touchGBs.toFixed(2)} GB/s first-touch ceiling)`,
        touchClose,
      );
    } else if (bytes) {
      add(
        touchFloor,
        `first touch of ${fmtBytes(bytes)} at the ${ctx.ceil.touchGBs.toFixed(2)} GB/s ceiling ${fmtS(touchFloor)} s (a floor, not measured in the tool)`,
        touchClose,
      );
    }
    if (head !== null && middle !== null && tail !== null) {
      add(head, headWhat, headClose);
      const other = Math.max(0, middle - (mem ?? 0));
      add(
        other,
        `the rest of the restore up to its last log line ${fmtS(other)} s (loading the restore code: the bundle with its code cache takes ${fmtS(imp)} s more than node alone; images, files, threads)`,
        'fewer injected syscalls and less work per object',
      );
      add(tail, `from the last log line until exit ${fmtS(tail)} s (file time stamps)`);
    } else {
      add(startup, startupWhat, startupClose);
      add(
        imp,
        `loading the restore code ${fmtS(imp)} s (the bundle with its code cache, measured, minus node alone)`,
        'a start-up snapshot of the loaded code',
      );
      if (wall != null) {
        const rest = Math.max(0, wall - (mem ?? (bytes ? touchFloor : 0)) - (startup ?? 0) - (imp ?? 0));
        add(rest, `the rest ${fmtS(rest)} s (images, files, threads, exit and what the parts above do not cover)`);
      }
    }
  } else {
    const which = metric === 'frozenR' ? 'R' : '';
    const memd = med(s, `memdump${which}`),
      coll = med(s, `collect${which}`),
      fr = med(s, metric);
    if (memd != null) {
      const rate = bytes / memd / 1e9,
        atCeil = bytes / 1e9 / ctx.ceil.pcwriteGBs;
      add(
        memd,
        `memory dump ${fmtS(memd)} s (${rate.toFixed(2)} GB/s = ${fmtPct(rate / ctx.ceil.pcwriteGBs)} of the ${ctx.ceil.pcwriteGBs.toFixed(2)} GB/s page-cache-write ceiling; memcpy ${ctx.ceil.memcpyGBs.toFixed(1)} GB/s)`,
        `a memory path at the page-cache-write ceiling would take ${fmtS(atCeil)} s`,
      );
    }
    add(coll, `collecting state and writing the other images ${fmtS(coll)} s`, 'fewer injected syscalls and /proc reads per task and thread');
    if (fr != null && memd != null && coll != null) add(Math.max(0, fr - memd - coll), `freezing ${fmtS(Math.max(0, fr - memd - coll))} s`);
  }
  return parts.sort((a, b) => b.s - a.s);
}

/** the measures judged by ratio with --vs */
export const RATIO_MEASURES = [
  ['dump', 'dump'],
  ['frozenR', 'frozen -R'],
  ['restore', 'restore'],
];

/** per workload: ours ÷ theirs of the medians, with a verdict per measure (and answers, shown only) */
export function ratioVerdicts(wls, sums) {
  return wls.map((w) => {
    const o = sums.find((s) => s.workload === w.name && s.bin === 'ours'),
      v = sums.find((s) => s.workload === w.name && s.bin === 'vs');
    const r = { workload: w.name, answer: fmtRatio(med(o, 'answer'), med(v, 'answer')), verdicts: {} };
    for (const [m] of RATIO_MEASURES) {
      const j = judgeRatio(med(o, m), med(v, m));
      r[m] = j.ratio === null ? '–' : `${j.ratio.toFixed(2)}×`;
      r.verdicts[m] = j.verdict;
    }
    return r;
  });
}

const ratioCells = (r) => RATIO_MEASURES.map(([m]) => `${r[m]} ${r.verdicts[m]}`);

function evalTargets(sums, ctx) {
  return TARGETS.map((t) => {
    const s = sums.find((x) => x.workload === t.w && x.bin === 'ours');
    const value = med(s, t.m);
    const res = { label: t.label, workload: t.w, metric: t.m, limit: t.limit, value, spread: s?.[t.m] ?? null };
    if (!s) return { ...res, verdict: 'SKIP', cause: 'not run (--quick or --only)' };
    if ((s.status !== 'ok' && s.status !== 'partial') || value === null) {
      return { ...res, verdict: 'MISS', cause: s.status === 'unsupported' ? `unsupported by the tool: ${s.error}` : `not measured: ${s.error ?? s.status}` };
    }
    res.verdict = judge(value, t.limit);
    if (res.verdict === 'MISS') {
      const parts = breakdown(s, t.m, ctx, t.limit);
      res.parts = parts;
      const top = parts[0];
      res.cause =
        `${fmtS(value - t.limit)} s over. Largest part: ${top?.what ?? 'unknown'}${top?.close ? ` — to close: ${top.close}` : ''}.` +
        (parts.length > 1
          ? ` Then: ${parts
              .slice(1)
              .map((p) => p.what)
              .join('; ')}.`
          : '') +
        parts
          .slice(1)
          .filter((p) => p.s >= t.limit && p.close)
          .map((p) => ` Alone over the limit: ${p.what.replace(/ \(.*$/, '')} — ${p.close}.`)
          .join('');
    }
    return res;
  });
}

// ---------------------------------------------------------------- output
function rowsOf(sums, ctx) {
  return sums.map((s) => {
    const w = WORKLOADS.find((x) => x.name === s.workload);
    const bytes = med(s, 'bytes');
    if (s.status !== 'ok' && s.status !== 'partial') {
      const what = s.status === 'unsupported' ? `unsupported by the tool: ${s.error}` : `${s.status}: ${s.error ?? ''}`;
      return [s.workload, s.bin, what, '', '', '', '', '', '', '', '', ''];
    }
    const dRate = mbps(bytes, med(s, 'dump')),
      rRate = mbps(bytes, med(s, 'restore'));
    return [
      s.workload,
      s.bin,
      fmtSpread(s.dump),
      fmtSpread(s.frozenR),
      fmtSpread(s.pauseR),
      fmtSpread(s.frozen),
      fmtSpread(s.restore),
      fmtSpread(s.answer),
      fmtBytes(bytes),
      dRate === null ? '–' : `${dRate.toFixed(0)} (${fmtPct(dRate / 1e3 / ctx.ceil.pcwriteGBs)})`,
      rRate === null ? '–' : `${rRate.toFixed(0)} (${fmtPct(rRate / 1e3 / ctx.ceil.touchGBs)})`,
      s.note ?? '',
    ];
    void w;
  });
}

const HEAD = [
  'workload',
  'binary',
  'dump s',
  'frozen -R s',
  'pause seen -R s',
  'frozen s',
  'restore s',
  'answers s',
  'image',
  'dump MB/s (of pc-write)',
  'restore MB/s (of first-touch)',
  'notes',
];
const ALIGN = 'llrrrrrrrrrl';

function plot(sums, ctx) {
  const colors = { dump: '#1f77b4', restore: '#d62728', frozenR: '#2ca02c', answer: '#9467bd' };
  const names = { dump: 'dump', restore: 'restore', frozenR: 'frozen (-R)', answer: 'restored answers' };
  const series = [];
  for (const bin of ctx.bins.map((b) => b.id)) {
    for (const m of ['dump', 'frozenR', 'restore', 'answer']) {
      const pts = sums
        .filter((s) => s.bin === bin && (s.ok ?? s.status === 'ok') && WORKLOADS.find((w) => w.name === s.workload)?.series === 'dense' && s[m])
        .map((s) => ({ x: WORKLOADS.find((w) => w.name === s.workload).mib, y: s[m].median, lo: s[m].min, hi: s[m].max, tag: s.workload }));
      if (pts.length) series.push({ label: `${bin}: ${names[m]} (dense)`, color: colors[m], dash: bin === 'ours' ? null : '6 4', points: pts });
    }
    for (const m of ['dump', 'restore']) {
      const pts = sums
        .filter((s) => s.bin === bin && (s.ok ?? s.status === 'ok') && !WORKLOADS.find((w) => w.name === s.workload)?.series && s[m])
        .map((s) => ({ x: WORKLOADS.find((w) => w.name === s.workload).mib, y: s[m].median, lo: s[m].min, hi: s[m].max, tag: s.workload }));
      if (pts.length) series.push({ label: `${bin}: ${names[m]} (others)`, color: colors[m], line: false, marker: 'square', points: pts });
    }
  }
  // what the ceilings allow for the dense sizes: a page-cache write and a first touch of the bytes
  const sizes = [64, 512, 2048];
  series.push({
    label: 'page-cache write ceiling',
    color: '#7f7f7f',
    dash: '2 3',
    points: sizes.map((x) => ({ x, y: (x * 2 ** 20) / 1e9 / ctx.ceil.pcwriteGBs })),
  });
  series.push({ label: 'first-touch ceiling', color: '#bcbd22', dash: '2 3', points: sizes.map((x) => ({ x, y: (x * 2 ** 20) / 1e9 / ctx.ceil.touchGBs })) });
  return plotSvg({ title: `criu dump/restore time against memory size (${ctx.date})`, series });
}

function markdown(res, sums, targets, ctx) {
  const m = res.machine;
  let md = `# criu-ts bench, ${res.date}\n\n`;
  md += `Machine: ${m.nproc} CPUs (${m.cpu}), ${m.memGiB} GiB, kernel ${m.kernel}, node ${m.node}, THP ${m.thp}, /tmp on ${m.tmpFs}.\n`;
  md += `Options: repeat ${res.options.repeat}${res.options.quick ? ', quick' : ''}${res.options.vs ? `, vs ${res.options.vs}` : ''}. Whole run: ${res.elapsedS} s.\n\n`;
  md += `Load: loadavg ${m.load.loadavgStart.join(' ')} at the start, ${m.load.loadavgEnd.join(' ')} at the end; the CPUs were ${fmtPct(m.load.machineBusy)} busy over the run (every process; the bench and its children used ${m.load.benchCpuS} CPU s of them, daemonized workloads not counted).\n\n`;
  md += `## Ceilings and start-up (this run)\n\nEach ceiling is measured at the start and at the end of the run; the higher one is used.\n\n`;
  const gbs = (k, d) => `${ctx.ceil[k].toFixed(d)} GB/s (start ${ctx.ceil.start[k].toFixed(d)}, end ${ctx.ceil.end[k].toFixed(d)})`;
  md += mdTable(
    ['what', 'value'],
    [
      ['memcpy (256 MiB, best of 5)', gbs('memcpyGBs', 2)],
      ['page-cache write (512 MiB to /tmp, warm, median of 3)', gbs('pcwriteGBs', 2)],
      ['first touch of fresh memory (256 MiB, one write per page, median of 3)', gbs('touchGBs', 3)],
      ...Object.entries(ctx.startup).map(([k, v]) => [`start-up: ${ctx.startupWhat[k]}`, v?.error ? v.error : `${fmtSpread(v)} s`]),
    ],
    'lr',
  );
  md += `\n## Results (median (min–max) of ${res.options.repeat})\n\n`;
  md +=
    'frozen = stats-dump freezing_time + frozen_time (first seize to the kill/release); pause seen = the longest stall the workload itself saw during the `-R` dump; answers = from the exec of `criu restore` until the restored workload answered a ping; MB/s = image bytes / wall time, and its fraction of the ceiling it is bound by.\n\n';
  md += mdTable(HEAD, rowsOf(sums, ctx), ALIGN);
  if (targets.length) {
    md += `\n## Targets (ours, upper ends of CRIU 4.2 on this machine; without --vs)\n\n`;
    md += mdTable(
      ['target', 'limit s', 'measured s', 'verdict', 'cause (measured)'],
      targets.map((t) => [t.label, fmtS(t.limit), fmtSpread(t.spread), t.verdict, t.cause ?? '']),
      'lrrll',
    );
  }
  if (res.options.scaling) {
    md += `\n## Scaling (dump and restore median time against one parameter, both binaries)\n\n`;
    for (const axis of Object.keys(AXES)) md += `![time against ${axis}](scaling-${axis}.svg)\n\n`;
  }
  if (res.ratios?.length) {
    const all = res.ratios.flatMap((r) => Object.values(r.verdicts));
    md += `\n## Verdicts: ours ÷ ${res.options.vs} (medians of ${res.options.repeat} alternating runs each; OK at ≤ 1.0, second mark at ≤ 0.8)\n\n`;
    md += `${all.filter((v) => v !== 'MISS').length} of ${all.length} OK, ${all.filter((v) => v.startsWith('OK ≤')).length} at ≤ 0.8.\n\n`;
    md += mdTable(
      ['workload', ...RATIO_MEASURES.map(([, l]) => l), 'answers (shown only)'],
      res.ratios.map((r) => [r.workload, ...ratioCells(r), r.answer]),
      'lrrrr',
    );
  }
  md += `\n## Memory of the tool\n\n`;
  md += `Peak RSS of \`criu dump\` and \`criu restore -d\` (the launcher and its Node process, from the kernel's rusage; the restored tasks are not counted): on an empty process (a sleeping \`sleep\`) ${fmtSpread(ctx.rssEmpty)} MiB.\n\n`;
  md += mdTable(
    ['workload', 'image', 'dump peak RSS MiB', 'restore peak RSS MiB'],
    sums.filter((x) => x.bin === 'ours').map((x) => [x.workload, fmtBytes(med(x, 'bytes')), fmtSpread(x.dumpRssMiB), fmtSpread(x.restoreRssMiB)]),
    'lrrr',
  );
  const rc = res.rssCheck;
  if (rc)
    md += `\n2 GiB dump within 64 MiB of the empty-process RSS: **${rc.verdict}** (${rc.peak !== null ? `${rc.peak.toFixed(1)} MiB` : '–'} against a limit of ${rc.limit !== null ? `${rc.limit.toFixed(1)} MiB` : '–'}${rc.cause ? `; ${rc.cause}` : ''}).\n`;
  const fails = res.runs.filter((r) => r.status === 'FAIL');
  md += `\n## Checksums\n\n${fails.length ? `**${fails.length} restore(s) FAILED verification:**\n\n${fails.map((r) => `- ${r.workload} ${r.bin} #${r.rep}: ${r.verdict}`).join('\n')}\n` : `Every restored workload verified its memory (${res.runs.filter((r) => /^PASS/.test(r.verdict ?? '') && r.restore).length} restores PASS).\n`}`;
  return md;
}

/** The plot as PNG by ImageMagick's convert, else a headless Chromium; the tool's name, or null. */
function toPng(svg, png) {
  const ok = () => {
    try {
      return fs.readFileSync(png).subarray(1, 4).toString() === 'PNG';
    } catch {
      return false;
    }
  };
  if (spawnSync('convert', [svg, png], { stdio: 'ignore', timeout: 30_000 }).status === 0 && ok()) return 'convert';
  fs.rmSync(png, { force: true });
  for (const c of ['chromium', 'chromium-browser', 'google-chrome']) {
    const r = spawnSync(c, ['--headless', '--no-sandbox', '--disable-gpu', `--screenshot=${png}`, '--window-size=900,540', `file://${svg}`], {
      stdio: 'ignore',
      timeout: 60_000,
    });
    if (r.status === 0 && ok()) return c;
    fs.rmSync(png, { force: true });
  }
  return null;
}

// ---------------------------------------------------------------- main
function main() {
  const opts = parseOpts(process.argv.slice(2));
  if (opts.replot) {
    const res = JSON.parse(fs.readFileSync(path.join(opts.replot, 'results.json'), 'utf8'));
    const ctx = { ceil: res.ceilings, bins: [{ id: 'ours' }, ...(res.options.vs ? [{ id: 'vs' }] : [])], date: res.date };
    fs.writeFileSync(path.join(opts.replot, 'plot.svg'), plot(res.summary, ctx));
    say(`${opts.replot}/plot.svg${toPng(path.join(opts.replot, 'plot.svg'), path.join(opts.replot, 'plot.png')) ? ' and plot.png' : ''} redrawn`);
    return;
  }
  const mk = spawnSync('make', ['-s', '-C', BENCH], { stdio: 'inherit' });
  if (mk.status !== 0) die('building bench/ failed');
  if (!fs.existsSync(OURS)) die(`${OURS} is missing: npm run build`);
  if (opts.vs && !fs.existsSync(opts.vs)) die(`--vs ${opts.vs}: no such file`);
  if (process.getuid?.() !== 0) say('bench: not root; dumps will likely fail');

  let wls = opts.scaling ? SCALING : WORKLOADS;
  if (opts.quick) wls = wls.filter((w) => w.mib <= 64);
  if (opts.only) {
    for (const n of opts.only) if (!WORKLOADS.some((w) => w.name === n)) die(`--only: no workload ${n} (${WORKLOADS.map((w) => w.name).join(', ')})`);
    wls = WORKLOADS.filter((w) => opts.only.includes(w.name));
  }
  const bins = [{ id: 'ours', path: OURS }];
  if (opts.vs) bins.push({ id: 'vs', path: opts.vs });
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const outDir = opts.out ?? path.join(BENCH, 'out', date.replace(/:/g, '-'));
  fs.rmSync(TMP, { recursive: true, force: true });
  fs.mkdirSync(TMP, { recursive: true });

  const mach = machine();
  say(
    `bench: ${mach.nproc} CPUs ${mach.cpu}, ${mach.memGiB} GiB, kernel ${mach.kernel}; ${wls.length} workloads × ${opts.repeat} × ${bins.length} binar${bins.length > 1 ? 'ies' : 'y'}`,
  );
  const cpu0 = cpuTimes(),
    load0 = loadavg(),
    self0 = selfCpu();
  const ceil0 = ceilings();
  const ceil = { ...ceil0 };
  say(`ceilings: memcpy ${ceil.memcpyGBs.toFixed(2)} GB/s, page-cache write ${ceil.pcwriteGBs.toFixed(2)} GB/s, first touch ${ceil.touchGBs.toFixed(3)} GB/s`);
  const startup = {},
    startupWhat = {};
  startupWhat.node = '`node -e 0`';
  startup.node = startWall([process.execPath, '-e', '0']);
  startupWhat.toolJs = '`node dist/criu/src/cli/criu.js --version` (no launcher)';
  startup.toolJs = startWall([process.execPath, path.join(ROOT, 'dist', 'criu', 'src', 'cli', 'criu.js'), '--version']);
  // what `criu` runs: the bundle with its code cache, loading every command's code (then exit)
  startupWhat.loadTool = 'node criu/bin/criu-boot.cjs loading every command (bundle + code cache, then exit)';
  process.env.CRIU_CODE_CACHE_WARM = '1';
  startup.loadTool = startWall(
    [process.execPath, '--no-warnings', '--stack-size=4000', '--min-semi-space-size=16', path.join(ROOT, 'criu', 'bin', 'criu-boot.cjs')],
    3,
  );
  delete process.env.CRIU_CODE_CACHE_WARM;
  for (const b of bins) {
    startupWhat[b.id] = `\`${b.id === 'ours' ? 'native/build/criu' : b.path} --version\``;
    startup[b.id] = startWall([b.path, '--version']);
  }
  say(
    `start-up: node ${fmtSpread(startup.node)} s, criu.js ${fmtSpread(startup.toolJs)} s, ${bins.map((b) => `${b.id} --version ${fmtSpread(startup[b.id])} s`).join(', ')}`,
  );
  const rssEmpty = emptyDumpRss(bins[0].path);
  say(`peak RSS of \`criu dump\` on an empty process (sleep): ${rssEmpty.error ?? `${fmtSpread(rssEmpty)} MiB`}`);
  const ctx = {
    ceil,
    startup,
    startupWhat,
    bins,
    date,
    rssEmpty,
    binName: Object.fromEntries(bins.map((b) => [b.id, b.id === 'ours' ? 'criu' : path.basename(b.path)])),
  };

  const runs = [];
  for (const w of wls) {
    const refused = new Set();
    for (let rep = 0; rep < opts.repeat; rep++) {
      const order = rep % 2 ? [...bins].reverse() : bins; // alternate who goes first
      for (const b of order) {
        if (refused.has(b.id)) continue;
        const r = runOnce(w, b, rep);
        runs.push(r);
        const line =
          r.status === 'ok'
            ? `dump ${fmtS(r.dump.wall)} s, frozen -R ${fmtS(M.frozenR(r))} s (seen ${fmtS(r.dumpR.pause)}), restore ${fmtS(r.restore.wall)} s, answers ${fmtS(r.restore.answer)} s, ${fmtBytes(r.dump.bytes)}, ${r.verdict}`
            : `${r.status === 'unsupported' ? 'unsupported by the tool' : r.status}: ${r.error ?? ''}${r.verdict ? ` [${r.verdict}]` : ''}`;
        say(`[${elapsed()}s] ${w.name} ${b.id} #${rep + 1}: ${r.status === 'FAIL' ? '*** FAIL *** ' : ''}${line}`);
        if (r.status === 'unsupported') refused.add(b.id); // the same refusal every time
      }
    }
  }

  // the ceilings again at the end: the machine is shared, a ceiling is the best of both
  const ceil1 = ceilings();
  for (const k of ['memcpyGBs', 'touchGBs', 'pcwriteGBs']) ceil[k] = Math.max(ceil0[k], ceil1[k]);
  ceil.start = ceil0;
  ceil.end = ceil1;
  say(
    `ceilings at the end: memcpy ${ceil1.memcpyGBs.toFixed(2)} GB/s, page-cache write ${ceil1.pcwriteGBs.toFixed(2)} GB/s, first touch ${ceil1.touchGBs.toFixed(3)} GB/s`,
  );
  const cpu1 = cpuTimes();
  mach.load = {
    loadavgStart: load0,
    loadavgEnd: loadavg(),
    machineBusy: +((cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total)).toFixed(3),
    benchCpuS: +(selfCpu() - self0).toFixed(1),
  };

  const sums = summarize(runs);
  // with --vs the verdicts are ratios measured in this run; absolute targets only without
  const targets = opts.vs || opts.scaling ? [] : evalTargets(sums, ctx);
  const ratios = opts.vs ? ratioVerdicts(wls, sums) : [];

  fs.mkdirSync(outDir, { recursive: true });
  const rssc = rssCheck(sums, ctx);
  const res = {
    date,
    machine: mach,
    options: opts,
    ceilings: ceil,
    startup,
    rssEmpty: ctx.rssEmpty,
    rssCheck: rssc,
    workloads: wls.map(({ name, what, mib, cmd }) => ({ name, what, mib, cmd: cmd.map((c) => path.relative(ROOT, c) || c) })),
    runs,
    summary: sums,
    targets,
    ratios,
    elapsedS: Math.round((Date.now() - T_START) / 1000),
  };
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(res, null, 1));
  const md = markdown(res, sums, targets, ctx);
  fs.writeFileSync(path.join(outDir, 'results.md'), md);
  if (!opts.scaling) fs.writeFileSync(path.join(outDir, 'plot.svg'), plot(sums, ctx));
  if (opts.scaling)
    for (const [axis, svg] of Object.entries(
      scalingPlots(
        sums,
        bins.map((b) => b.id),
        date,
      ),
    ))
      fs.writeFileSync(path.join(outDir, `scaling-${axis}.svg`), svg);
  const png = opts.scaling ? null : toPng(path.join(outDir, 'plot.svg'), path.join(outDir, 'plot.png'));

  say('');
  say(textTable(HEAD, rowsOf(sums, ctx), ALIGN));
  for (const t of targets) say(`${t.verdict.padEnd(4)} ${t.label} ≤ ${t.limit} s: ${fmtSpread(t.spread)} s${t.cause ? ` — ${t.cause}` : ''}`);
  say(
    `${rssc.verdict.padEnd(4)} 2 GiB dense: dump peak RSS ≤ empty-process RSS + 64 MiB${rssc.limit !== null ? ` (${rssc.limit.toFixed(1)} MiB)` : ''}: ${rssc.peak !== null ? `${rssc.peak.toFixed(1)} MiB` : '–'}${rssc.cause ? ` — ${rssc.cause}` : ''}`,
  );
  if (ratios.length) {
    say(`\nverdicts: ours ÷ ${opts.vs} (medians of ${opts.repeat}; OK at ≤ 1.0, second mark at ≤ 0.8)`);
    say(
      textTable(
        ['workload', ...RATIO_MEASURES.map(([, l]) => l), 'answers'],
        ratios.map((r) => [r.workload, ...ratioCells(r), r.answer]),
        'lrrrr',
      ),
    );
  }
  const fails = runs.filter((r) => r.status === 'FAIL'),
    errors = runs.filter((r) => r.status === 'error');
  say(`\nresults: ${outDir} (results.json, results.md, plot.svg${png ? `, plot.png by ${png}` : ''}); ${res.elapsedS} s`);
  if (fails.length)
    say(`*** ${fails.length} run(s) FAILED their checksum: ${fails.map((r) => `${r.workload}/${r.bin}#${r.rep + 1}: ${r.verdict}`).join('; ')} ***`);
  if (errors.length) say(`${errors.length} run(s) hit an error of the tool or the bench (see above)`);
  fs.rmSync(TMP, { recursive: true, force: true });
  process.exitCode = fails.length || errors.length ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
