// A tree in a user namespace of its own (ns/user.ts): progs/nsuser.c maps ids 0..65535 of a new
// user namespace to host ids 200000.., makes UTS and IPC namespaces owned by it, a root task (the
// namespace's root, CAP_SYS_BOOT dropped from its bounding set, a file it made owned by 1000:1001
// inside, a removed one too, an IPC sysctl and a message queue owned by 1000:1001, a second
// thread, nice -3) and a child with uid 1000, gid 1001, groups 1002 1003 and two capabilities. Dumped
// (userns-ID.img, creds as the namespace sees them), restored into a new user namespace,
// twice; setgroups "deny" is kept; break mode FAILs; a failed restore leaves nothing; a nested
// user namespace is refused naming it, the tree running on.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { writeImage, readSingle } from '../src/images/index.js';
import { loadImages } from '../src/restore/images.js';
import { planNamespaces } from '../src/ns/index.js';
import { repo, criu, fixtures, tmpdir, waitGone, verdict, alive, childrenOf, until } from './lib.js';
import { startProg, decodeEntries, killAll } from './ns-lib.js';

const bin = path.join(os.tmpdir(), 'criu-ts-nsuser');
const BASE = 200000;
const CLONE_NEWUSER = 0x10000000n,
  CLONE_NEWUTS = 0x04000000n;

test.beforeAll(() => {
  execFileSync('gcc', ['-O1', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'progs', 'nsuser.c')]);
});

/** start the program; returns the tree's root pid, its outfile and dir */
async function start(mode: string, brk = false): Promise<{ pid: number; out: string; dir: string }> {
  return startProg(`nsuser-${mode}`, (out, pidfile, dir) => [bin, out, pidfile, dir, mode, ...(brk ? ['break'] : [])]);
}

const decode = decodeEntries;
const kill = killAll;
const status = (pid: number, field: string): string =>
  fs
    .readFileSync(`/proc/${pid}/status`, 'utf8')
    .match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))![1]
    .trim();

