// /proc files of a task that has exited (files/procfile.ts, restore/proc-helpers.ts; zdtm
// proc_dead00 covers the states): the images are CRIU's (a REG entry of the path and one
// remap-fpath entry of type PROCFS per dead pid), a restore whose dead pid a running process has
// fails naming that PID and leaves nothing, and once the PID is free again the same images
// restore, the helper gone.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { criu, crit, tmpdir, alive, waitFile, waitGone } from './lib.js';
import { pyHolder } from './refuse-lib.js';

const kids: ChildProcess[] = [];
const restored: number[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
  for (const p of restored) if (alive(p)) process.kill(p, 'SIGKILL');
});

/** A python3 process that takes PID `pid` (clone3 with set_tid: a fork onto that PID) and sleeps there. */
async function squat(dir: string, pid: number): Promise<ChildProcess> {
  const ready = path.join(dir, 'squatting');
  const prog = [
    'import ctypes, os, struct, time',
    'libc = ctypes.CDLL(None, use_errno=True)',
    `tid = (ctypes.c_int * 1)(${pid})`,
    // struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size
    "args = ctypes.create_string_buffer(struct.pack('QQQQQQQQQQ', 0, 0, 0, 0, 17, 0, 0, 0, ctypes.addressof(tid), 1))",
    'r = libc.syscall(435, args, 80)',
    'if r == 0:',
    '    time.sleep(600)',
    '    os._exit(0)',
    `open(${JSON.stringify(ready)}, 'w').write('%d\\n' % r)`,
    'os.waitpid(r, 0)',
  ].join('\n');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  expect(Number((await waitFile(ready)).trim())).toBe(pid);
  return k;
}

test('a /proc file of a dead task: CRIU images; a restore whose PID is taken fails naming it; with the PID free it restores', async () => {
  const dir = tmpdir('proc-dead');
  const deadFile = path.join(dir, 'dead');
  const setup = [
    'k = os.fork()',
    'if k == 0:',
    '    time.sleep(600)',
    '    os._exit(0)',
    'f = os.open("/proc/%d/status" % k, os.O_RDONLY)',
    'os.kill(k, 9)',
    'os.waitpid(k, 0)',
    `open(${JSON.stringify(deadFile)}, 'w').write('%d %d\\n' % (k, f))`,
  ].join('\n');
  const pid = await pyHolder(dir, setup, kids);
  const [dead, fd] = (await waitFile(deadFile)).trim().split(' ').map(Number);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(d.stderr).toBe('');
  expect(d.code).toBe(0);
  await waitGone(pid);
  const remaps = (JSON.parse(crit(['decode', '-i', path.join(img, 'remap-fpath.img')]).stdout) as { entries: Record<string, unknown>[] }).entries;
  expect(remaps.map((e) => [e.remap_id, e.remap_type])).toEqual([[dead, 'PROCFS']]);
  const files = (JSON.parse(crit(['decode', '-i', path.join(img, 'files.img')]).stdout) as { entries: { id: number; reg?: { name: string } }[] }).entries;
  expect(files.find((e) => e.id === remaps[0].orig_id)?.reg?.name).toBe(`/proc/${dead}/status`);

  const sq = await squat(dir, dead);
  const r = criu(['restore', '-D', img, '-o', 'restore.log', '-d']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`task ${pid}: the /proc/${dead} files the tree holds need a helper task on PID ${dead}, which a running process has`);
  await waitGone(pid);
  sq.kill('SIGKILL');
  process.kill(dead, 'SIGKILL');
  await waitGone(dead);

  const ok = criu(['restore', '-D', img, '-o', 'restore2.log', '-d']);
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);
  restored.push(pid);
  expect(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)).toBe(`/proc/${dead}/status`);
  expect(alive(dead)).toBe(false);
  process.kill(pid, 'SIGKILL');
});
