// How a restore hands the tree over: without -d criu waits for the root and exits with its
// status; with -S the root becomes the caller's child; --pidfile names the root.
import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, criuBin, tmpdir, waitGone, startFixtureProg, waitFile, alive, sleep, childrenOf } from './lib.js';
import { parseArgs, flag, atoi } from '../src/cli/options.js';

async function dumped(name: string): Promise<{ dir: string; pid: number; out: string }> {
  const dir = tmpdir(name);
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'mem.out');
  const pid = await startFixtureProg('mem', out, '1');
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  return { dir, pid, out };
}

function runCriu(args: string[]): { done: Promise<number | null> } {
  const c = spawn(criuBin, args, { stdio: 'ignore' });
  return { done: new Promise((res) => c.on('exit', (code, sig) => res(code ?? (sig ? 128 : null)))) };
}

test('without -d, criu waits for the restored root and exits with its status', async () => {
  const { dir, pid, out } = await dumped('wait');
  const r = runCriu(['restore', '-D', path.join(dir, 'img'), '--pidfile', 'pid']);
  await waitFile(path.join(dir, 'img', 'pid'));
  expect(alive(pid)).toBe(true);
  const ppid = Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
  expect(fs.readFileSync(`/proc/${ppid}/comm`, 'utf8').trim()).toBe('criu'); // the launcher is its parent
  let finished = false;
  void r.done.then(() => {
    finished = true;
  });
  await sleep(300);
  expect(finished).toBe(false);
  process.kill(pid, 'SIGTERM');
  expect(await r.done).toBe(0);
  expect(fs.readFileSync(out, 'utf8').trim()).toBe('PASS');
});

test('a root killed by a signal makes criu exit with 128 + the signal', async () => {
  const { dir, pid } = await dumped('killed');
  const r = runCriu(['restore', '-D', path.join(dir, 'img'), '--pidfile', 'pid']);
  await waitFile(path.join(dir, 'img', 'pid'));
  process.kill(pid, 'SIGKILL');
  expect(await r.done).toBe(137);
});

test('-S makes the restored root a child of the caller', async () => {
  const { dir, pid, out } = await dumped('sibling');
  // a shell as the caller: it runs criu -S, then reports its own pid and the root's parent
  const script = `${criuBin} restore -d -S -D ${path.join(dir, 'img')} --pidfile pid && echo "$$ $(cut -d' ' -f4 /proc/${pid}/stat)"; sleep 1`;
  const sh = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((res) => sh.stdout.on('data', (b: Buffer) => res(b.toString().trim())));
  const [shPid, parent] = line.split(' ').map(Number);
  expect(parent).toBe(shPid);
  process.kill(pid, 'SIGTERM');
  await waitFile(out);
  expect(fs.readFileSync(out, 'utf8').trim()).toBe('PASS');
  await new Promise((res) => sh.on('exit', res));
});

test('dump --leave-stopped leaves the tree stopped, and it runs on after SIGCONT', async () => {
  const dir = tmpdir('leave-stopped');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'tree.out');
  const pid = await startFixtureProg('tree', out);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '--leave-stopped']);
  expect(d.code, d.stderr).toBe(0);
  const kids = await childrenOf(pid, 2);
  for (const p of [pid, ...kids]) expect(fs.readFileSync(`/proc/${p}/status`, 'utf8'), `task ${p}`).toMatch(/State:\s+T \(stopped\)/);
  for (const p of [pid, ...kids]) process.kill(p, 'SIGCONT');
  process.kill(pid, 'SIGTERM');
  expect((await waitFile(out)).trim()).toBe('PASS');
});

test('--timeout, -R/-s and -S are taken as CRIU takes them', () => {
  // atoi(): leading digits; -R and -s set one final state, the last one wins
  expect(atoi('5s')).toBe(5);
  expect(atoi('soon')).toBe(0);
  const last = (args: string[]) => {
    const p = parseArgs(args);
    return [flag(p, 'leave-running'), flag(p, 'leave-stopped')];
  };
  expect(last(['dump', '-t', '1', '-R', '-s'])).toEqual([false, true]);
  expect(last(['dump', '-t', '1', '-s', '--leave-running'])).toEqual([true, false]);
  // check_options(): -S alone is refused, on any command, before anything is touched
  const r = criu(['restore', '-S', '-D', tmpdir('sibling-alone')]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('--restore-sibling only makes sense with --restore-detached');
});
