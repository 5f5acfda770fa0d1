// What the refusal specs share: a python3 program that holds an object, and a dump of it that
// must be refused leaving the program running and nothing but the log behind.
import { expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { criu, alive, waitFile } from './lib.js';

/** A python3 program that runs `setup`, says "ready" in dir/ready, then sleeps; added to `kids` for the spec to kill. */
export async function pyHolder(dir: string, setup: string, kids: ChildProcess[]): Promise<number> {
  const out = path.join(dir, 'ready');
  const prog = `import os, fcntl, socket, struct, time\n${setup}\nopen(${JSON.stringify(out)}, 'w').write('ready\\n')\ntime.sleep(600)\n`;
  const err = fs.openSync(path.join(dir, 'stderr'), 'w');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: ['ignore', 'ignore', err], detached: true });
  fs.closeSync(err);
  kids.push(k);
  await waitFile(out);
  return k.pid!;
}

/** A dump of `pid` into dir/img that fails: the task runs on, nothing but the log is left; gives criu's stderr. */
export function refusedDump(dir: string, pid: number): string {
  const img = path.join(dir, 'img');
  const r = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(r.code).not.toBe(0);
  expect(alive(pid)).toBe(true);
  expect(fs.readdirSync(img).filter((f) => f !== 'dump.log')).toEqual([]);
  return r.stderr;
}
