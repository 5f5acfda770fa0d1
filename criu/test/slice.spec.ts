// The first slice end to end: one process dumped and restored by our tool, CRIU 4.2's own
// images restored, and clear errors on bad input. Runs as root (CI does).
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { readSingle, writeImage } from '../src/images/index.js';
import { componentsInUse } from './compat-lib.js';
import {
  criu,
  crit,
  fixtures,
  fixturesIntel,
  cpuHasComponent,
  tmpdir,
  alive,
  waitGone,
  verdict,
  startTime,
  startFixtureProg,
  threadsOf,
  memFixture,
  stageFixtureProg,
  waitFile,
  childrenOf,
  settledTree,
} from './lib.js';
import { mapsFields } from '../../zdtm/runner/maps.js';

test.describe.configure({ mode: 'serial' });

test('criu --help, crit --help and criu check run', () => {
  const h = criu(['--help']);
  expect(h.code).toBe(0);
  expect(h.stdout).toContain('criu dump');
  const c = crit(['--help']);
  expect(c.code).toBe(0);
  expect(c.stdout).toMatch(/decode/);
  const k = criu(['check']);
  expect(k.stderr).toBe('');
  expect(k.stdout).toContain('Looks good.');
  expect(k.code).toBe(0);
  expect(criu(['check', '--feature', 'pagemap_scan']).code).toBe(0);
  expect(criu(['check', '--feature', 'mem_dirty_track']).code).toBe(1); // no soft-dirty on this kernel
  expect(criu(['check', '--feature', 'no_such_feature']).code).toBe(1);
});

