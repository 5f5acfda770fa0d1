// Objects no fd kind handles right yet are refused by name before anything is written, and the
// tree runs on: a file lock without --file-locks (CRIU's refusal, with its message) and a
// pty slave whose master is outside the tree (CRIU's refusal; -j takes it as a shell job's
// terminal). A plain file, /dev/null and a pty pair of the task's own are dumped.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { criu, tmpdir, alive, waitFile } from './lib.js';

const pty = createRequire(import.meta.url)('node-pty') as typeof import('node-pty');

const kids: ChildProcess[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
});

/** A python3 program that sets something up, says "ready" in `out`, then sleeps. */
async function holder(dir: string, setup: string): Promise<number> {
  const out = path.join(dir, 'ready');
  const prog = `import os, fcntl, time\n${setup}\nopen(${JSON.stringify(out)}, 'w').write('ready\\n')\ntime.sleep(600)\n`;
  const err = fs.openSync(path.join(dir, 'stderr'), 'w');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: ['ignore', 'ignore', err], detached: true });
  fs.closeSync(err);
  kids.push(k);
  await waitFile(out);
  return k.pid!;
}

function refused(dir: string, pid: number): string {
  const img = path.join(dir, 'img');
  const r = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(r.code).not.toBe(0);
  expect(alive(pid)).toBe(true);
  // nothing but the log is left
  expect(fs.readdirSync(img).filter((f) => f !== 'dump.log')).toEqual([]);
  return r.stderr;
}

test("without --file-locks a held flock() is refused by task, fd and lock, with CRIU's message; the task runs on", async () => {
  const dir = tmpdir('refuse-flock');
  const lockf = path.join(dir, 'lockfile');
  const pid = await holder(dir, `f = open(${JSON.stringify(lockf)}, 'w')\nfcntl.flock(f, fcntl.LOCK_EX)`);
  const err = refused(dir, pid);
  expect(err).toMatch(new RegExp(`criu: task ${pid}: fd \\d+ \\(${lockf.replace(/[/.]/g, '\\$&')}\\) holds a file lock \\(.*FLOCK.*WRITE`));
  expect(err).toContain('Some file locks are hold by dumping tasks! You can try --file-locks to dump them.');
  expect(err).not.toContain('not supported yet');
  // the lock is still held by the task: a second exclusive flock fails at once
  const probe = spawn('flock', ['-n', lockf, 'true']);
  const code = await new Promise<number | null>((r) => probe.on('exit', r));
  expect(code).not.toBe(0);
});

test('a POSIX record lock is refused the same way', async () => {
  const dir = tmpdir('refuse-posix-lock');
  const lockf = path.join(dir, 'lockfile');
  const pid = await holder(dir, `f = open(${JSON.stringify(lockf)}, 'w')\nfcntl.lockf(f, fcntl.LOCK_EX)`);
  expect(refused(dir, pid)).toMatch(/holds a file lock \(.*POSIX/);
});

test("a pty slave whose master is outside the tree is refused with CRIU's message (-j takes one)", async () => {
  const dir = tmpdir('refuse-pty');
  // a terminal of the test's own: its master stays here, the holder opens its slave
  const term = pty.spawn('/bin/sleep', ['600'], {});
  try {
    let slave = '';
    for (let i = 0; i < 500 && !slave.startsWith('/dev/pts/'); i++) {
      slave = fs.readlinkSync(`/proc/${term.pid}/fd/0`); // node-pty's child gets its pts a moment after the spawn
      if (!slave.startsWith('/dev/pts/')) await new Promise((r) => setTimeout(r, 10));
    }
    const index = Number(path.basename(slave));
    // (node-pty leaves its master fds inheritable: the holder closes what it did not open)
    const pid = await holder(dir, `os.closerange(3, 4096)\nt = os.open(${JSON.stringify(slave)}, os.O_RDWR | os.O_NOCTTY)`);
    const err = refused(dir, pid);
    expect(err).toContain(`Found slave peer index ${index} without correspond master peer`);
    expect(err).toContain('--shell-job');
  } finally {
    term.kill('SIGKILL');
  }
});

test('a pty pair of its own is dumped (both ends in the tree)', async () => {
  const dir = tmpdir('refuse-pty-pair');
  const pid = await holder(dir, 'm, s = os.openpty()');
  const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-o', 'dump.log', '-R']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(alive(pid)).toBe(true);
  expect(fs.existsSync(path.join(dir, 'img', 'tty-info.img'))).toBe(true);
});

test('the same program holding a plain file and /dev/null is dumped', async () => {
  const dir = tmpdir('refuse-none');
  const pid = await holder(dir, `f = open(${JSON.stringify(path.join(dir, 'plain'))}, 'w')\nn = open('/dev/null')`);
  const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-o', 'dump.log', '-R']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(alive(pid)).toBe(true);
});