test('a tree in its own user namespace is dumped to CRIU images and restored, twice: maps, creds, capabilities, owned files', async () => {
  test.setTimeout(90_000);
  const hostName = os.hostname();
  const hostUser = fs.readlinkSync('/proc/self/ns/user');
  const { pid, out, dir } = await start('allow');
  try {
    for (let i = 0; i < 2; i++) {
      const [kid] = await childrenOf(pid, 1);
      const img = path.join(dir, `img${i}`);
      const d = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
      expect(d.code, d.stderr).toBe(0);
      const ids = decode(img, `ids-${pid}.img`)[0] as Record<string, number>;
      const inv = decode(img, 'inventory.img')[0] as { root_ids: Record<string, number> };
      expect(ids.user_ns_id).not.toBe(inv.root_ids.user_ns_id);
      expect(ids.uts_ns_id).not.toBe(inv.root_ids.uts_ns_id);
      // the IPC namespace's objects with their owners as the namespace sees them (CRIU's userns_uid)
      expect(decode(img, `ipcns-msg-${ids.ipc_ns_id}.img`)).toMatchObject([{ desc: { uid: 1000, gid: 1001, cuid: 0, cgid: 0, mode: 0o640 }, qnum: 1 }]);
      expect(decode(img, `ipcns-var-${ids.ipc_ns_id}.img`)[0]).toMatchObject({ msg_ctlmnb: 32000 });
      // the removed file it holds: its owner as the namespace sees it (CRIU's userns_uid), chowned back through the map
      const ghost = fs.readdirSync(img).filter((f) => f.startsWith('ghost-file-'));
      expect(ghost).toHaveLength(1);
      expect(decode(img, ghost[0])[0]).toMatchObject({ uid: 1000, gid: 1001 });
      expect((decode(img, `ids-${kid}.img`)[0] as Record<string, number>).user_ns_id).toBe(ids.user_ns_id);
      const ext = [{ first: 0, lower_first: BASE, count: 65536 }];
      // as CRIU writes it: no setgroups field when it is "allow"
      expect(decode(img, `userns-${ids.user_ns_id}.img`)).toEqual([{ uid_map: ext, gid_map: ext }]);
      // creds as the tasks see them (CRIU's parasite reads them with getresuid in the task)
      const creds = (p: number) => (decode(img, `core-${p}.img`)[0] as { thread_core: { creds: Record<string, unknown> } }).thread_core.creds;
      expect(creds(kid)).toMatchObject({ uid: 1000, euid: 1000, suid: 1000, fsuid: 1000, gid: 1001, egid: 1001, groups: [1002, 1003] });
      expect(creds(kid)).toMatchObject({ cap_eff: [0x401, 0], cap_prm: [0x401, 0], cap_inh: [1, 0] });
      expect(creds(pid)).toMatchObject({ uid: 0, euid: 0, gid: 0, fsgid: 0 });
      expect((creds(pid).cap_bnd as number[])[0] & (1 << 22)).toBe(0); // CAP_SYS_BOOT dropped

      await waitGone(pid);
      await waitGone(kid);
      const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
      const rlog = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
      expect(r.code, rlog).toBe(0);
      expect(rlog).toMatch(/user namespace mapped: uid_map 0 200000 65536; gid_map 0 200000 65536; setgroups allow/);
      // the child's pid and the second thread's tid cannot be set_tid from inside: ns_last_pid
      expect(rlog.match(/through ns_last_pid/g)).toHaveLength(2);
      expect(alive(pid) && alive(kid)).toBe(true);
      expect(fs.readlinkSync(`/proc/${pid}/ns/user`)).not.toBe(hostUser);
      expect(fs.readlinkSync(`/proc/${kid}/ns/user`)).toBe(fs.readlinkSync(`/proc/${pid}/ns/user`));
      expect(fs.readFileSync(`/proc/${pid}/uid_map`, 'utf8').trim().split(/\s+/)).toEqual(['0', String(BASE), '65536']);
      // the host sees the mapped ids
      expect(status(kid, 'Uid')).toBe(`${BASE + 1000}\t${BASE + 1000}\t${BASE + 1000}\t${BASE + 1000}`);
      expect(status(kid, 'Groups')).toBe(`${BASE + 1002} ${BASE + 1003}`);
      expect(status(kid, 'CapEff')).toBe('0000000000000401');
      expect(status(pid, 'Uid').split('\t')[0]).toBe(String(BASE));
      expect(os.hostname()).toBe(hostName);
    }
    const st = fs.statSync(path.join(dir, 'ns', 'owned'));
    expect([st.uid, st.gid]).toEqual([BASE + 1000, BASE + 1001]);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});

test('setgroups "deny" is kept (field 1001 of userns_entry); break mode FAILs', async () => {
  test.setTimeout(60_000);
  for (const brk of [false, true]) {
    const { pid, out, dir } = await start('deny', brk);
    try {
      const img = path.join(dir, 'img');
      const d = criu(['dump', '-t', String(pid), '-D', img]);
      expect(d.code, d.stderr).toBe(0);
      const id = (decode(img, `ids-${pid}.img`)[0] as Record<string, number>).user_ns_id;
      expect(decode(img, `userns-${id}.img`)[0]).toMatchObject({ setgroups_deny: true });
      await waitGone(pid);
      const r = criu(['restore', '-D', img, '-d']);
      expect(r.code, r.stderr).toBe(0);
      expect(fs.readFileSync(`/proc/${pid}/setgroups`, 'utf8')).toBe('deny\n');
      expect(await verdict(pid, out)).toBe(brk ? 'FAIL' : 'PASS');
      if (brk) expect(fs.readFileSync(out, 'utf8')).toMatch(/FAIL: root: caps eff/);
    } finally {
      await kill([pid]);
    }
  }
});

test('a restore failing after the user namespace was made leaves nothing; so does a map the kernel refuses; the images restore after', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('allow');
  const [kid] = await childrenOf(pid, 1);
  try {
    const img = path.join(dir, 'img');
    expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
    await waitGone(pid);
    await waitGone(kid);
    for (const n of ['106', '109']) {
      const r = criu(['restore', '-D', img, '-d', '-v4', '-o', `restore-${n}.log`], { CRIU_FAULT: n });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`fault injected at step ${n}`));
      expect(fs.readFileSync(path.join(img, `restore-${n}.log`), 'utf8')).toMatch(/user namespace mapped/);
      await waitGone(pid);
      await waitGone(kid);
    }
    // overlapping extents: the kernel refuses the uid_map, and the waiting puppet is killed
    const id = (readSingle<Record<string, number>>(path.join(img, `ids-${pid}.img`)) as Record<string, number>).user_ns_id;
    const name = `userns-${id}.img`;
    const good = fs.readFileSync(path.join(img, name));
    const e = readSingle<{ uid_map: unknown[]; gid_map: unknown[] }>(path.join(img, name));
    writeImage(img, name, [{ ...e, uid_map: [...e.uid_map, { first: 100, lower_first: 300000, count: 10 }] }]);
    const bad = criu(['restore', '-D', img, '-d']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(new RegExp(`task ${pid}: cannot write "0 200000 65536\\\\n100 300000 10" to /proc/${pid}/uid_map`));
    await waitGone(pid);
    fs.writeFileSync(path.join(img, name), good);
    expect(criu(['restore', '-D', img, '-d']).code).toBe(0);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid]);
  }
});

