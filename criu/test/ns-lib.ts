// What the namespace specs (ns-*.spec.ts) share: starting a test program that daemonizes and
// writes its pidfile, decoding an image with crit, killing a tree's tasks.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect } from '@playwright/test';
import { criu, crit, tmpdir, waitFile, waitGone } from './lib.js';

/**
 * Runs `cmd(out, pidfile, dir)` (argv: the program, or unshare and the program) in a fresh
 * directory `tag`; returns the pid the program wrote, its outfile and the directory. Its stderr
 * is kept in dir/err and shown when no pid comes.
 */
export async function startProg(tag: string, cmd: (out: string, pidfile: string, dir: string) => string[]): Promise<{ pid: number; out: string; dir: string }> {
  const dir = tmpdir(tag);
  const out = path.join(dir, 'out'),
    pidfile = path.join(dir, 'pid');
  const err = fs.openSync(path.join(dir, 'err'), 'w');
  const [bin, ...args] = cmd(out, pidfile, dir);
  execFileSync(bin, args, { stdio: ['ignore', 'ignore', err] });
  fs.closeSync(err);
  try {
    return { pid: Number((await waitFile(pidfile)).trim()), out, dir };
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${fs.readFileSync(path.join(dir, 'err'), 'utf8')}`);
  }
}

/** the entries of image `name` in img, decoded by crit */
export const decodeEntries = (img: string, name: string): { [k: string]: unknown }[] => {
  const r = crit(['decode', '-i', path.join(img, name)]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).entries;
};

/** SIGKILL each task, then wait until each is gone */
export async function killAll(pids: number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const p of pids) await waitGone(p);
}

/** dump task pid (the tree is killed) into img, wait until it is gone, restore it detached; both must work */
export async function dumpRestore(pid: number, img: string): Promise<void> {
  expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
  await waitGone(pid);
  const r = criu(['restore', '-D', img, '-d']);
  expect(r.code, r.stderr).toBe(0);
}
