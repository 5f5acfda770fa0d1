// --freeze-cgroup: the tree is frozen through its freezer cgroup (v1 and v2) while it is seized,
// and the cgroup is thawed again, whether the dump leaves the tree running or not.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, tmpdir, waitGone, startFixtureProg, verdict, childrenOf } from './lib.js';

const roots = [
  ['v1', '/sys/fs/cgroup/freezer'],
  ['v2', '/sys/fs/cgroup/unified'],
] as const;

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
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(cg);
          break;
        } catch {
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    }
  });
}