test('refused by name, the tree running on: a child in a nested user namespace', async () => {
  test.setTimeout(60_000);
  const { pid, out, dir } = await start('nested');
  const kids = await childrenOf(pid, 1);
  try {
    const img = path.join(dir, 'img');
    const d = criu(['dump', '-t', String(pid), '-D', img]);
    expect(d.code).not.toBe(0);
    expect(d.stderr).toMatch(new RegExp(`not supported yet: task ${kids[0]}: its own user namespace \\(user:\\[\\d+\\]; the root task ${pid} is in user:`));
    expect(d.stderr).toMatch(/nested user namespaces/);
    expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(false);
    expect(alive(pid)).toBe(true);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    await kill([pid, ...kids]);
  }
});

test('with pid namespaces owned by the user namespace: the child keeps its pid inside (set_tid inside only)', async () => {
  test.setTimeout(60_000);
  // unshare maps root to itself ("0 0 1", setgroups deny); sh is init of the new pid namespace
  const u = spawn('unshare', ['-U', '-r', '-p', '-f', '-u', 'setsid', 'sh', '-c', 'hostname criu-ts-pidns; sleep 1000 & wait'], {
    stdio: 'ignore',
    detached: true,
  });
  const [sh] = await childrenOf(u.pid!, 1);
  // sh forks hostname first (inner pid 2), then sleep: the child to compare is sleep
  const kid = await until('sh forks sleep', () => {
    const k = fs.readFileSync(`/proc/${sh}/task/${sh}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    const comm = (c: number): string => {
      try {
        return fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim();
      } catch {
        return ''; // gone (hostname)
      }
    };
    return k.find((c) => comm(c) === 'sleep');
  });
  const dir = tmpdir('nsuser-pidns');
  try {
    const img = path.join(dir, 'img');
    const inner = status(kid, 'NSpid').split('\t')[1];
    const d = criu(['dump', '-t', String(sh), '-D', img]);
    expect(d.code, d.stderr).toBe(0);
    await waitGone(sh);
    await waitGone(kid);
    const r = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toBe(0);
    expect(status(sh, 'NSpid')).toBe(`${sh}\t1`);
    const [k] = await childrenOf(sh, 1);
    expect(status(k, 'NSpid').split('\t')[1]).toBe(inner);
    expect(fs.readlinkSync(`/proc/${k}/ns/user`)).toBe(fs.readlinkSync(`/proc/${sh}/ns/user`));
    expect(fs.readlinkSync(`/proc/${sh}/ns/user`)).not.toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(fs.readFileSync(`/proc/${sh}/setgroups`, 'utf8')).toBe('deny\n');
    expect(
      execFileSync('nsenter', ['-t', String(sh), '-u', 'hostname'])
        .toString()
        .trim(),
    ).toBe('criu-ts-pidns');
  } finally {
    await kill([sh]);
  }
});

test('the plan: a root in a user namespace of its own is made with CLONE_NEWUSER first; a namespace without a root, or a missing image, is refused', () => {
  const dir = tmpdir('ns-user-plan');
  fs.cpSync(path.join(fixtures, 'tree'), dir, { recursive: true });
  const pids = loadImages(dir).tasks.map((t) => t.pid);
  const setIds = (pid: number, v: Record<string, number>): void => {
    const ids = readSingle<Record<string, unknown>>(path.join(dir, `ids-${pid}.img`));
    writeImage(dir, `ids-${pid}.img`, [{ ...ids, ...v }]);
  };
  for (const p of pids) setIds(p, { user_ns_id: 12, uts_ns_id: 11 });
  writeImage(dir, 'utsns-11.img', [{ nodename: 'n', domainname: 'd' }]);
  expect(() => planNamespaces(loadImages(dir))).toThrow(/userns-12.img of the tree's user namespace is missing/);
  writeImage(dir, 'userns-12.img', [{ uid_map: [{ first: 1000, lower_first: 5000, count: 1 }], gid_map: [] }]);
  expect(() => planNamespaces(loadImages(dir))).toThrow(/not supported yet: userns-12.img: the user namespace maps no uid 0 \(uid_map: 1000 5000 1\)/);
  const ext = [{ first: 0, lower_first: BASE, count: 65536 }];
  writeImage(dir, 'userns-12.img', [{ uid_map: ext, gid_map: ext, setgroups_deny: true }]);
  const plan = planNamespaces(loadImages(dir));
  expect(plan.cloneFlags).toBe(CLONE_NEWUSER | CLONE_NEWUTS);
  expect(plan.items.map((i) => i.kind.name)).toEqual(['user', 'uts']);
  expect(plan.items[0].data).toEqual({ entry: { uid_map: ext, gid_map: ext, setgroups_deny: true } });
  setIds(pids[1], { user_ns_id: 13 });
  expect(() => planNamespaces(loadImages(dir))).toThrow(
    new RegExp(`not supported yet: task ${pids[1]}: user namespace 13, not the one of the root task ${pids[0]}`),
  );
});
