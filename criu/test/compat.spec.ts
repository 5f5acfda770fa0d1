// Our dump of fixture-prog held against CRIU 4.2's dump of the same program (the fixtures):
// the same set of files, the same entries with the same fields present, and equal values
// wherever a value does not depend on addresses, PIDs, time or the machine.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { criu, crit, critBin, fixtures, fixturesIntel, tmpdir, waitGone, startFixtureProg, settledTree, blockedIn, repo } from './lib.js';
import { compareEntries } from './compat-lib.js';
import { readImage } from '../src/images/index.js';

const critRaw = (args: string[], input: string) => spawnSync(process.execPath, [critBin, ...args], { input, maxBuffer: 1 << 28 });

// the xsave components our dump writes on this CPU (a field per component CPUID places).
// From dist/, not the sources: xsaveLayout() asks CPUID through native/build/libcriu-native.so,
// which criu/src/paths.ts finds relative to its compiled place (dist/criu/src, four levels below
// the package root); loaded from criu/src it would look one level above the repository.
const { xsaveLayout, XCOMPONENTS } = (await import(path.join(repo, 'dist', 'criu', 'src', 'arch', 'x86_64.js'))) as typeof import('../src/arch/x86_64.js');
const ourCpu = new Set(XCOMPONENTS.filter((c) => xsaveLayout().offsets[c.f] !== undefined).map((c) => c.field));

// CRIU 4.2's dumps of the same program on two CPUs: an AMD EPYC without PKU, an Intel Xeon with it
const SETS = [
  ['', fixtures],
  [' (Intel Xeon dump)', fixturesIntel],
] as const;

for (const [setName, set] of SETS)
  for (const [mode, arg] of [
    ['mem', '8'],
    ['threads', '4'],
    ['tree', undefined],
  ] as const) {
    test(`our dump of fixture-prog ${mode} matches CRIU 4.2's${setName}`, async () => {
      const dir = tmpdir(`compat-${mode}`);
      fs.chmodSync(dir, 0o777);
      const pid = await startFixtureProg(mode, path.join(dir, `${mode}.out`), arg);
      const ours = path.join(dir, 'img');
      const d = criu(['dump', '-t', String(pid), '-D', ours]);
      expect(d.code, d.stderr).toBe(0);
      await waitGone(pid);
      const theirs = path.join(set, mode);

      // PIDs and TIDs map by their place in pstree.img
      const tids = (dirName: string) => readImage(path.join(dirName, 'pstree.img')).entries.flatMap((e) => e.msg.threads as number[]);
      const map = new Map<string, string>();
      const tt = tids(theirs),
        to = tids(ours);
      expect(to.length).toBe(tt.length);
      tt.forEach((t, i) => map.set(String(t), String(to[i])));
      const rename = (f: string) => f.replace(/\d+/g, (n) => map.get(n) ?? n);
      const images = (dirName: string) => fs.readdirSync(dirName).filter((f) => f.endsWith('.img') || f.startsWith('stats-'));
      expect(images(ours).sort()).toEqual(images(theirs).map(rename).sort());

      // crit reads every file we wrote, and its JSON encodes back to the very same bytes
      for (const f of images(ours)) {
        if (f.startsWith('pages-')) continue;
        const dec = crit(['decode', '-i', path.join(ours, f)]);
        expect(dec.code, `crit decode ${f}: ${dec.stderr}`).toBe(0);
        const enc = critRaw(['encode'], dec.stdout);
        expect(enc.status, `crit encode ${f}: ${enc.stderr}`).toBe(0);
        expect(enc.stdout.equals(fs.readFileSync(path.join(ours, f))), `crit encode of ${f} gives the same bytes`).toBe(true);
      }

      for (const f of images(theirs)) {
        if (f.startsWith('pages-')) continue;
        const a = readImage(path.join(theirs, f)).entries.map((e) => e.msg);
        const b = readImage(path.join(ours, rename(f))).entries.map((e) => e.msg);
        expect(compareEntries(f, a, b, ourCpu), `fields and values of ${f}`).toEqual([]);
      }
    });
  }

test('a task asleep in a syscall is saved as CRIU saves it: ready to re-run the call', async () => {
  const dir = tmpdir('restart');
  fs.chmodSync(dir, 0o777);
  const pid = await startFixtureProg('tree', path.join(dir, 'tree.out'));
  // the children block in read(2) on a pipe (they may still be on their way there)
  const kids = await settledTree(pid);
  expect(kids).toHaveLength(2);
  for (const k of kids) expect(blockedIn(k), `task ${k} in read(2)`).toBe(0);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
  expect(d.code, d.stderr).toBe(0);
  for (const k of kids) {
    const core = readImage(path.join(dir, 'img', `core-${k}.img`)).entries[0].msg as { thread_info: { gpregs: Record<string, bigint> } };
    const g = core.thread_info.gpregs;
    // not -ERESTARTSYS in ax: the number of read(2) itself, so a plain resume re-runs it
    expect(g.orig_ax).toBe(0n);
    expect(g.ax).toBe(0n);
  }
  for (const p of [pid, ...kids]) await waitGone(p);
});