test('an option that is not implemented fails at once and names itself', () => {
  const r = criu(['dump', '-t', '1', '--tcp-close', '-D', tmpdir('opt')]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('not supported yet: --tcp-close');
});

// CRIU 4.2's dumps of fixture-prog on an AMD EPYC and on an Intel Xeon (pkru at its default,
// AVX-512 state in use): each restores where this CPU has every xsave component its cores
// really use, and is refused naming the first one it lacks elsewhere (no process left behind)
const FIXTURE_SETS = [
  [
    '',
    fixtures,
    [
      ['mem', 3999102, 1],
      ['threads', 3999202, 5],
      ['tree', 3999302, 1],
    ],
  ],
  [
    ' (Intel Xeon dump)',
    fixturesIntel,
    [
      ['mem', 3997102, 1],
      ['threads', 3997202, 5],
      ['tree', 3997302, 1],
    ],
  ],
] as const;
for (const [setName, set, modes] of FIXTURE_SETS)
  for (const [mode, pid, threads] of modes)
    test(`CRIU 4.2 images of fixture-prog ${mode}${setName} restore with our criu and report PASS`, async () => {
      const base = stageFixtureProg();
      await waitGone(pid);
      const out = path.join(base, 'out', `${mode}.out`);
      fs.rmSync(out, { force: true });
      const work = tmpdir('fx');
      const dir = path.join(set, mode);
      const lacking = fs
        .readdirSync(dir)
        .filter((f) => f.startsWith('core-'))
        .sort()
        .flatMap((f) => componentsInUse(readSingle<Record<string, unknown>>(path.join(dir, f))).map((c) => ({ f, c })))
        .filter(({ c }) => !cpuHasComponent(c));
      const r = criu(['restore', '-D', dir, '-W', work, '-d', '--pidfile', 'pid', '-v4', '-o', 'restore.log']);
      if (lacking.length) {
        // this CPU lacks a component the image really uses (AVX-512 state on a CPU without it …)
        expect(r.code).toBe(1);
        expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
        expect(r.stderr).toMatch(
          new RegExp(`not supported yet: task ${pid} thread \\d+ uses xsave component (${lacking.map((l) => l.c).join('|')}) \\(.*\\) which this CPU lacks`),
        );
        expect(alive(pid)).toBe(false);
        return;
      }
      expect(r.code, fs.readFileSync(path.join(work, 'restore.log'), 'utf8')).toBe(0);
      expect(fs.readFileSync(path.join(work, 'pid'), 'utf8').trim()).toBe(String(pid));
      expect(alive(pid)).toBe(true);
      expect(fs.readdirSync(`/proc/${pid}/task`)).toHaveLength(threads);
      expect(await verdict(pid, out)).toBe('PASS');
      await waitGone(pid);
    });

test('an image whose pkru is really in use restores only on a CPU with PKU: elsewhere it is refused by name before any task exists', async () => {
  const base = stageFixtureProg();
  const pid = 3997102;
  await waitGone(pid);
  const img = tmpdir('pkru');
  for (const f of fs.readdirSync(path.join(fixturesIntel, 'mem'))) fs.copyFileSync(path.join(fixturesIntel, 'mem', f), path.join(img, f));
  const core = readSingle<{ thread_info: { fpregs: { xsave: { pkru: number[] } } } }>(path.join(img, `core-${pid}.img`));
  core.thread_info.fpregs.xsave.pkru = [0x5555555c, 0]; // protection key 1 write-disabled: keys in use
  writeImage(img, `core-${pid}.img`, [core]);
  const out = path.join(base, 'out', 'mem.out');
  fs.rmSync(out, { force: true });
  const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
  const logText = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
  if (!cpuHasComponent('pkru')) {
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toContain(
      `not supported yet: task ${pid} thread ${pid} uses xsave component pkru (value 0x5555555c) which this CPU lacks (restore on a CPU with PKU)`,
    );
    expect(logText).not.toMatch(/Forked puppet/);
    expect(alive(pid)).toBe(false);
    return;
  }
  expect(r.code, logText).toBe(0);
  expect(await verdict(pid, out)).toBe('PASS');
  await waitGone(pid);
});

for (const asUser of [undefined, 18943]) {
  test(`fixture-prog mem started afresh${asUser ? ' as an unprivileged uid/gid' : ''} is dumped and restored by our tool`, async () => {
    const dir = tmpdir('slice');
    const out = path.join(dir, 'mem.out');
    fs.chmodSync(dir, 0o777);
    const pid = await startFixtureProg('mem', out, '8', asUser);
    const before = startTime(pid);
    const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    const files = fs.readdirSync(path.join(dir, 'img'));
    expect(files).toContain('inventory.img');
    for (const f of files.filter((x) => x.endsWith('.img') || x.startsWith('stats-'))) {
      expect(fs.statSync(path.join(dir, 'img', f)).mode & 0o777, f).toBe(0o600);
      if (f.startsWith('pages-')) continue;
      const dec = crit(['decode', '-i', path.join(dir, 'img', f)]);
      expect(dec.code, `crit decode ${f}: ${dec.stderr}`).toBe(0);
    }
    const r = criu(['restore', '-D', path.join(dir, 'img'), '-d', '--pidfile', 'pid', '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(dir, 'img', 'restore.log'), 'utf8')).toBe(0);
    expect(alive(pid)).toBe(true);
    expect(startTime(pid)).not.toBe(before);
    expect(mapsFields(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'))).toEqual(mapsFields(maps));
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    for (const k of ['Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Umask', 'SigBlk', 'SigCgt']) {
      const line = (s: string) => s.split('\n').find((l) => l.startsWith(`${k}:`));
      expect(line(st), k).toBe(line(status));
    }
    expect(await verdict(pid, out)).toBe('PASS');
    await waitGone(pid);
  });
}

test('a multi-threaded process is dumped and restored with every TID', async () => {
  const dir = tmpdir('threads');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'threads.out');
  const pid = await startFixtureProg('threads', out, '6');
  const tids = await threadsOf(pid, 7);
  expect(tids).toHaveLength(7);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-v4', '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  expect(fs.readdirSync(path.join(dir, 'img')).filter((f) => f.startsWith('core-'))).toHaveLength(7);
  await waitGone(pid);
  const r = criu(['restore', '-D', path.join(dir, 'img'), '-d', '-v4', '-o', 'restore.log']);
  expect(r.code, fs.readFileSync(path.join(dir, 'img', 'restore.log'), 'utf8')).toBe(0);
  expect(fs.readdirSync(`/proc/${pid}/task`).sort()).toEqual(tids);
  expect(await verdict(pid, out)).toBe('PASS');
  await waitGone(pid);
});

test('a process tree joined by pipes, with unread pipe data and a file offset, is dumped and restored', async () => {
  const dir = tmpdir('tree');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'tree.out');
  const pid = await startFixtureProg('tree', out);
  // the fd tables are compared: wait until every task has closed the pipe ends it does not use
  const kids = await settledTree(pid);
  expect(kids).toHaveLength(2);
  const fds = (p: number) =>
    fs
      .readdirSync(`/proc/${p}/fd`)
      .sort()
      .map((fd) => `${fd}:${fs.readFileSync(`/proc/${p}/fdinfo/${fd}`, 'utf8').split('\n')[1]}`);
  const before = [pid, ...kids].map(fds);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-v4', '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  const pd = crit(['decode', '-i', path.join(dir, 'img', 'pipes-data.img')]);
  expect(pd.code, pd.stderr).toBe(0);
  expect(
    JSON.parse(pd.stdout)
      .entries.map((e: { bytes: number }) => e.bytes)
      .sort(),
  ).toEqual([0, 0, 42]);
  for (const p of [pid, ...kids]) await waitGone(p);
  const r = criu(['restore', '-D', path.join(dir, 'img'), '-d', '-v4', '-o', 'restore.log']);
  expect(r.code, fs.readFileSync(path.join(dir, 'img', 'restore.log'), 'utf8')).toBe(0);
  expect(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').map(Number).sort()).toEqual([...kids].sort());
  for (const [i, p] of [pid, ...kids].entries()) {
    expect(fds(p), `fds of ${p}`).toEqual(before[i]);
    const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
    expect([Number(st[2]), Number(st[3])], `pgid/sid of ${p}`).toEqual([pid, pid]);
  }
  expect(await verdict(pid, out)).toBe('PASS');
  for (const p of [pid, ...kids]) await waitGone(p);
});

// a program holding a unix socket listening with a queued connection whose client is closed, which the tool refuses (as CRIU: what it sent cannot be read)
const SOCKPROG = `#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
static volatile sig_atomic_t stop;
static void on_term(int s) { stop = 1; }
int main(int argc, char **argv) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  int sk = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
  snprintf(a.sun_path, sizeof a.sun_path, "/tmp/criu-test-%d.sock", getpid());
  if (sk < 0 || bind(sk, (struct sockaddr *)&a, sizeof a) || listen(sk, 1) || connect(c, (struct sockaddr *)&a, sizeof a) || close(c) || unlink(a.sun_path)) return 1;
  if (fork()) return 0;
  setsid();
  signal(SIGTERM, on_term);
  FILE *f = fopen(argv[1], "w"); fprintf(f, "%d\\n", getpid()); fclose(f);
  while (!stop) pause();
  f = fopen(argv[2], "w"); fprintf(f, "%s\\n", listen(sk, 2) == 0 ? "PASS" : "FAIL: socket"); fclose(f);
  return 0;
}
`;

test('state not handled yet fails the dump with "not supported yet" and the tree runs on', async () => {
  const dir = tmpdir('unsup');
  fs.writeFileSync(path.join(dir, 'sock.c'), SOCKPROG);
  execFileSync('gcc', ['-O2', '-o', path.join(dir, 'sock'), path.join(dir, 'sock.c')]);
  const out = path.join(dir, 'sock.out');
  execFileSync(path.join(dir, 'sock'), [path.join(dir, 'pid'), out], { stdio: 'ignore' });
  const pid = Number((await waitFile(path.join(dir, 'pid'))).trim());
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
  expect(d.code).toBe(1);
  expect(d.stderr).toMatch(
    new RegExp(
      `not supported yet: task ${pid} fd 3 \\(socket:\\[\\d+\\]\\): a connection queued on the listener /tmp/criu-test-\\d+\\.sock whose client is closed`,
    ),
  );
  expect(
    d.stderr
      .trim()
      .split('\n')
      .filter((l) => l.includes('Error')),
  ).toHaveLength(1);
  expect(fs.existsSync(path.join(dir, 'img', 'inventory.img'))).toBe(false);
  expect(alive(pid)).toBe(true);
  expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/TracerPid:\s+0/);
  expect(mapsFields(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'))).toEqual(mapsFields(maps));
  expect(await verdict(pid, out)).toBe('PASS');
});

test.describe('bad images give a one-line error and leave no process behind', () => {
  let good = '';
  let pid = 0;
  test.beforeAll(async () => {
    const dir = tmpdir('bad');
    fs.chmodSync(dir, 0o777);
    pid = await startFixtureProg('mem', path.join(dir, 'mem.out'), '1');
    const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(pid);
    good = path.join(dir, 'img');
  });
  const cases: [string, (d: string) => void, RegExp][] = [
    [
      'truncated core',
      (d) => {
        const f = path.join(d, `core-${pid}.img`);
        fs.truncateSync(f, fs.statSync(f).size - 7);
      },
      /core-\d+\.img/,
    ],
    [
      'wrong magic',
      (d) => {
        const f = path.join(d, `mm-${pid}.img`);
        const b = fs.readFileSync(f);
        b.writeUInt32LE(0xdeadbeef, 4);
        fs.writeFileSync(f, b);
      },
      /mm-\d+\.img/,
    ],
    [
      'entry length past the end',
      (d) => {
        const f = path.join(d, 'pstree.img');
        const b = fs.readFileSync(f);
        b.writeUInt32LE(0x7fffffff, 8);
        fs.writeFileSync(f, b);
      },
      /pstree\.img/,
    ],
    [
      'garbage protobuf',
      (d) => {
        const f = path.join(d, `fs-${pid}.img`);
        const b = fs.readFileSync(f);
        b.fill(0xff, 12);
        fs.writeFileSync(f, b);
      },
      /fs-\d+\.img/,
    ],
    [
      'missing pages file',
      (d) => {
        fs.rmSync(path.join(d, 'pages-1.img'));
      },
      /pages-1\.img/,
    ],
    [
      'truncated pages file',
      (d) => {
        fs.truncateSync(path.join(d, 'pages-1.img'), 4096);
      },
      /truncated|pages/,
    ],
  ];
  for (const [name, spoil, where] of cases) {
    test(name, async () => {
      const d = tmpdir('spoil');
      for (const f of fs.readdirSync(good)) fs.copyFileSync(path.join(good, f), path.join(d, f));
      spoil(d);
      const r = criu(['restore', '-D', d, '-d']);
      expect(r.code).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(where);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      await new Promise((res) => setTimeout(res, 100));
      expect(alive(pid)).toBe(false);
    });
  }
});

test('a file gone at restore time is a one-line error naming task, fd and path, and nothing is left', async () => {
  const dir = tmpdir('gonefile');
  fs.chmodSync(dir, 0o777);
  // a private copy of the fixture's layout: the program opens data/file.dat from its cwd
  fs.mkdirSync(path.join(dir, 'data'));
  const data = path.join(dir, 'data', 'file.dat');
  fs.copyFileSync(path.join(fixtures, 'src', 'file.dat'), data);
  const prog = path.join(stageFixtureProg(), 'bin', 'fixture-prog');
  const out = path.join(dir, 'tree.out');
  execFileSync(prog, ['tree', out], { cwd: dir, stdio: 'ignore' });
  const pid = Number((await waitFile(`${out}.pid`)).trim());
  const kids = await childrenOf(pid, 2);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
  expect(d.code, d.stderr).toBe(0);
  for (const p of [pid, ...kids]) await waitGone(p);
  fs.rmSync(data);
  const r = criu(['restore', '-D', path.join(dir, 'img'), '-d']);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(new RegExp(`task ${pid}: fd 9: cannot open ${data}`));
  await new Promise((res) => setTimeout(res, 200));
  for (const p of [pid, ...kids]) expect(alive(p), `task ${p}`).toBe(false);
});

test('a PID taken at restore time is a clear error', async () => {
  const dir = tmpdir('taken');
  fs.chmodSync(dir, 0o777);
  const pid = await startFixtureProg('mem', path.join(dir, 'mem.out'), '1');
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-R']);
  expect(d.code, d.stderr).toBe(0);
  const r = criu(['restore', '-D', path.join(dir, 'img'), '-d']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`PID ${pid} is taken`);
  expect(await verdict(pid, path.join(dir, 'mem.out'))).toBe('PASS');
  await waitFile(path.join(dir, 'mem.out'));
});

test('CPU affinity: a pinned task keeps its mask; a mask with no CPU here is a clear error', async () => {
  const { out, pid, img } = await memFixture('affinity', '1');
  execFileSync('taskset', ['-p', '1', String(pid)], { stdio: 'ignore' }); // CPU 0 only
  const d = criu(['dump', '-t', String(pid), '-D', img, '-R']);
  expect(d.code, d.stderr).toBe(0);
  const file = `core-${pid}.img`;
  const core = readSingle<{ thread_core: { allowed_cpus: { has_cpumask: boolean; cpumask: bigint[] } } }>(path.join(img, file));
  expect(core.thread_core.allowed_cpus).toEqual({ has_cpumask: true, cpumask: [1n] });
  // the same image, pinned to CPU 200, which no test machine has online
  core.thread_core.allowed_cpus.cpumask = [0n, 0n, 0n, 256n];
  writeImage(img, file, [core]);
  const r = criu(['restore', '-D', img, '-d']);
  expect(r.code).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(`task ${pid}: thread ${pid}: CPU affinity 200 names no CPU online here`);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('--display-stats prints stats-dump and stats-restore as CRIU does', async () => {
  const { out, pid, img } = await memFixture('display-stats', '1');
  const d = criu(['dump', '-t', String(pid), '-D', img, '--display-stats']);
  expect(d.code, d.stderr).toBe(0);
  const ds = readSingle<{ dump: Record<string, number | bigint> }>(path.join(img, 'stats-dump')).dump;
  const lines = d.stdout.split('\n');
  expect(lines[0]).toBe('Displaying dump stats:');
  expect(lines).toContain(`Freezing time: ${ds.freezing_time} us`);
  expect(lines).toContain(`Frozen time: ${ds.frozen_time} us`);
  expect(lines).toContain(`Memory dump time: ${ds.memdump_time} us`);
  expect(lines).toContain(`Memory pages written: ${ds.pages_written} (0x${BigInt(ds.pages_written).toString(16)})`);
  expect(Number(ds.pages_written)).toBeGreaterThan(0);
  await waitGone(pid);
  const r = criu(['restore', '-D', img, '-d', '--display-stats']);
  expect(r.code, r.stderr).toBe(0);
  const rs = readSingle<{ restore: Record<string, number | bigint> }>(path.join(img, 'stats-restore')).restore;
  const rl = r.stdout.split('\n');
  expect(rl[0]).toBe('Displaying restore stats:');
  expect(rl).toContain(`Pages restored: ${rs.pages_restored} (0x${BigInt(rs.pages_restored).toString(16)})`);
  expect(rl).toContain(`Restore time: ${rs.restore_time} us`);
  expect(rl).toContain(`Forking time: ${rs.forking_time} us`);
  expect(await verdict(pid, out)).toBe('PASS');
});
