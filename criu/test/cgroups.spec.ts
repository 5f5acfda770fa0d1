// --manage-cgroups (cgroup/): a task in a cgroup v2 of its own (where the host mounts cgroup2) is
// dumped with its cgroup and that cgroup's properties in cgroup.img, and restored into it: the
// cgroup made again where it is gone (soft, the default), refused where it exists (strict) or
// where it is missing (none), moved under another root (--cgroup-root); a failed restore removes
// the cgroups it made. The zdtm program cgroup_props does the same for a tree in flavors h, ns
// and uns; this file covers the modes and the bad input.
import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, crit, tmpdir, waitGone, until, alive } from './lib.js';
import { v2Mount, removeBelow } from '../../zdtm/runner/cgroup.js';

const V2 = v2Mount();
const made: string[] = [];

/** a fresh cgroup below the v2 root, removed after the test */
function cgroup(name: string): string {
  const d = path.join(V2, `criu-ts-${name}-${process.pid}`);
  removeBelow(d, true);
  fs.mkdirSync(d);
  made.push(d);
  return d;
}

test.afterEach(() => {
  for (const d of made.splice(0)) removeBelow(d, true);
});

/** a sleeping session leader started in cgroup `cg` */
async function sleeper(cg: string): Promise<number> {
  const c = spawn('/bin/sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec sleep 1000`], { detached: true, stdio: 'ignore' });
  c.unref();
  const pid = c.pid!;
  await until('the sleeper in its cgroup', () => fs.existsSync(`/proc/${pid}`) && fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep');
  return pid;
}

const v2Of = (pid: number): string => /^0::(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'))![1];
const rel = (dir: string): string => `/${path.relative(V2, dir)}`;

/** a sleeper in TOP/a with a/cgroup.max.descendants 5, dumped (and so killed) into a new image dir */
async function dumped(top: string, name: string): Promise<{ pid: number; img: string; a: string }> {
  const a = path.join(top, 'a');
  fs.mkdirSync(a);
  fs.writeFileSync(path.join(a, 'cgroup.max.descendants'), '5');
  const pid = await sleeper(a);
  const img = path.join(tmpdir(`cgroups-${name}`), 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  return { pid, img, a };
}

const kill = (pid: number): void => {
  if (alive(pid)) process.kill(pid, 'SIGKILL');
};

test('soft (the default): a gone cgroup is made again with its properties, the task put back in it; crit shows cgroup.img', async () => {
  const top = cgroup('soft');
  const { pid, img, a } = await dumped(top, 'soft');
  const show = crit(['show', path.join(img, 'cgroup.img')]);
  expect(show.code, show.stderr).toBe(0);
  const e = JSON.parse(show.stdout) as { magic: string; entries: { sets: { ctls: { name: string; path: string }[] }[] }[] };
  expect(e.magic).toBe('CGROUP');
  expect(e.entries[0].sets.flatMap((s) => s.ctls).find((c) => c.name === '')?.path).toBe(rel(a));
  expect(show.stdout).toContain('"cgroup.max.descendants"');
  fs.rmdirSync(a);
  const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
  expect(r.code, r.stderr).toBe(0);
  try {
    expect(v2Of(pid)).toBe(rel(a));
    expect(fs.readFileSync(path.join(a, 'cgroup.max.descendants'), 'utf8').trim()).toBe('5');
    expect(fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toContain(`Created cgroup dir ${a}`);
  } finally {
    kill(pid);
  }
});

test('soft keeps the properties of a cgroup that exists; full restores them', async () => {
  const top = cgroup('full');
  const { pid, img, a } = await dumped(top, 'full');
  fs.writeFileSync(path.join(a, 'cgroup.max.descendants'), '9');
  let r = criu(['restore', '-D', img, '-d']);
  expect(r.code, r.stderr).toBe(0);
  expect(v2Of(pid)).toBe(rel(a));
  expect(fs.readFileSync(path.join(a, 'cgroup.max.descendants'), 'utf8').trim()).toBe('9');
  kill(pid);
  await waitGone(pid);
  r = criu(['restore', '-D', img, '-d', '--manage-cgroups=full']);
  expect(r.code, r.stderr).toBe(0);
  expect(v2Of(pid)).toBe(rel(a));
  expect(fs.readFileSync(path.join(a, 'cgroup.max.descendants'), 'utf8').trim()).toBe('5');
  kill(pid);
});

test('strict refuses a cgroup that exists, none one that is missing: nothing is left behind', async () => {
  const top = cgroup('strict');
  const { pid, img, a } = await dumped(top, 'strict');
  let r = criu(['restore', '-D', img, '-d', '--manage-cgroups=strict']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('Abort restore of existing cgroups');
  expect(alive(pid)).toBe(false);
  fs.rmdirSync(a);
  r = criu(['restore', '-D', img, '-d', '--manage-cgroups=none']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`Cgroup dir ${a} doesn't exist`);
  expect(fs.existsSync(a)).toBe(false);
  expect(alive(pid)).toBe(false);
  // and a mode that is not one
  r = criu(['restore', '-D', img, '-d', '--manage-cgroups=bogus']);
  expect(r.stderr).toContain("Unknown cgroups mode `bogus' selected");
});

test('a restore that fails after the cgroups are made removes them', async () => {
  const top = cgroup('undo');
  const { pid, img, a } = await dumped(top, 'undo');
  fs.rmdirSync(a);
  const r = criu(['restore', '-D', img, '-d'], { ...process.env, CRIU_FAULT_BEFORE_RELEASE: '1' });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('fault injected');
  expect(alive(pid)).toBe(false);
  expect(fs.existsSync(a), r.stderr).toBe(false);
});

test("--cgroup-root puts the dumped cgroup at a new root; ignore leaves the task in the tool's cgroups", async () => {
  const top = cgroup('root');
  const other = path.join(cgroup('root2'), 'moved');
  const { pid, img } = await dumped(top, 'root');
  let r = criu(['restore', '-D', img, '-d', '--cgroup-root', `:${rel(other)}`]);
  expect(r.code, r.stderr).toBe(0);
  expect(v2Of(pid)).toBe(rel(other));
  expect(fs.readFileSync(path.join(other, 'cgroup.max.descendants'), 'utf8').trim()).toBe('5');
  kill(pid);
  await waitGone(pid);
  r = criu(['restore', '-D', img, '-d', '--manage-cgroups=ignore']);
  expect(r.code, r.stderr).toBe(0);
  expect(v2Of(pid)).toBe(v2Of(process.pid));
  kill(pid);
});

test('--cgroup-dump-controller: only the hierarchies named are in cgroup.img', async () => {
  const top = cgroup('ctl');
  const a = path.join(top, 'a');
  fs.mkdirSync(a);
  const pid = await sleeper(a);
  try {
    const img = path.join(tmpdir('cgroups-ctl'), 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img, '-R', '--cgroup-dump-controller', 'pids']);
    expect(d.code, d.stderr).toBe(0);
    // the v2 cgroup is not dumped: every task is then in the tool's (pids) cgroups, as CRIU says
    expect(fs.existsSync(path.join(img, 'cgroup.img'))).toBe(false);
  } finally {
    kill(pid);
  }
});

/** the property names of the dumped cgroup dirs of controller `ctl` (cgroup.img), by their dir name */
function dumpedProps(img: string, ctl: string): Record<string, string[]> {
  type Dir = { dir_name: string; properties?: { name: string }[]; children?: Dir[] };
  const e = JSON.parse(crit(['show', path.join(img, 'cgroup.img')]).stdout) as { entries: { controllers: { cnames: string[]; dirs?: Dir[] }[] }[] };
  const out: Record<string, string[]> = {};
  const walk = (ds: Dir[] | undefined): void => {
    for (const d of ds ?? []) {
      out[d.dir_name] = (d.properties ?? []).map((p) => p.name);
      walk(d.children);
    }
  };
  walk(e.entries[0].controllers.find((c) => c.cnames.includes(ctl))?.dirs);
  return out;
}

test("--cgroup-props and --cgroup-props-file: a controller's properties merged into its built-in list or in its place (cgroup v1 cpu); bad input refused before the dump", async () => {
  const v1cpu = '/sys/fs/cgroup/cpu';
  // CRIU's property lists are of v1 controllers (a v2 cgroup keeps its global properties only)
  test.skip(!fs.existsSync(path.join(v1cpu, 'cpu.shares')), `${v1cpu} is not a cgroup v1 cpu hierarchy here (a pure cgroup v2 host)`);
  const cg = path.join(v1cpu, `criu-ts-props-${process.pid}`);
  removeBelow(cg, true);
  fs.mkdirSync(cg);
  made.push(cg);
  fs.writeFileSync(path.join(cg, 'cpu.shares'), '512');
  const pid = await sleeper(cg);
  const dir = tmpdir('cgroups-props');
  const dump = (name: string, ...opts: string[]) => {
    const img = path.join(dir, name);
    const d = criu(['dump', '-t', String(pid), '-D', img, '-R', ...opts]);
    expect(d.code, d.stderr).toBe(0);
    return dumpedProps(img, 'cpu')[path.basename(cg)];
  };
  try {
    const builtin = dump('builtin');
    expect(builtin).toEqual(expect.arrayContaining(['cpu.shares', 'cpu.cfs_period_us', 'cpu.cfs_quota_us']));
    expect(builtin).not.toContain('cpu.idle');
    expect(dump('replace', '--cgroup-props', '"cpu":\n - "strategy": "replace"\n - "properties": ["cpu.shares"]').filter((p) => p.startsWith('cpu.'))).toEqual([
      'cpu.shares',
    ]);
    const file = path.join(dir, 'props.yaml');
    fs.writeFileSync(file, '"cpu":\n - "strategy": "merge"\n - "properties": ["cpu.idle"]\n');
    expect(dump('merge', '--cgroup-props-file', file)).toEqual([
      ...builtin.filter((p) => p.startsWith('cpu.')),
      'cpu.idle',
      ...builtin.filter((p) => !p.startsWith('cpu.')),
    ]);
    const bad = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'bad'), '--cgroup-props', '"cpu":\n - "strategy": "mix"\n - "properties": []']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--cgroup-props: Unknown strategy "mix" in controller\'s cpu stream');
    expect(fs.existsSync(path.join(dir, 'bad', 'inventory.img'))).toBe(false);
    expect(alive(pid)).toBe(true);
  } finally {
    kill(pid);
  }
});
