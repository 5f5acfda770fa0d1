// The restore plan (restore/plan.ts) of CRIU 4.2's fixtures, from the images alone: fork order,
// fd tables and their batches, the pipes and the file the tree's tasks share, how each VMA is
// mapped; and `crit x DIR plan`.
import { test, expect } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadImages } from '../src/restore/images.js';
import { planRestore, formatPlan, type FdStep } from '../src/restore/plan.js';
import { VMA } from '../src/images/consts.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIX = path.join(repoRoot, '..', 'shared', 'fixtures', 'criu-4.2');
const fdsOf = (steps: FdStep[]): (number | null)[] => steps.flatMap((s) => ('single' in s ? [s.single.fd] : s.batch.map((f) => f?.fd ?? null)));

test('tree: the root forks its two children, each with an fd table of its own', () => {
  const plan = planRestore(loadImages(path.join(FIX, 'tree')));
  expect(plan.order.map((t) => [t.pid, t.parent, t.sharesFiles, t.zombie])).toEqual([
    [3999302, null, false, false],
    [3999303, 3999302, false, false],
    [3999304, 3999302, false, false],
  ]);
  expect(plan.order.map((t) => t.session)).toEqual(['setsid', null, null]);
  expect(plan.order.every((t) => t.joinGroup === null && t.sessionOk)).toBe(true);
  expect([...plan.fdTables.keys()]).toEqual([2, 3, 4]);
  expect(plan.transportFd).toBe(1000);
});

test('tree: fd batches fill the gaps with stand-ins; the pipes and data/file.dat are shared', () => {
  const img = loadImages(path.join(FIX, 'tree'));
  const plan = planRestore(img);
  // the parent: /dev/null on 0-2, pipe ends on 4, 5, 7, 8, data/file.dat on 9 (README)
  expect(fdsOf(plan.fdTables.get(2)!.steps)).toEqual([0, 1, 2, null, 4, 5, null, 7, 8, 9]);
  expect(plan.fdTables.get(2)!.steps).toHaveLength(1);
  expect(fdsOf(plan.fdTables.get(3)!.steps)).toEqual([0, 1, 2, 3, null, null, 6, 7, 8, 9]);
  const kinds = (plan.fdTables.get(2)!.steps[0] as { batch: ({ kind: string } | null)[] }).batch.map((f) => f?.kind ?? '-');
  expect(kinds).toEqual(['reg', 'reg', 'reg', '-', 'pipe', 'pipe', '-', 'pipe', 'pipe', 'reg']);
  // the pipe holding unread data (keep[]) is one pair of file ids held by all three tasks
  const shared = new Map(plan.shared.map((s) => [s.id, s]));
  for (const id of [5, 6]) {
    expect(shared.get(id)!.kind).toBe('pipe');
    expect(shared.get(id)!.holders.map((h) => h.filesId)).toEqual([2, 3, 4]);
  }
  expect(img.files.get(5)!.pipe!.pipe_id).toBe(img.files.get(6)!.pipe!.pipe_id);
  // data/file.dat, open at offset 4096, on fd 9 of every task
  expect(shared.get(7)!.holders).toEqual([
    { filesId: 2, fd: 9 },
    { filesId: 3, fd: 9 },
    { filesId: 4, fd: 9 },
  ]);
  expect(img.files.get(7)!.reg!.name).toBe('/tmp/criu-fixture/data/file.dat');
  expect(BigInt(img.files.get(7)!.reg!.pos)).toBe(4096n);
});

/** an anonymous VMA right after another anonymous one (a thread's stack after its guard) is moved into place */
const anonAfterAnon = (vmas: { start: bigint; end: bigint; status: number }[], i: number): boolean =>
  i > 0 &&
  BigInt(vmas[i - 1].end) === BigInt(vmas[i].start) &&
  (vmas[i - 1].status & VMA.ANON_PRIVATE) !== 0 &&
  !(vmas[i - 1].status & (VMA.VDSO | VMA.VVAR | VMA.VSYSCALL));

