// The rest of the namespace objects (helper "nsmisc"): a nested time namespace (ns/ids.ts,
// restore/timens.ts) with progs/nstime.c under `unshare --time`; a cgroup namespace (ns/cgroup.ts)
// with progs/nscgroup.c under `unshare --cgroup` in a cgroup of the test's; in an IPC namespace of the tree's own,
// an attached SysV shm segment (dump/vmas.ts, restore/memory.ts) and POSIX message queues
// (files/mqueue.ts), with progs/nsipc.c under `unshare --uts --ipc`; the host-namespace cases
// are zdtm/static/shm_sysv00 and mqueue00.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repo, criu, tmpdir, waitFile, waitGone, verdict, alive } from './lib.js';
import { startProg, decodeEntries, killAll } from './ns-lib.js';

const nsipc = path.join(os.tmpdir(), 'criu-ts-nsmisc-nsipc');
const nstime = path.join(os.tmpdir(), 'criu-ts-nsmisc-nstime');
const nscgroup = path.join(os.tmpdir(), 'criu-ts-nsmisc-nscgroup');

test.beforeAll(() => {
  for (const [bin, src] of [
    [nsipc, 'nsipc.c'],
    [nstime, 'nstime.c'],
    [nscgroup, 'nscgroup.c'],
  ])
    execFileSync('gcc', ['-O1', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'progs', src)]);
});

async function startIn(unshare: string[], bin: string, mode: string, brk = false): Promise<{ pid: number; out: string; dir: string }> {
  return startProg(`nsmisc-${mode}`, (out, pidfile) => ['unshare', ...unshare, bin, out, pidfile, mode, ...(brk ? ['break'] : [])]);
}

const decode = decodeEntries;

const kill = killAll;

/** dump and restore `pid` twice; returns the images dirs */
async function twice(pid: number, dir: string, check: (img: string) => void): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const img = path.join(dir, `img${i}`);
    const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
    expect(d.code, d.stderr).toBe(0);
    check(img);
    await waitGone(pid);
    const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
    expect(alive(pid)).toBe(true);
  }
}

test('own IPC namespace: an attached SysV shm segment is attached again at its address, the segment itself', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await startIn(['--uts', '--ipc'], nsipc, 'attached');
  try {
    await twice(pid, dir, (img) => {
      const mm = decode(img, `mm-${pid}.img`)[0] as { vmas: { status: number; shmid: number; fdflags?: number }[] };
      const ids = decode(img, `ids-${pid}.img`)[0] as Record<string, number>;
      const shm = decode(img, `ipcns-shm-${ids.ipc_ns_id}.img`) as { desc: { id: number } }[];
      // VMA_AREA_REGULAR | VMA_ANON_SHARED | VMA_AREA_SYSVIPC, shmid the segment's id, as CRIU
      const sysv = mm.vmas.filter((v) => v.status & (1 << 10));
      expect(sysv).toHaveLength(1);
      expect(sysv[0]).toMatchObject({ status: 1 | (1 << 8) | (1 << 10), shmid: shm[0].desc.id, fdflags: 2 });
    });
    expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')).toMatch(/rw-s 00000000 00:\d+ \d+\s+\/SYSV5eed0001 \(deleted\)/);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});

test('own IPC namespace: an unlinked and a named POSIX message queue keep attributes, flags and messages', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await startIn(['--uts', '--ipc'], nsipc, 'mqueue');
  try {
    await twice(pid, dir, (img) => {
      const files = decode(img, 'files.img').filter((f) => f.type === 'MQUEUE');
      const q = files.map((f) => f.mqueue as { name: string; unlinked?: boolean; maxmsg: number; msgsize: number; flags: number; msgs?: { prio: number }[] });
      q.sort((a, b) => a.name.localeCompare(b.name));
      expect(q.map((x) => [x.name, !!x.unlinked, x.maxmsg, x.msgsize, x.flags & 0o4003, x.msgs?.map((m) => m.prio)])).toEqual([
        ['/criu-ts-nsipc', true, 4, 32, 2, [9, 1]],
        ['/criu-ts-nsipc-named', false, 4, 32, 0o4002, [0]],
      ]);
    });
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});

const timeNs = ['--time', '--monotonic', '1000', '--boottime', '1000', '--fork'];
const clockNs = (c: { tv_sec: number; tv_nsec: number }): number => c.tv_sec + c.tv_nsec / 1e9;

test("a child in a time namespace below the root's (nested): both clocks go on, 49000 s apart, twice", async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await startIn(timeNs, nstime, 'nested');
  const child = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
  try {
    await twice(pid, dir, (img) => {
      const inv = decode(img, 'inventory.img')[0] as { root_ids: Record<string, number> };
      const rootId = (decode(img, `ids-${pid}.img`)[0] as Record<string, number>).time_ns_id;
      const childId = (decode(img, `ids-${child}.img`)[0] as Record<string, number>).time_ns_id;
      expect(new Set([inv.root_ids.time_ns_id, rootId, childId]).size).toBe(3);
      const r = decode(img, `timens-${rootId}.img`)[0] as Record<string, { tv_sec: number; tv_nsec: number }>;
      const c = decode(img, `timens-${childId}.img`)[0] as Record<string, { tv_sec: number; tv_nsec: number }>;
      // read against one host reading: the distance the namespaces' offsets make, to a few microseconds
      expect(Math.abs(clockNs(c.monotonic) - clockNs(r.monotonic) - 49000)).toBeLessThan(0.01);
      expect(Math.abs(clockNs(c.boottime) - clockNs(r.boottime) - 49000)).toBeLessThan(0.01);
      expect(fs.existsSync(path.join(img, 'timens-0.img'))).toBe(false);
    });
    expect(fs.readlinkSync(`/proc/${pid}/ns/time_for_children`)).toBe(fs.readlinkSync(`/proc/${child}/ns/time`));
    expect(fs.readlinkSync(`/proc/${pid}/ns/time`)).not.toBe(fs.readlinkSync(`/proc/${child}/ns/time`));
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid, child]);
  }
});

