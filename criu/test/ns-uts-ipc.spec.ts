// A tree in UTS and IPC namespaces of its own (ns/uts.ts, ns/ipc.ts): progs/nsipc.c, started
// under `unshare --uts --ipc`, sets a hostname, IPC sysctls, a SysV shm segment with data, a
// semaphore set and a message queue with 3 messages; it is dumped (the images checked with
// crit), restored into new namespaces, dumped and restored again, and checks everything at
// SIGTERM. Its break mode FAILs; what is refused leaves the tree running; a failed restore
// leaves nothing, in the tree's namespaces or in the tool's.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeImage, readSingle } from '../src/images/index.js';
import { readPagemap } from '../src/images/typed.js';
import { loadImages } from '../src/restore/images.js';
import { planNamespaces } from '../src/ns/index.js';
import { repo, criu, fixtures, tmpdir, waitGone, verdict, alive, childrenOf } from './lib.js';
import { startProg, dumpRestore, decodeEntries, killAll } from './ns-lib.js';

const bin = path.join(os.tmpdir(), 'criu-ts-nsipc');
const SHM_KEY = 0x5eed0001;

test.beforeAll(() => {
  execFileSync('gcc', ['-O1', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'progs', 'nsipc.c')]);
});

/** start the program in new UTS and IPC namespaces; returns its pid and outfile */
async function start(mode: string, brk = false): Promise<{ pid: number; out: string; dir: string }> {
  return startProg(`nsipc-${mode}`, (out, pidfile) => ['unshare', '--uts', '--ipc', bin, out, pidfile, mode, ...(brk ? ['break'] : [])]);
}

const decode = decodeEntries;
/** the tool's own namespaces are untouched: its hostname, and no segment of the program's key */
const hostKeys = (): string => fs.readFileSync('/proc/sysvipc/shm', 'utf8');
const hostMsgmnb = (): string => fs.readFileSync('/proc/sys/kernel/msgmnb', 'utf8');
const kill = killAll;

