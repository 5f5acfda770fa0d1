// --freeze-cgroup: the tree is frozen through its freezer cgroup (v1 and v2) while it is seized,
// and the cgroup is thawed again, whether the dump leaves the tree running or not.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, crit, tmpdir, waitGone, startFixtureProg, verdict, childrenOf } from './lib.js';

const roots = [
  ['v1', '/sys/fs/cgroup/freezer'],
  ['v2', '/sys/fs/cgroup/unified'],
] as const;

/** rmdir the test's cgroup, retried while its tasks go */
async function removeCg(cg: string): Promise<void> {
  for (let i = 0; i < 100 && fs.existsSync(cg); i++) {
    try {
      fs.rmdirSync(cg);
    } catch {
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

for (const [v, root] of roots) {
  test(`dump --freeze-cgroup with a cgroup ${v} freezer`, async () => {
    test.skip(!fs.existsSync(root), `no ${root} here`); // listed as an expected skip where absent
    const cg = fs.mkdtempSync(path.join(root, 'criu-test-'));
    try {
      const dir = tmpdir(`freeze-${v}`);
      fs.chmodSync(dir, 0o777);
      const out = path.join(dir, 'tree.out');
      const pid = await startFixtureProg('tree', out);
      const kids = await childrenOf(pid, 2);
      for (const p of [pid, ...kids]) fs.writeFileSync(path.join(cg, 'cgroup.procs'), String(p));
      const state = () =>
        v === 'v1'
          ? fs.readFileSync(path.join(cg, 'freezer.state'), 'utf8').trim()
          : fs.readFileSync(path.join(cg, 'cgroup.events'), 'utf8').match(/frozen (\d)/)![1];
      // outside the cgroup the dump is refused before anything is touched
      const bad = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'bad'), '--freeze-cgroup', dir]);
      expect(bad.stderr).toContain('not a freezer cgroup');
      const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img1'), '-R', '--freeze-cgroup', cg, '-v4', '-o', 'dump.log']);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.readFileSync(path.join(dir, 'img1', 'dump.log'), 'utf8')).toContain(`Froze cgroup ${cg}`);
      expect(state()).toBe(v === 'v1' ? 'THAWED' : '0');
      const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img2'), '--freeze-cgroup', cg]);
      expect(d.code, d.stderr).toBe(0);
      for (const p of [pid, ...kids]) await waitGone(p);
      const rs = criu(['restore', '-D', path.join(dir, 'img2'), '-d']);
      expect(rs.code, rs.stderr).toBe(0);
      expect(await verdict(pid, out)).toBe('PASS');
    } finally {
      await removeCg(cg);
    }
  });
}

for (const [v, root] of roots) {
  test(`--freeze-cgroup of a paused tree (a cgroup ${v} frozen before the dump): left frozen, its state dumped as it was and frozen again by a restore that makes the cgroup`, async () => {
    test.skip(!fs.existsSync(root), `no ${root} here`); // listed as an expected skip where absent
    const cg = fs.mkdtempSync(path.join(root, 'criu-test-'));
    const file = v === 'v1' ? 'freezer.state' : 'cgroup.freeze';
    const [frozenValue, thawedValue] = v === 'v1' ? ['FROZEN', 'THAWED'] : ['1', '0'];
    const frozen = () =>
      v === 'v1'
        ? fs.readFileSync(path.join(cg, 'freezer.state'), 'utf8').trim() === 'FROZEN'
        : /frozen 1/.test(fs.readFileSync(path.join(cg, 'cgroup.events'), 'utf8'));
    const settle = async (want: boolean) => {
      for (let i = 0; i < 100 && frozen() !== want; i++) await new Promise((res) => setTimeout(res, 50));
      return frozen();
    };
    try {
      const dir = tmpdir(`freeze-paused-${v}`);
      fs.chmodSync(dir, 0o777);
      const out = path.join(dir, 'tree.out');
      const pid = await startFixtureProg('tree', out);
      const kids = await childrenOf(pid, 2);
      for (const p of [pid, ...kids]) fs.writeFileSync(path.join(cg, 'cgroup.procs'), String(p));
      fs.writeFileSync(path.join(cg, file), frozenValue);
      expect(await settle(true)).toBe(true);
      const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img1'), '-R', '--freeze-cgroup', cg]);
      expect(r.code, r.stderr).toBe(0);
      expect(await settle(true), 'left frozen after dump -R').toBe(true);
      // the state before the dump, in cgroup.img (CRIU's freezer.state; cgroup.freeze for v2)
      const show = JSON.parse(crit(['show', path.join(dir, 'img1', 'cgroup.img')]).stdout);
      expect(JSON.stringify(show)).toContain(`{"name":"${file}","value":"${frozenValue}"`);
      const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img2'), '--freeze-cgroup', cg]);
      expect(d.code, d.stderr).toBe(0);
      for (const p of [pid, ...kids]) await waitGone(p);
      // gone, so that the restore makes it again with its properties (soft mode keeps an existing cgroup's, as CRIU)
      await removeCg(cg);
      const rs = criu(['restore', '-D', path.join(dir, 'img2'), '-d']);
      expect(rs.code, rs.stderr).toBe(0);
      expect(await settle(true), 'paused again after the restore').toBe(true);
      fs.writeFileSync(path.join(cg, file), thawedValue);
      expect(await verdict(pid, out)).toBe('PASS');
    } finally {
      try {
        fs.writeFileSync(path.join(cg, file), thawedValue);
      } catch {
        /* gone */
      }
      for (const p of fs.existsSync(path.join(cg, 'cgroup.procs')) ? fs.readFileSync(path.join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : [])
        try {
          process.kill(Number(p), 'SIGKILL');
        } catch {
          /* gone */
        }
      await removeCg(cg);
    }
  });
}