test('tree, mem, threads: each VMA is mapped the way its status bits say', () => {
  for (const d of ['tree', 'mem', 'threads']) {
    const img = loadImages(path.join(FIX, d));
    const plan = planRestore(img);
    for (const pt of plan.order) {
      const vmas = img.tasks.find((t) => t.pid === pt.pid)!.mm.vmas!;
      expect(pt.vmas).toHaveLength(vmas.length);
      pt.vmas.forEach((pv, i) => {
        const v = vmas[i];
        expect(pv.start).toBe(BigInt(v.start));
        const want =
          v.status & VMA.VSYSCALL
            ? 'special'
            : v.status & (VMA.VDSO | VMA.VVAR)
              ? 'special'
              : v.status & VMA.FILE_PRIVATE
                ? 'file'
                : v.status & VMA.ANON_PRIVATE
                  ? anonAfterAnon(vmas, i)
                    ? 'anon-moved'
                    : 'anon'
                  : '?';
        expect(pv.how.how, `${d} ${pt.pid} vma ${i}`).toBe(want);
      });
    }
  }
  // the tree's root: the program's 5 file mappings, then heap, brk area and stack as anonymous ones
  const plan = planRestore(loadImages(path.join(FIX, 'tree')));
  const root = plan.order[0].vmas;
  expect(root.map((v) => v.how.how)).toEqual(['file', 'file', 'file', 'file', 'file', 'anon', 'anon', 'special', 'special', 'anon', 'special']);
  expect(root.slice(0, 5).map((v) => (v.how.how === 'file' ? [v.how.path, v.how.shared, v.pgoff] : null))).toEqual(
    [0x0n, 0x1000n, 0x8d000n, 0xb7000n, 0xbb000n].map((o) => ['/tmp/criu-fixture/bin/fixture-prog', false, o]),
  );
  expect(root.filter((v) => v.how.how === 'special').map((v) => (v.how.how === 'special' ? v.how.what : ''))).toEqual(['vvar', 'vdso', 'vsyscall']);
  expect(plan.order[1].vmas.filter((v) => v.cow).length).toBe(8);
  expect(plan.gadget.hole).toBe(0x11000n);
});

test('threads: one task with its five threads', () => {
  const plan = planRestore(loadImages(path.join(FIX, 'threads')));
  expect(plan.order.map((t) => t.pid)).toEqual([3999202]);
  expect(plan.order[0].threads).toEqual([3999202, 3999203, 3999205, 3999206, 3999207]);
  // each thread's stack lies right after its guard: mapped elsewhere and moved, to keep the boundary
  expect(plan.order[0].vmas.filter((v) => v.how.how === 'anon-moved').length).toBeGreaterThan(0);
  expect(fdsOf(plan.fdTables.get(plan.order[0].filesId!)!.steps)).toEqual([0, 1, 2]);
});

test('crit x DIR plan prints the plan', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'criu', 'bin', 'crit.js'), 'x', path.join(FIX, 'tree'), 'plan'], { timeout: 20_000 });
  expect(r.status, r.stderr.toString()).toBe(0);
  const out = r.stdout.toString();
  const img = loadImages(path.join(FIX, 'tree'));
  expect(out).toBe(formatPlan(planRestore(img), img).replace(`restore plan of ${img.dir}`, `restore plan of ${path.join(FIX, 'tree')}`));
  expect(out).toContain('fork order: 3999302 3999303 3999304\n');
  expect(out).toContain('task 3999303: forked from 3999302; threads 3999303; fd table 3\n');
  expect(out).toContain('9=reg id 7 /tmp/criu-fixture/data/file.dat pos 4096');
  expect(out).toContain('shared file id 5 (pipe): table 2 fd 7, table 3 fd 7, table 4 fd 7\n');
  expect(out).toContain('    400000-401000 r-- file private id 1 /tmp/criu-fixture/bin/fixture-prog pgoff 0x0\n');
  const bad = spawnSync(process.execPath, [path.join(repoRoot, 'criu', 'bin', 'crit.js'), 'x', path.join(FIX, 'tree'), 'nope']);
  expect(bad.stderr.toString()).toContain("(choose from 'ps', 'fds', 'mems', 'rss', 'plan', 'html')");
});
