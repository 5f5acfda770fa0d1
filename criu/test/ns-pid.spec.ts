// A tree whose root is init of a pid namespace of its own (ns/pid.ts): progs/nspid.c, started
// under `unshare --pid --fork` (the host's mount and network namespaces), makes a session, two
// children in one process group, a zombie, a thread and (mode nested) init of a pid namespace
// below with a child there. It is dumped with the CLI (pstree.img as CRIU writes it: the pids
// the root sees; the host and inner pids in the criu-ts field `levels`), restored into a new
// pid namespace on the same pids at every level, dumped and restored again, and every task
// checks its getpid()/getppid()/getpgrp()/getsid()/gettid() at SIGTERM, the root its pidfd, its
// socket's SIGIO owner and the holder of a POSIX lock (--file-locks). Also: images without
// `levels` (CRIU's own) restore on other host pids; a taken host pid is left to the kernel; a
// pid taken inside fails naming it and leaves nothing; break mode FAILs.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { writeImage, readMessages, readSingle } from '../src/images/index.js';
import { loadImages } from '../src/restore/images.js';
import { planNamespaces, rootSpawn, setTidOf } from '../src/ns/index.js';
import type { PstreeEntry } from '../src/images/index.js';
import { repo, criu, crit, fixtures, tmpdir, waitFile, waitGone, verdict, alive, childrenOf, until } from './lib.js';

const bin = path.join(os.tmpdir(), 'criu-ts-nspid');

test.beforeAll(() => {
  execFileSync('gcc', ['-O1', '-Wall', '-pthread', '-o', bin, path.join(repo, 'criu', 'test', 'progs', 'nspid.c')]);
});

/** start the program as init of a new pid namespace; returns its host pid and outfile */
async function start(mode: 'plain' | 'nested', brk = false): Promise<{ pid: number; out: string; dir: string }> {
  const dir = tmpdir(`nspid-${mode}`);
  const out = path.join(dir, 'out'),
    pidfile = path.join(dir, 'pid');
  // stdio on /dev/null: unshare, outside the tree, keeps writing to what it was given
  const u = spawn('unshare', ['--pid', '--fork', bin, out, pidfile, mode, ...(brk ? ['break'] : [])], { stdio: 'ignore', detached: true });
  u.unref();
  return { pid: Number((await waitFile(pidfile)).trim()), out, dir };
}