test("nested time namespace, break mode: a child moved back into its parent's time namespace FAILs", async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await startIn(timeNs, nstime, 'nested', true);
  const child = Number(fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim());
  try {
    // the child is in its parent's namespace although the parent's children get another: refused
    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img]);
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(
      new RegExp(`not supported yet: task ${pid}: its children get time namespace time:\\[\\d+\\], but its child ${child} lives in another one`),
    );
    expect(alive(pid) && alive(child)).toBe(true);
    expect(await verdict(pid, out)).toMatch(/^FAIL/);
  } finally {
    await kill([pid, child]);
  }
});

/** the unified hierarchy's mount (cgroup2), where the tool sees it */
function cgroup2(): string | undefined {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = l.split(' - ');
    if (post?.startsWith('cgroup2 ') && pre.split(' ')[3] === '/') return pre.split(' ')[4];
  }
  return undefined;
}

for (const brk of [false, true]) {
  test(`a root in a cgroup namespace of its own is restored into it: /proc/self/cgroup inside reads as before${brk ? ' (break mode FAILs)' : ''}`, async () => {
    test.setTimeout(60_000);
    const mnt = cgroup2();
    test.skip(!mnt, 'no cgroup2 hierarchy mounted');
    const top = `/criu-ts-nsmisc-${process.pid}${brk ? 'b' : ''}`;
    const cg = path.join(mnt!, top);
    fs.mkdirSync(path.join(cg, 'inner'), { recursive: true });
    const dir = tmpdir('nsmisc-cgroup');
    const out = path.join(dir, 'out'),
      pidfile = path.join(dir, 'pid');
    execFileSync('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec unshare --cgroup ${nscgroup} ${out} ${pidfile} plain ${brk ? 'break' : ''}`], {
      stdio: 'ignore',
    });
    const pid = Number((await waitFile(pidfile)).trim());
    try {
      fs.writeFileSync(path.join(cg, 'inner', 'cgroup.procs'), String(pid));
      await twice(pid, dir, (img) => {
        const inv = decode(img, 'inventory.img')[0] as { root_ids: Record<string, number> };
        const ids = decode(img, `ids-${pid}.img`)[0] as Record<string, number>;
        expect(ids.cgroup_ns_id).not.toBe(inv.root_ids.cgroup_ns_id);
        const e = decode(img, 'cgroup.img')[0] as { sets: { id: number; ctls: { name: string; path: string; cgns_prefix?: number }[] }[] };
        // as CRIU 4.2 writes it: the root's set with cgns_prefix, the length of the namespace's root in the path
        const unified = e.sets.find((x) => x.id === 2)!.ctls.find((c) => c.name === '');
        expect(unified).toEqual({ name: '', path: `${top}/inner`, cgns_prefix: top.length });
      });
      const line = fs
        .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('0::'));
      expect(line).toBe(`0::${top}/inner`);
      expect(await verdict(pid, out)).toBe(brk ? 'FAIL: /proc/self/cgroup reads 0::/inner' : 'PASS');
    } finally {
      await kill([pid]);
      for (const d of [path.join(cg, 'inner'), cg]) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* still busy */
        }
      }
    }
  });
}

test('refused by name, the tree running on: a task whose children get a time namespace none of them lives in', async () => {
  test.setTimeout(30_000);
  const { pid, out, dir } = await startIn(timeNs, nstime, 'alone');
  try {
    const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img')]);
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(new RegExp(`not supported yet: task ${pid}: its children get time namespace time:\\[\\d+\\], but none of them lives in it`));
    expect(alive(pid)).toBe(true);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});