test('a tree in its own UTS and IPC namespaces is dumped to CRIU images and restored, twice', async () => {
  test.setTimeout(90_000);
  const hostName = os.hostname();
  const msgmnb = hostMsgmnb();
  const hostUts = fs.readlinkSync('/proc/self/ns/uts');
  const { pid, out, dir } = await start('plain');
  try {
    for (let i = 0; i < 2; i++) {
      const img = path.join(dir, `img${i}`);
      const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
      expect(d.code, d.stderr).toBe(0);
      const ids = decode(img, `ids-${pid}.img`)[0] as Record<string, number>;
      const inv = decode(img, 'inventory.img')[0] as { root_ids: Record<string, number> };
      expect(ids.uts_ns_id).not.toBe(inv.root_ids.uts_ns_id);
      expect(ids.ipc_ns_id).not.toBe(inv.root_ids.ipc_ns_id);
      expect(decode(img, `utsns-${ids.uts_ns_id}.img`)).toEqual([{ nodename: 'criu-ts-ns', domainname: 'ns.example' }]);
      const v = decode(img, `ipcns-var-${ids.ipc_ns_id}.img`)[0];
      expect(v).toMatchObject({ msg_ctlmnb: 32768, shm_ctlmni: 2048 });
      expect((v.sem_ctls as number[]).length).toBe(4);
      const shm = decode(img, `ipcns-shm-${ids.ipc_ns_id}.img`);
      expect(shm).toHaveLength(1);
      // as CRIU 4.2 writes it: the contents in pagemap-shmem-SHMID.img and its pages file
      expect(shm[0]).toMatchObject({ desc: { key: SHM_KEY, mode: 0o640 }, size: 20000, in_pagemaps: true });
      expect(shm[0].extra).toBeUndefined();
      const shmId = (shm[0].desc as { id: number }).id;
      const pm = decode(img, `pagemap-shmem-${shmId}.img`) as { pages_id?: number; vaddr?: number; nr_pages?: number; flags?: number }[];
      expect(pm[1]).toMatchObject({ vaddr: 0, nr_pages: 5, flags: 4 /* PE_PRESENT */ });
      const data = fs.readFileSync(path.join(img, `pages-${pm[0].pages_id}.img`));
      expect(data.length).toBe(5 * 4096);
      expect([data[0], data[1], data[19999], data[20000]]).toEqual([3, 10, (19999 * 7 + 3) & 0xff, 0]);
      expect(decode(img, `ipcns-sem-${ids.ipc_ns_id}.img`)).toMatchObject([{ desc: { key: SHM_KEY + 1, mode: 0o600 }, nsems: 3, extra: [7, 42, 1000] }]);
      const msg = decode(img, `ipcns-msg-${ids.ipc_ns_id}.img`);
      expect(msg).toMatchObject([{ desc: { key: SHM_KEY + 2, id: 12345, mode: 0o660 }, qnum: 3, qbytes: 32768 }]);
      const texts = (msg[0].extra as unknown[]).filter((x) => typeof x === 'string').map((s) => Buffer.from(s as string, 'base64').toString());
      expect(texts).toEqual(['one\0', 'two, a longer one\0', 'three\0']);

      await waitGone(pid);
      const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
      const rlog = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
      expect(r.code, rlog).toBe(0);
      expect(rlog).toMatch(/uts namespace \d+ restored: nodename "criu-ts-ns"/);
      expect(rlog).toMatch(/ipc namespace \d+ restored: 1 shm segments, 1 semaphore sets, 1 message queues/);
      expect(alive(pid)).toBe(true);
      expect(fs.readlinkSync(`/proc/${pid}/ns/uts`)).not.toBe(hostUts);
      expect(os.hostname()).toBe(hostName);
      expect(hostMsgmnb()).toBe(msgmnb);
      expect(hostKeys()).not.toMatch(new RegExp(`^\\s*${SHM_KEY}\\s`, 'm'));
    }
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});

test('break mode: a hostname changed after the restore FAILs', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('plain', true);
  try {
    const img = path.join(dir, 'img');
    await dumpRestore(pid, img);
    expect(await verdict(pid, out)).toBe('FAIL');
    expect(fs.readFileSync(out, 'utf8')).toMatch(/FAIL: hostname broken/);
  } finally {
    await kill([pid]);
  }
});

test('refused by name, the tree running on: a child in a UTS namespace of its own; a POSIX message queue with mq_notify', async () => {
  test.setTimeout(60_000);
  for (const mode of ['nested', 'mqnotify']) {
    const { pid, out, dir } = await start(mode);
    const kids = mode === 'nested' ? await childrenOf(pid, 1) : [];
    try {
      const img = path.join(dir, 'img');
      const d = criu(['dump', '-t', String(pid), '-D', img]);
      expect(d.code).not.toBe(0);
      if (mode === 'mqnotify')
        expect(d.stderr).toMatch(
          new RegExp(
            `not supported yet: task ${pid}: fd \\d+: a POSIX message queue \\(/criu-ts-nsipc-named\\) with a notification registered \\(mq_notify by pid ${pid}`,
          ),
        );
      else expect(d.stderr).toMatch(new RegExp(`not supported yet: task ${kids[0]}: its own uts namespace \\(uts:\\[\\d+\\]; the root task ${pid} is in uts:`));
      expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(false);
      expect(alive(pid)).toBe(true);
      expect(await verdict(pid, out)).toBe('PASS');
    } finally {
      await kill([pid, ...kids]);
    }
  }
});

