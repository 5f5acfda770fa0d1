// Clocks that keep going: which clocks a restore plans for (from the images alone), and a
// program whose clocks run 10^5 s ahead of the host's dumped, restored, dumped and restored
// again with its clocks going on from where they stood.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { loadImages } from '../src/restore/images.js';
import { planClocks } from '../src/restore/timens.js';
import { parseTimensOffsets } from '../src/proc/index.js';
import { writeImage, readSingle } from '../src/images/index.js';
import { repo, criu, crit, fixtures, shared, tmpdir, waitFile, waitGone, verdict, alive } from './lib.js';

const G = 1_000_000_000n;
const copyDir = (from: string, to: string): void => {
  fs.cpSync(from, to, { recursive: true });
};

test('timens_offsets text: names and numbers, negative seconds', () => {
  expect(parseTimensOffsets('monotonic      100000         0\nboottime       -2   374659411\n')).toEqual({
    monotonic: 100000n * G,
    boottime: -2n * G + 374659411n,
  });
  expect(parseTimensOffsets('1 5 7\n7 0 1\n')).toEqual({ monotonic: 5n * G + 7n, boottime: 1n });
  expect(() => parseTimensOffsets('monotonic x 0\n')).toThrow(/timens_offsets:1: .*monotonic x 0/);
});

for (const set of ['criu-4.2', 'criu-4.2-intel']) {
  test(`a CRIU 4.2 dump of a host task (${set}) plans the clocks of its timens-0.img`, () => {
    for (const mode of ['mem', 'threads', 'tree']) {
      const dir = path.join(shared, 'fixtures', set, mode);
      const te = readSingle<{ monotonic: { tv_sec: bigint; tv_nsec: bigint }; boottime: { tv_sec: bigint; tv_nsec: bigint } }>(path.join(dir, 'timens-0.img'));
      const plan = planClocks(loadImages(dir), true);
      expect(plan.image).toBe('timens-0.img');
      expect(plan.monotonic).toBe(BigInt(te.monotonic.tv_sec) * G + BigInt(te.monotonic.tv_nsec));
      expect(plan.boottime).toBe(BigInt(te.boottime.tv_sec) * G + BigInt(te.boottime.tv_nsec));
      expect(planClocks(loadImages(dir), false)).toMatchObject({ image: null, why: 'this kernel has no time namespaces' });
    }
  });
}

test('a tree in a time namespace of its own plans timens-ID.img; a missing one is an error, a missing timens-0.img keeps the host clocks', () => {
  const dir = tmpdir('timens-plan');
  copyDir(path.join(fixtures, 'tree'), dir);
  const pids = loadImages(dir).tasks.map((t) => t.pid);
  const setTime = (pid: number, id: number): void => {
    const ids = readSingle<Record<string, unknown>>(path.join(dir, `ids-${pid}.img`));
    writeImage(dir, `ids-${pid}.img`, [{ ...ids, time_ns_id: id }]);
  };
  for (const p of pids) setTime(p, 9);
  writeImage(dir, 'timens-9.img', [{ monotonic: { tv_sec: 123456n, tv_nsec: 5n }, boottime: { tv_sec: 123457n, tv_nsec: 6n } }]);
  expect(planClocks(loadImages(dir), true)).toEqual({ image: 'timens-9.img', monotonic: 123456n * G + 5n, boottime: 123457n * G + 6n, nested: new Map() });
  // a child in yet another time namespace (below its parent's, ns-misc.spec.ts): its image is needed
  setTime(pids[2], 10);
  expect(() => planClocks(loadImages(dir), true)).toThrow(
    new RegExp(`task ${pids[2]}: image timens-10.img of its time namespace is missing|task \\d+: time namespace \\d+, while its sibling`),
  );
  setTime(pids[2], 9);
  fs.rmSync(path.join(dir, 'timens-9.img'));
  expect(() => planClocks(loadImages(dir), true)).toThrow(new RegExp(`task ${pids[0]}: image timens-9.img of its time namespace is missing`));
  // back in the dumping tool's namespace (5, as in the inventory's root_ids), without timens-0.img
  for (const p of pids) setTime(p, 5);
  fs.rmSync(path.join(dir, 'timens-0.img'));
  expect(planClocks(loadImages(dir), true)).toMatchObject({ image: null, why: 'timens-0.img is not in the images (clocks were not dumped)' });
  writeImage(dir, 'timens-0.img', [{ monotonic: { tv_sec: 1n, tv_nsec: 2_000_000_000n }, boottime: { tv_sec: 1n, tv_nsec: 0n } }]);
  expect(() => planClocks(loadImages(dir), true)).toThrow(/timens-0.img: entry 0: monotonic.tv_nsec 2000000000 is out of range \(0..999999999\)/);
});

test('a program 10^5 s ahead of the host is dumped, restored, dumped and restored again, its clocks going on', async () => {
  test.setTimeout(90_000);
  const dir = tmpdir('timens-live');
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'out'),
    pidfile = path.join(dir, 'pid');
  execFileSync(path.join(repo, 'zdtm', 'build', 'static', 'timens00'), [`--pidfile=${pidfile}`, `--outfile=${out}`], { stdio: 'ignore' });
  const pid = Number((await waitFile(pidfile)).trim());
  const offsets = (p: number) => parseTimensOffsets(fs.readFileSync(`/proc/${p}/timens_offsets`, 'utf8'));
  const hostNs = fs.readlinkSync('/proc/self/ns/time');
  expect(offsets(pid).monotonic).toBe(100000n * G);
  expect(fs.readlinkSync(`/proc/${pid}/ns/time`)).not.toBe(hostNs);
  try {
    for (let i = 0; i < 2; i++) {
      const img = path.join(dir, `img${i}`);
      const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
      expect(d.code, d.stderr).toBe(0);
      // as CRIU writes it for a tree in a time namespace of its own: time_ns_id past the tool's
      // own namespaces, the namespace's clocks in timens-ID.img, no timens-0.img
      const ids = JSON.parse(crit(['decode', '-i', path.join(img, `ids-${pid}.img`)]).stdout).entries[0];
      const inv = JSON.parse(crit(['decode', '-i', path.join(img, 'inventory.img')]).stdout).entries[0];
      expect(ids.time_ns_id).not.toBe(inv.root_ids.time_ns_id);
      expect(fs.existsSync(path.join(img, 'timens-0.img'))).toBe(false);
      const te = JSON.parse(crit(['decode', '-i', path.join(img, `timens-${ids.time_ns_id}.img`)]).stdout).entries[0];
      expect(te.monotonic.tv_sec).toBeGreaterThanOrEqual(100000);
      await waitGone(pid);
      const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
      const rlog = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
      expect(r.code, rlog).toBe(0);
      expect(rlog).toMatch(
        new RegExp(`timens: a new time namespace from timens-${ids.time_ns_id}\\.img: clocks go on from monotonic ${te.monotonic.tv_sec}\\.`),
      );
      expect(alive(pid)).toBe(true);
      // a namespace of the restore's (the clocks paused while the tree was dumped, so the
      // offsets are a little under the program's own 10^5 s), still about 10^5 s ahead
      expect(fs.readlinkSync(`/proc/${pid}/ns/time`)).not.toBe(hostNs);
      const off = offsets(pid);
      for (const v of [off.monotonic, off.boottime]) expect(v > 99000n * G && v < 100000n * G, `offset ${v}`).toBe(true);
    }
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
    await waitGone(pid);
  }
});
