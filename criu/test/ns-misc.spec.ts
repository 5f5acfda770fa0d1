// The rest of the namespace objects (helper "nsmisc"): in an IPC namespace of the tree's own,
// an attached SysV shm segment (dump/vmas.ts, restore/memory.ts) and POSIX message queues
// (files/mqueue.ts), with progs/nsipc.c under `unshare --uts --ipc`; the host-namespace cases
// are zdtm/static/shm_sysv00 and mqueue00.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { repo, criu, crit, tmpdir, waitFile, waitGone, verdict, alive } from './lib.js';

const nsipc = path.join(os.tmpdir(), 'criu-ts-nsmisc-nsipc');

test.beforeAll(() => {
  execFileSync('gcc', ['-O1', '-Wall', '-o', nsipc, path.join(repo, 'criu', 'test', 'progs', 'nsipc.c')]);
});

async function startIn(unshare: string[], bin: string, mode: string): Promise<{ pid: number; out: string; dir: string }> {
  const dir = tmpdir(`nsmisc-${mode}`);
  const out = path.join(dir, 'out'),
    pidfile = path.join(dir, 'pid');
  const err = fs.openSync(path.join(dir, 'err'), 'w');
  execFileSync('unshare', [...unshare, bin, out, pidfile, mode], { stdio: ['ignore', 'ignore', err] });
  fs.closeSync(err);
  try {
    return { pid: Number((await waitFile(pidfile)).trim()), out, dir };
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${fs.readFileSync(path.join(dir, 'err'), 'utf8')}`);
  }
}

const decode = (img: string, name: string): { [k: string]: unknown }[] => {
  const r = crit(['decode', '-i', path.join(img, name)]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).entries;
};

async function kill(pids: number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const p of pids) await waitGone(p);
}

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