const nsLine = (pid: number, key: string): number[] =>
  (fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s*(.*)$`, 'm'))?.[1] ?? '').split(/\s+/).filter(Boolean).map(Number);

/** every task of the tree (host pids, pstree order) with its NSpid, NSpgid and NSsid */
function treeOf(root: number): { pid: number; nspid: number[]; pgid: number[]; sid: number[] }[] {
  const out: { pid: number; nspid: number[]; pgid: number[]; sid: number[] }[] = [];
  const walk = (p: number): void => {
    out.push({ pid: p, nspid: nsLine(p, 'NSpid'), pgid: nsLine(p, 'NSpgid'), sid: nsLine(p, 'NSsid') });
    const kids = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
    for (const k of kids.sort((a, b) => a - b)) walk(k);
  };
  walk(root);
  return out;
}

const decode = (img: string, name: string): { [k: string]: unknown }[] => {
  const r = crit(['decode', '-i', path.join(img, name)]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).entries;
};

async function killTree(root: number): Promise<void> {
  try {
    process.kill(root, 'SIGKILL'); // init: the kernel kills the rest of its namespace
  } catch {
    /* gone */
  }
  await waitGone(root);
}

test('a tree whose root is init of its own pid namespace keeps its pids inside and on the host, twice', async () => {
  test.setTimeout(90_000);
  const { pid, out, dir } = await start('plain');
  try {
    await childrenOf(pid, 4);
    const before = treeOf(pid);
    expect(before.map((t) => t.nspid.at(-1))).toEqual([1, 2, 3, 4]);
    const hostPidNs = fs.readlinkSync('/proc/self/ns/pid');
    for (let i = 0; i < 2; i++) {
      const img = path.join(dir, `img${i}`);
      const d = criu(['dump', '--file-locks', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
      expect(d.code, d.stderr).toBe(0);
      // as CRIU writes them: the pids the root sees, named by them; host pids in the extra field
      const ps = decode(img, 'pstree.img') as unknown as PstreeEntry[];
      expect(ps.map((e) => [e.pid, e.ppid, e.pgid, e.sid])).toEqual([
        [1, 0, 1, 1],
        [2, 1, 2, 1],
        [3, 1, 2, 1],
        [4, 1, 1, 1],
      ]);
      expect(ps[0].threads).toHaveLength(2);
      expect(ps.map((e) => e.levels?.[0]?.host)).toEqual(before.map((t) => t.pid));
      for (const f of ['core-1.img', 'core-4.img', `core-${ps[0].threads![1]}.img`, 'mm-3.img', 'ids-2.img'])
        expect(fs.existsSync(path.join(img, f))).toBe(true);
      // pids held elsewhere: the socket's SIGIO owner and the pidfd name A, the lock's holder B
      const files = JSON.stringify(decode(img, 'files.img'));
      expect(files).toMatch(/"usk":\{[^]*"fown":\{[^}]*"pid":2\}/);
      expect(files).toMatch(/"pidfd":\{[^}]*"nspid":2,/);
      expect(decode(img, 'filelocks.img')).toMatchObject([{ pid: 3 }]);
      const ids = decode(img, 'ids-1.img')[0] as Record<string, number>;
      const inv = decode(img, 'inventory.img')[0] as { root_ids: Record<string, number> };
      expect(ids.pid_ns_id).not.toBe(inv.root_ids.pid_ns_id);
      expect((decode(img, 'ids-3.img')[0] as Record<string, number>).pid_ns_id).toBe(ids.pid_ns_id);

      await waitGone(pid);
      const pidfile = path.join(img, 'restored.pid');
      const r = criu(['restore', '--file-locks', '-D', img, '-d', '-v4', '-o', 'restore.log', '--pidfile', pidfile]);
      expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
      expect(Number(fs.readFileSync(pidfile, 'utf8'))).toBe(pid);
      expect(fs.readlinkSync(`/proc/${pid}/ns/pid`)).not.toBe(hostPidNs);
      expect(treeOf(pid)).toEqual(before);
    }
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await killTree(pid);
  }
});

test('a pid namespace nested below the root’s: its init and its child keep their pids at all three levels', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('nested');
  try {
    const nestedInit = await until('the nested init', () => treeOf(pid).find((t) => t.nspid.length === 3 && t.nspid[2] === 1));
    await until('its child', () => fs.readFileSync(`/proc/${nestedInit.pid}/task/${nestedInit.pid}/children`, 'utf8').trim() !== '' || undefined);
    const before = treeOf(pid);
    expect(before.filter((t) => t.nspid.length === 3).map((t) => t.nspid[2])).toEqual([1, 2]);
    const img = path.join(dir, 'img');
    const d = criu(['dump', '--file-locks', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    const ps = decode(img, 'pstree.img') as unknown as PstreeEntry[];
    const inner = ps.filter((e) => e.levels?.[0]?.inner?.length).map((e) => [e.pid, e.levels![0].inner]);
    expect(inner).toEqual([
      [nestedInit.nspid[1], [1]],
      [before.find((t) => t.nspid[2] === 2)!.nspid[1], [2]],
    ]);
    const idsOf = (p: number): number => (decode(img, `ids-${p}.img`)[0] as Record<string, number>).pid_ns_id;
    expect(idsOf(nestedInit.nspid[1])).not.toBe(idsOf(1));
    await waitGone(pid);
    const r = criu(['restore', '--file-locks', '-D', img, '-d', '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
    expect(treeOf(pid)).toEqual(before);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await killTree(pid);
  }
});

test('CRIU-style images (no host pids) restore on other host pids; a taken host pid is left to the kernel', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('plain');
  let restored = 0,
    holder = 0;
  try {
    await childrenOf(pid, 4);
    const before = treeOf(pid);
    const inside = (t: ReturnType<typeof treeOf>): number[][][] => t.map((x) => [x.nspid.slice(1), x.pgid.slice(1), x.sid.slice(1)]);
    const img = path.join(dir, 'img');
    expect(criu(['dump', '--file-locks', '-t', String(pid), '-D', img]).code).toBe(0);
    await waitGone(pid);
    // the root's host pid is taken by a process of ours: the kernel gives it another one, its
    // children keep theirs
    holder = Number(execFileSync(bin, ['--hold', String(pid)], { encoding: 'utf8' }).trim());
    expect(holder).toBe(pid);
    const pidfile = path.join(img, 'restored.pid');
    const r = criu(['restore', '--file-locks', '-D', img, '-d', '-v4', '-o', 'restore.log', '--pidfile', pidfile]);
    const rlog = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
    expect(r.code, rlog.slice(-3000)).toBe(0);
    expect(rlog).toContain(`task 1: host pid ${pid} is taken`);
    restored = Number(fs.readFileSync(pidfile, 'utf8'));
    expect(restored).not.toBe(pid);
    const after = treeOf(restored);
    expect(after.slice(1).map((t) => t.pid)).toEqual(before.slice(1).map((t) => t.pid));
    expect(inside(after)).toEqual(inside(before));
    expect(await verdict(restored, out)).toBe('PASS');
    await waitGone(restored);

    // CRIU 4.2's pstree.img: the same entries without the criu-ts field
    const ps = readMessages<PstreeEntry>(path.join(img, 'pstree.img'));
    writeImage(
      img,
      'pstree.img',
      ps.map(({ levels, ...e }) => (void levels, e)),
    );
    fs.rmSync(out);
    const r2 = criu(['restore', '--file-locks', '-D', img, '-d', '--pidfile', pidfile]);
    expect(r2.code, r2.stderr).toBe(0);
    restored = Number(fs.readFileSync(pidfile, 'utf8'));
    expect(inside(treeOf(restored))).toEqual(inside(before));
    expect(await verdict(restored, out)).toBe('PASS');
  } finally {
    if (restored) await killTree(restored);
    if (holder) await killTree(holder);
  }
});

test('a pid taken inside the new namespace fails the restore naming it and leaves nothing; break mode FAILs', async () => {
  test.setTimeout(60_000);
  {
    const { pid, dir } = await start('nested');
    const nestedInit = await until('the nested init', () => treeOf(pid).find((t) => t.nspid.length === 3 && t.nspid[2] === 1));
    await until('its child', () => fs.readFileSync(`/proc/${nestedInit.pid}/task/${nestedInit.pid}/children`, 'utf8').trim() !== '' || undefined);
    const img = path.join(dir, 'img');
    expect(criu(['dump', '--file-locks', '-t', String(pid), '-D', img]).code).toBe(0);
    await waitGone(pid);
    // the nested init's child claims pid 1 of that namespace, which its init holds
    const ps = readMessages<PstreeEntry>(path.join(img, 'pstree.img'));
    const child = ps.find((e) => e.levels?.[0]?.inner?.[0] === 2)!;
    child.levels![0].inner = [1];
    writeImage(img, 'pstree.img', ps);
    const r = criu(['restore', '--file-locks', '-D', img, '-d']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `task ${child.pid}: cannot fork it from \\d+: clone3 failed: EEXIST \\(a pid of set_tid \\[1, ${child.pid}\\] \\(innermost first\\) is taken in the new pid namespaces\\)`,
      ),
    );
    for (const p of [pid, nestedInit.pid, ...ps.flatMap((e) => e.levels?.map((l) => l.host ?? 0) ?? [])]) expect(alive(p)).toBe(false);
  }
  {
    const { pid, out, dir } = await start('plain', true);
    try {
      await childrenOf(pid, 4);
      const img = path.join(dir, 'img');
      expect(criu(['dump', '--file-locks', '-t', String(pid), '-D', img]).code).toBe(0);
      await waitGone(pid);
      expect(criu(['restore', '--file-locks', '-D', img, '-d']).code).toBe(0);
      expect(await verdict(pid, out)).toBe('FAIL');
      expect(fs.readFileSync(out, 'utf8')).toMatch(/FAIL: child A is 2, 3 was saved/);
    } finally {
      await killTree(pid);
    }
  }
});

test('refused by name, the tree running on: a root that is not init of its pid namespace', async () => {
  test.setTimeout(60_000);
  const { pid, out } = await start('plain');
  try {
    await childrenOf(pid, 4);
    const a = treeOf(pid)[1];
    const dir = tmpdir('nspid-refused');
    const d = criu(['dump', '--file-locks', '-t', String(a.pid), '-D', dir]);
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(new RegExp(`not supported yet: task ${a.pid}: pid 2 of its own pid namespace, not its init \\(pid 1\\)`));
    expect(fs.existsSync(path.join(dir, 'inventory.img'))).toBe(false);
    expect(alive(a.pid)).toBe(true);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await killTree(pid);
  }
});

test('the plan: a root in a pid namespace of its own is made with CLONE_NEWPID and set_tid [1, HOST]; what cannot be restored is refused', () => {
  const dir = tmpdir('nspid-plan');
  fs.cpSync(path.join(fixtures, 'tree'), dir, { recursive: true });
  const tasks = loadImages(dir).tasks;
  const setIds = (pid: number, v: Record<string, number>): void => {
    const ids = readSingle<Record<string, unknown>>(path.join(dir, `ids-${pid}.img`));
    writeImage(dir, `ids-${pid}.img`, [{ ...ids, ...v }]);
  };
  for (const t of tasks) setIds(t.pid, { pid_ns_id: 10 });
  // CRIU restores a pid namespace from its init only
  expect(() => planNamespaces(loadImages(dir))).toThrow(/task 3999302: the root of a tree in its own pid namespace is not its init \(pid 1\)/);
  // the same tree as the root's pid namespace shows it: pids 1, 2, 3 (files renamed), with host pids
  const ps = readMessages<PstreeEntry>(path.join(dir, 'pstree.img'));
  const inNs = new Map(ps.map((e, i) => [e.pid, i + 1]));
  const v = (x: number): number => inNs.get(x) ?? 0;
  writeImage(
    dir,
    'pstree.img',
    ps.map((e) => ({ pid: v(e.pid), ppid: v(e.ppid), pgid: v(e.pgid), sid: v(e.sid), threads: [v(e.pid)], levels: [{ host: e.pid }] })),
  );
  for (const f of fs.readdirSync(dir)) {
    const m = f.match(/^(core|mm|pagemap|ids|fs)-(\d+)\.img$/);
    if (m && inNs.has(Number(m[2]))) fs.renameSync(path.join(dir, f), path.join(dir, `${m[1]}-${v(Number(m[2]))}.img`));
  }
  const plan = planNamespaces(loadImages(dir));
  expect(plan.cloneFlags).toBe(0x20000000n);
  expect(plan.items.map((i) => [i.kind.name, i.id])).toEqual([['pid', 10]]);
  // (a host pid taken on this machine is left out)
  const host = (p: number): number[] => (fs.existsSync(`/proc/${p}`) ? [] : [p]);
  expect(rootSpawn(1)).toEqual({ pid: 0, setTid: [1, ...host(ps[0].pid)] });
  expect(setTidOf(2)).toEqual([2, ...host(ps[1].pid)]);
  expect(setTidOf(3, false)).toEqual([3]);
  // a task two pid namespaces below its parent's
  const bad = readMessages<PstreeEntry>(path.join(dir, 'pstree.img'));
  bad[2].levels = [{ host: ps[2].pid, inner: [5, 1] }];
  writeImage(dir, 'pstree.img', bad);
  expect(() => planNamespaces(loadImages(dir))).toThrow(/task 3: pid namespace 2 level\(s\) below the root's, its parent 1 0/);
});
