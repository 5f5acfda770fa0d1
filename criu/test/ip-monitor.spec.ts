// iproute2's `ip monitor` (Debian's, at /usr/sbin/ip) holds a route netlink socket in the
// address groups and, by NETLINK_ADD_MEMBERSHIP, in groups 32 and 36 (nexthop, stats: above
// what nl_groups of a bind reaches; CRIU 4.2 refuses such a socket), and one more for its
// requests. It is dumped (killed) and restored with -d from the command line on its old PID, and
// still prints the event of an address added to `lo` afterwards. The addresses it sees
// (127.0.0.98 and .99 on lo) are removed again. Runs as root.
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, crit, tmpdir, waitGone, sleep, alive, until } from './lib.js';

const IP = '/usr/sbin/ip';
const started: number[] = [];
const added: string[] = [];
test.afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const a of added) {
    try {
      execFileSync(IP, ['addr', 'del', a, 'dev', 'lo'], { stdio: 'ignore' });
    } catch {
      /* not there */
    }
  }
});

/** an address on lo and back off, each step seen in `out` */
async function event(out: string, addr: string): Promise<void> {
  added.push(addr);
  execFileSync(IP, ['addr', 'add', addr, 'dev', 'lo']);
  execFileSync(IP, ['addr', 'del', addr, 'dev', 'lo']);
  const ip = addr.replace(/\/.*/, '');
  await until(`event for ${ip}`, () => new RegExp(`Deleted .*inet ${ip.replace(/\./g, '\\.')}/`).test(fs.readFileSync(out, 'utf8')));
}

test.skip(!fs.existsSync(IP), 'iproute2 is not installed');

test('ip monitor keeps its netlink groups (above 32 too) across a dump and a restore and prints the next event', async () => {
  const dir = tmpdir('ip-monitor');
  const out = path.join(dir, 'out');
  const fd = fs.openSync(out, 'w');
  const c = spawn(IP, ['-o', 'monitor', 'address', 'nexthop', 'stats'], { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  c.unref();
  const pid = c.pid!;
  started.push(pid);
  // subscribed once it prints an event
  await until('ip monitor subscribed', () => {
    const a = `127.0.0.98/32`;
    try {
      execFileSync(IP, ['addr', 'add', a, 'dev', 'lo']);
      execFileSync(IP, ['addr', 'del', a, 'dev', 'lo']);
    } catch {
      /* retried */
    }
    return /Deleted .*inet 127\.0\.0\.98\//.test(fs.readFileSync(out, 'utf8'));
  });
  added.push('127.0.0.98/32');
  await sleep(100);

  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
  expect(d.code, `${d.stderr}\n${fs.readFileSync(path.join(img, 'dump.log'), 'utf8').slice(-3000)}`).toBe(0);
  const log = fs.readFileSync(path.join(img, 'dump.log'), 'utf8');
  expect(log).toMatch(/NETLINK_EXT_ACK of a netlink route socket .* is not kept/);
  // the subscribed socket: groups 5 and 9 by bind, 32 and 36 by membership
  const files = JSON.parse(crit(['show', path.join(img, 'files.img')]).stdout) as { entries: { type: string; nlsk?: { groups?: number[]; portid: number } }[] };
  const nl = files.entries.filter((e) => e.type === 'NETLINKSK').map((e) => e.nlsk!);
  expect(nl.map((n) => n.groups ?? [])).toContainEqual([0x80000110, 0x8]);
  await waitGone(pid);

  const r = criu(['restore', '-d', '-D', img, '-v4', '-o', 'restore.log']);
  expect(r.code, `${r.stderr}\n${fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)}`).toBe(0);
  expect(alive(pid)).toBe(true);
  await event(out, '127.0.0.99/32');
  // the restored socket is on the port id it had
  const ports = fs.readFileSync('/proc/net/netlink', 'utf8');
  for (const n of nl) if (n.portid) expect(ports).toMatch(new RegExp(`\\s0\\s+${n.portid}\\s`));
});
