// A netlink socket whose port id someone else holds at restore time gets a new one with a
// warning, as CRIU's open_netlink_sk does ("reassigned new port"), and the task runs on with it.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { criu, tmpdir, alive, waitFile, waitGone } from './lib.js';

const kids: ChildProcess[] = [];
const restored: number[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
  for (const p of restored) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** python3 with a route netlink socket bound to port id `port`, "ready" in `out` once bound */
async function bound(dir: string, name: string, port: number): Promise<number> {
  const out = path.join(dir, name);
  const prog = `import socket, time\ns = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)\ns.bind((${port}, 0))\nopen(${JSON.stringify(out)}, 'w').write('ready\\n')\ntime.sleep(600)\n`;
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  await waitFile(out);
  return k.pid!;
}

test('a netlink port id taken by the time of the restore is reassigned with a warning', async () => {
  const dir = tmpdir('netlink-port');
  const port = 0x6b000000 + (process.pid & 0xffffff);
  const pid = await bound(dir, 'first', port);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  // another process takes the port id meanwhile
  await bound(dir, 'second', port);
  const r = criu(['restore', '-d', '-D', img, '-o', 'restore.log', '-v4']);
  expect(r.code, r.stderr).toBe(0);
  restored.push(pid);
  expect(alive(pid)).toBe(true);
  expect(fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toMatch(new RegExp(`port id ${port} is taken, reassigned a new port`));
});
