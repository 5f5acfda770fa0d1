// --inherit-fd fd[N]:RES on restore (CRIU's files.c inherit_fd_*): the caller's own fd stands
// for an object of the images, named as CRIU names it (pipe:[ID], a file's path without its
// leading '/'), and the restored task gets it instead: a program whose stdout was a pipe to a
// reader that is gone writes into the restorer's new pipe, and its log file is the one the
// restorer opened. Bad arguments and fds that are not open fail before anything is made;
// debug[N]:TEXT writes TEXT to fd N.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { criuBin, tmpdir, alive, waitGone, until } from './lib.js';

const kids: ChildProcess[] = [];
const pids: number[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
  for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
});

const PROG = [
  'import os, sys, time',
  'f = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)',
  "open(sys.argv[2], 'w').write(str(os.getpid()) + '\\n')",
  'i = 0',
  'while True:',
  "    os.write(1, b'tick %d\\n' % i)",
  "    os.write(f, b'tick %d\\n' % i)",
  '    i += 1',
  '    time.sleep(0.05)',
].join('\n');

const ticks = (f: string): number[] =>
  fs.existsSync(f)
    ? fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => /^tick \d+$/.test(l))
        .map((l) => Number(l.slice(5)))
    : [];

/** The program, its stdout a pipe to `cat > out1` and its fd on log file A; returns its pid and pipe id. */
async function started(dir: string): Promise<{ pid: number; pipe: string }> {
  const a = path.join(dir, 'A');
  const pidf = path.join(dir, 'pid');
  const sh = spawn('/bin/bash', ['-c', `setsid /usr/bin/python3 -c "$0" ${a} ${pidf} </dev/null 2>${dir}/err | cat > ${dir}/out1`, PROG], { stdio: 'ignore' });
  kids.push(sh);
  const pid = await until('the program starts', () =>
    fs.existsSync(pidf) && fs.readFileSync(pidf, 'utf8').endsWith('\n') ? Number(fs.readFileSync(pidf, 'utf8')) : undefined,
  );
  pids.push(pid);
  await until('it writes', () => (ticks(path.join(dir, 'out1')).length > 3 ? true : undefined));
  const link = fs.readlinkSync(`/proc/${pid}/fd/1`);
  expect(link).toMatch(/^pipe:\[\d+\]$/);
  return { pid, pipe: link };
}

test('a pipe and a file passed with --inherit-fd take the place of the dumped ones', async () => {
  const dir = tmpdir('inherit');
  const img = path.join(dir, 'img');
  const { pid, pipe } = await started(dir);
  const d = spawnSync(criuBin, ['dump', '-t', String(pid), '-D', img, '-o', 'dump.log'], { encoding: 'utf8' });
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  await waitGone(pid);
  const last = Math.max(...ticks(path.join(dir, 'A')));
  const a = path.join(dir, 'A');
  const b = path.join(dir, 'B');
  // fd 3 of criu: a new pipe to `cat > out2`; its fd 4: file B, standing for A (its key is its path without '/')
  const cmd = `${criuBin} restore -d -D ${img} -o restore.log -v4 --inherit-fd 'fd[3]:${pipe}' --inherit-fd 'fd[4]:${a.slice(1)}' 3> >(exec cat > ${dir}/out2 2>/dev/null) 4>>${b}`;
  const r = spawnSync('/bin/bash', ['-c', cmd], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(alive(pid)).toBe(true);
  const log = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
  expect(log).toContain(`File ${pipe} will be restored from inherit fd 3`);
  const out2 = await until('ticks in the new pipe', () => (ticks(path.join(dir, 'out2')).length > 3 ? ticks(path.join(dir, 'out2')) : undefined));
  // the counter goes on: the restored program, not a new one
  expect(out2[0]).toBe(last + 1);
  const inB = await until('ticks in B', () => (ticks(b).length > 3 ? ticks(b) : undefined));
  expect(inB[0]).toBe(last + 1);
  expect(Math.max(...ticks(a))).toBe(last);
  expect(fs.readdirSync(`/proc/${pid}/fd`).map((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`))).toContain(b);
  process.kill(pid, 'SIGKILL');
});

test('bad --inherit-fd arguments and fds that are not open fail before anything is made; debug[N] writes', async () => {
  const dir = tmpdir('inherit-bad');
  const img = path.join(dir, 'img');
  const { pid, pipe } = await started(dir);
  const d = spawnSync(criuBin, ['dump', '-t', String(pid), '-D', img], { encoding: 'utf8' });
  expect(d.status).toBe(0);
  await waitGone(pid);
  const bad = spawnSync(criuBin, ['restore', '-D', img, '--inherit-fd', 'fd[x]:pipe:[1]'], { encoding: 'utf8' });
  expect(bad.status).toBe(1);
  expect(bad.stderr).toContain('Invalid inherit fd argument: fd[x]:pipe:[1]');
  expect(alive(pid)).toBe(false);
  const closed = spawnSync(criuBin, ['restore', '-D', img, '--inherit-fd', `fd[77]:${pipe}`], { encoding: 'utf8' });
  expect(closed.status).toBe(1);
  expect(closed.stderr).toContain("Can't fstat inherit fd 77");
  expect(alive(pid)).toBe(false);
  const dbg = spawnSync(criuBin, ['restore', '-D', img, '--inherit-fd', 'debug[1]:marker-in-stdout', '--inherit-fd', 'fd[x]'], { encoding: 'utf8' });
  expect(dbg.stdout).toBe('marker-in-stdout');
  expect(dbg.status).toBe(1);
  expect(alive(pid)).toBe(false);
});