test('a restore failing after the namespaces were made leaves nothing; the images (shm contents in the older form) restore after it', async () => {
  test.setTimeout(60_000);
  const hostName = os.hostname();
  const msgmnb = hostMsgmnb();
  const { pid, out, dir } = await start('plain');
  try {
    const img = path.join(dir, 'img');
    expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
    await waitGone(pid);
    for (const n of ['106', '109']) {
      const r = criu(['restore', '-D', img, '-d', '-v4', '-o', `restore-${n}.log`], { CRIU_FAULT: n });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`fault injected at step ${n}`));
      expect(fs.readFileSync(path.join(img, `restore-${n}.log`), 'utf8')).toMatch(/ipc namespace \d+ restored/);
      await waitGone(pid);
      expect(os.hostname()).toBe(hostName);
      expect(hostMsgmnb()).toBe(msgmnb);
      expect(hostKeys()).not.toMatch(new RegExp(`^\\s*${SHM_KEY}\\s`, 'm'));
    }
    // the older form of ipcns-shm (contents after the entry, in_pagemaps false) restores too
    const shmImg = [fs.readdirSync(img).find((f) => f.startsWith('ipcns-shm-'))!];
    const seg = readSingle<{ desc: { id: number }; size: bigint }>(path.join(img, shmImg[0]));
    const pmFile = path.join(img, `pagemap-shmem-${seg.desc.id}.img`);
    const pagesId = readPagemap(pmFile).head.pages_id;
    const contents = fs.readFileSync(path.join(img, `pages-${pagesId}.img`)).subarray(0, 20000);
    writeImage(img, shmImg[0], [{ ...seg, in_pagemaps: false }], { blobs: [contents] });
    fs.rmSync(pmFile);
    expect(criu(['restore', '-D', img, '-d']).code).toBe(0);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});

test("the plan: the root namespaces that differ from the tool's are made; a task in another one is refused", () => {
  const dir = tmpdir('ns-plan');
  fs.cpSync(path.join(fixtures, 'tree'), dir, { recursive: true });
  const pids = loadImages(dir).tasks.map((t) => t.pid);
  expect(planNamespaces(loadImages(dir))).toEqual({ cloneFlags: 0n, items: [] });
  const setIds = (pid: number, v: Record<string, number>): void => {
    const ids = readSingle<Record<string, unknown>>(path.join(dir, `ids-${pid}.img`));
    writeImage(dir, `ids-${pid}.img`, [{ ...ids, ...v }]);
  };
  for (const p of pids) setIds(p, { uts_ns_id: 11 });
  expect(() => planNamespaces(loadImages(dir))).toThrow(/utsns-11.img/);
  writeImage(dir, 'utsns-11.img', [{ nodename: 'n', domainname: 'd' }]);
  const plan = planNamespaces(loadImages(dir));
  expect(plan.cloneFlags).toBe(0x04000000n);
  expect(plan.items.map((i) => [i.kind.name, i.id, i.data])).toEqual([['uts', 11, { nodename: 'n', domainname: 'd' }]]);
  setIds(pids[1], { ipc_ns_id: 12 });
  expect(() => planNamespaces(loadImages(dir))).toThrow(
    new RegExp(`not supported yet: task ${pids[1]}: ipc namespace 12, not the one of the root task ${pids[0]}`),
  );
});

test('RPC: a tree in namespaces of its own gets setup-namespaces with its pid once its root exists, before post-restore (as CRIU restore_root_task)', async () => {
  test.setTimeout(90_000);
  const { talk } = await import('./rpc-lib.js');
  const { criuBin } = await import('./lib.js');
  const { pid, out, dir } = await start('plain');
  try {
    const img = path.join(dir, 'img');
    fs.mkdirSync(img);
    const [d] = talk('swrk', criuBin, [{ req: { type: 'DUMP', opts: { pid, notify_scripts: true } }, images_dir: img }]);
    expect(d.resp, JSON.stringify(d)).toMatchObject({ type: 'DUMP', success: true });
    expect(d.notify.map((x) => x[0])).not.toContain('setup-namespaces');
    await waitGone(pid);
    const [r] = talk('swrk', criuBin, [{ req: { type: 'RESTORE', opts: { notify_scripts: true } }, images_dir: img }]);
    expect(r.resp, JSON.stringify(r)).toMatchObject({ type: 'RESTORE', success: true, restore: { pid } });
    expect(r.notify.map((x) => [x[0], x[1]])).toEqual([
      ['pre-restore', null],
      ['setup-namespaces', pid],
      ['post-setup-namespaces', null],
      ['post-restore', pid],
      ['pre-resume', null],
      ['post-resume', null],
    ]);
    // the root as setup-namespaces named it is in the new namespaces
    expect(fs.readlinkSync(`/proc/${pid}/ns/uts`)).not.toBe(fs.readlinkSync('/proc/self/ns/uts'));
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});
