// The fd kinds of criu/src/files (eventfd, epoll, signalfd, timerfd, inotify, memfd, FIFO, ghost
// files): each dump side on a live process holding the object, checked against fdinfo and CRIU's
// image layout; each restore side against the kernel object it makes, through images written and
// read back; then whole dumps and restores of zdtm programs and of progs/fdkinds.c. Runs as root.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { repo, criu, tmpdir, waitGone, waitFile, verdict, alive } from './lib.js';
import { FileTable } from '../src/files/table.js';
import { ExtraImages } from '../src/files/kind.js';
import { kindFor, kindsOfType, FILE_KINDS } from '../src/files/registry.js';
import { FileCtx } from '../src/files/restore-ctx.js';
import { writeExtraImages } from '../src/files/extra.js';
import { readFdLink, readFdinfo, listFds } from '../src/proc/index.js';
import { pidfdOpen, pidfdGetfd, close, fcntl } from '../src/sys/libc.js';
import { readImage, writeImage, type GhostFileEntry } from '../src/images/index.js';
import { NotSupportedError, CriuError } from '../src/errors.js';

type Entry = { type: number; id: number; [k: string]: any };
interface Fds {
  pid: number;
  [name: string]: number;
}

const zdtmBin = (name: string): string => path.join(repo, 'zdtm', 'build', 'static', name);
let fdkindsBin = '';
const started: number[] = [];

test.beforeAll(() => {
  const dir = tmpdir('fdkinds-bin');
  fdkindsBin = path.join(dir, 'fdkinds');
  execFileSync('gcc', ['-O1', '-Wall', '-o', fdkindsBin, path.join(repo, 'criu', 'test', 'progs', 'fdkinds.c')]);
});
test.afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** Start progs/fdkinds (it daemonizes); its pid and fd numbers. */
function startFdkinds(clean = false): { fds: Fds; dir: string } {
  const dir = tmpdir('fdkinds');
  const work = path.join(dir, 'w');
  fs.mkdirSync(work);
  const json = path.join(dir, 'fds.json');
  execFileSync(fdkindsBin, [work, json, ...(clean ? ['clean'] : [])], { stdio: 'ignore' });
  const fds = JSON.parse(fs.readFileSync(json, 'utf8')) as Fds;
  started.push(fds.pid);
  return { fds, dir: work };
}

/** Dump fds of a task the way the dump engine does (ids, shared descriptions, the kinds' ctx). */
class Dumper {
  readonly files = new FileTable();
  readonly extra = new ExtraImages();
  ghostLimit = 1 << 20;
  private taken: number[] = [];
  private pidfds = new Map<number, number>();
  dump(pid: number, fd: number): Entry {
    const link = readFdLink(pid, fd);
    const info = readFdinfo(pid, fd);
    const kind = kindFor(link, info, { pid, fd });
    if (!kind) throw new Error(`no kind for ${link.raw}`);
    const known = this.files.sameAs(pid, fd, info.ino);
    if (known !== undefined) return this.files.entries.find((e) => e.id === known) as Entry;
    const id = this.files.allocId();
    const e = kind.dump(
      {
        pid,
        fd,
        link,
        info,
        files: this.files,
        extra: this.extra,
        ghostLimit: this.ghostLimit,
        takeFd: () => {
          let p = this.pidfds.get(pid);
          if (p === undefined) {
            p = pidfdOpen(pid);
            this.pidfds.set(pid, p);
          }
          const mine = pidfdGetfd(p, fd);
          this.taken.push(mine);
          return mine;
        },
      },
      id,
    ) as Entry;
    this.files.add(e);
    this.files.noteFd(pid, fd, info.ino, id);
    return e;
  }
  /** the work the kinds left for the end of the dump (the engine runs it while still frozen) */
  finish(): void {
    for (const f of this.extra.deferred.values()) f();
    this.extra.deferred.clear();
  }
  extraMsgs(file: string): any[] {
    return this.extra.images.get(file)?.entries ?? [];
  }
  /** files.img and the extra images into a fresh directory */
  write(): string {
    this.finish();
    const dir = tmpdir('fdimg');
    writeImage(dir, 'files.img', this.files.entries);
    writeExtraImages(dir, this.extra);
    return dir;
  }
  close(): void {
    for (const f of [...this.taken, ...this.pidfds.values()]) close(f);
    this.taken = [];
    this.pidfds.clear();
  }
}

/** The restore's FileCtx over an images dir, as the restore engine builds it. */
function restoreCtx(dir: string) {
  const files = new Map<number, unknown>(readImage(path.join(dir, 'files.img')).entries.map((e) => [Number((e.msg as Entry).id), e.msg]));
  const ctx = new FileCtx({ dir, files });
  return {
    open: (id: number): number => ctx.open(id, 'test').fd,
    closeAll: (): void => ctx.close(),
  };
}

/** fdinfo lines of one of our fds, as a key → value map */
function fdinfoOf(pid: number | 'self', fd: number): Record<string, string> {
  const o: Record<string, string> = {};
  for (const l of fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n')) {
    const c = l.indexOf(':');
    if (c > 0) o[l.slice(0, c)] = l.slice(c + 1).trim();
  }
  return o;
}
const flagsOf = (pid: number | 'self', fd: number): number => parseInt(fdinfoOf(pid, fd).flags, 8) & ~0o2000000;
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NotSupportedError);
    return (e as Error).message;
  }
  throw new Error('no refusal');
};
/** the message of a CriuError (a refusal with CRIU's own words) */
const failure = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CriuError);
    return (e as Error).message;
  }
  throw new Error('no failure');
};

test('the registry claims each fd link kind with the right module', () => {
  const names = FILE_KINDS.map((k) => k.name);
  // by priority: memfd and fifo before ghost and reg; ghost before reg (it claims the REG entries with a ghost remap)
  expect(names.indexOf('memfd')).toBeLessThan(names.indexOf('ghost'));
  expect(names.indexOf('fifo')).toBeLessThan(names.indexOf('reg'));
  expect(names.indexOf('ghost')).toBeLessThan(names.indexOf('reg'));
  // procfile only refuses (/proc files of exited tasks) and claims no entry
  expect(kindsOfType(1).map((k) => k.name)).toEqual(['procfile', 'ghost', 'reg']);
  const { fds } = startFdkinds();
  const kindOf = (fd: number): string | undefined => kindFor(readFdLink(fds.pid, fd), readFdinfo(fds.pid, fd))?.name;
  expect(kindOf(fds.efd)).toBe('eventfd');
  expect(kindOf(fds.ep)).toBe('epoll');
  expect(kindOf(fds.sfd)).toBe('signalfd');
  expect(kindOf(fds.trel)).toBe('timerfd');
  expect(kindOf(fds.ify)).toBe('inotify');
  expect(kindOf(fds.mfd)).toBe('memfd');
  expect(kindOf(fds.gsmall)).toBe('ghost');
  expect(kindOf(fds.fw)).toBe('fifo');
  expect(kindOf(0)).toBe('reg');
  process.kill(fds.pid, 'SIGKILL');
});

test('eventfd, signalfd and timerfd: entries from fdinfo, and the objects made again', () => {
  const { fds } = startFdkinds();
  const d = new Dumper();
  try {
    const efd = d.dump(fds.pid, fds.efd);
    expect(efd.type).toBe(6);
    expect(efd.efd).toMatchObject({ id: efd.id, counter: 5n, flags: 0o4002 | 1 /* EFD_SEMAPHORE in bit 0 */ });
    // an owner for SIGIO (F_SETOWN getpid()): a process, set by root
    const owned = d.dump(fds.pid, fds.owned);
    expect(owned.efd.fown).toEqual({ uid: 0, euid: 0, signum: 0, pid_type: 1 /* F_OWNER_PID */, pid: fds.pid });
    const sg = d.dump(fds.pid, fds.sfd);
    expect(sg.sgfd).toMatchObject({ flags: 0o4002, sigmask: (1n << 9n) | (1n << 11n) });
    const rel = d.dump(fds.pid, fds.trel),
      abs = d.dump(fds.pid, fds.tabs),
      tick = d.dump(fds.pid, fds.tick);
    expect(rel.tfd).toMatchObject({ clockid: 1, settime_flags: 0, isec: 7n, insec: 5000n, ticks: 0n, flags: 0o4002 });
    expect(rel.tfd.vsec).toBeGreaterThan(900n);
    expect(rel.tfd.vsec).toBeLessThan(1000n);
    expect(abs.tfd).toMatchObject({ clockid: 0, settime_flags: 1, isec: 0n, insec: 0n });
    expect(abs.tfd.vsec).toBeGreaterThan(400n); // the time left, not the absolute time
    expect(tick.tfd).toMatchObject({ ticks: 1n, vsec: 0n, vnsec: 0n });

    const r = restoreCtx(d.write());
    try {
      const e2 = r.open(efd.id);
      expect(fdinfoOf('self', e2)).toMatchObject({ 'eventfd-count': expect.stringMatching(/^0*5$/), 'eventfd-semaphore': '1' });
      expect(flagsOf('self', e2)).toBe(0o4002);
      expect(fcntl(r.open(owned.id), 9 /* F_GETOWN */, 0)).toBe(fds.pid);
      const s2 = r.open(sg.id);
      expect(fdinfoOf('self', s2).sigmask).toBe('0000000000000a00');
      expect(flagsOf('self', s2)).toBe(0o4002);
      const t2 = fdinfoOf('self', r.open(rel.id));
      expect(t2.it_interval).toBe('(7, 5000)');
      const left = Number(/\((\d+),/.exec(t2.it_value)![1]);
      expect(left).toBeGreaterThan(900);
      expect(left).toBeLessThanOrEqual(Number(rel.tfd.vsec));
      const a2 = fdinfoOf('self', r.open(abs.id));
      expect(a2['settime flags']).toBe('01');
      expect(Number(/\((\d+),/.exec(a2.it_value)![1])).toBeGreaterThan(400);
      expect(fdinfoOf('self', r.open(tick.id)).ticks).toBe('1');
    } finally {
      r.closeAll();
    }
  } finally {
    d.close();
    process.kill(fds.pid, 'SIGKILL');
  }
});

test('epoll: targets inline as CRIU 4.2 writes them; a closed target is refused', () => {
  const { fds } = startFdkinds();
  const d = new Dumper();
  try {
    const ep = d.dump(fds.pid, fds.ep);
    expect(ep.type).toBe(7);
    const tfd = [...ep.epfd.tfd].sort((a: any, b: any) => a.tfd - b.tfd);
    expect(tfd).toEqual([
      // the kernel adds EPOLLERR | EPOLLHUP to every registration
      expect.objectContaining({ id: 0, tfd: fds.sfd, events: (0x19 | 0x80000000) >>> 0, data: 0xfeedbeefcafen }),
      expect.objectContaining({ id: 0, tfd: fds.efd, events: 0x19, data: 0x1234n }),
    ]);
    for (const t of tfd) expect(t.inode).toBeGreaterThan(0n);
    // the eventfd (level-triggered, counter 5) is ready: not "quiet", nothing will be drained
    expect(ep.epfd.flags).toBe(2);
    expect(refusal(() => d.dump(fds.pid, fds.epgone))).toMatch(/watched fd \d+ is closed in the task or is now another file/);
    // the images keep the targets in the epfd entry, and no eventpoll-tfd.img
    const dir = d.write();
    expect(fs.existsSync(path.join(dir, 'eventpoll-tfd.img'))).toBe(false);
    const back = readImage(path.join(dir, 'files.img'))
      .entries.map((e) => e.msg as Entry)
      .find((e) => e.type === 7)!;
    expect(back.epfd.tfd).toHaveLength(2);
    const r = restoreCtx(dir);
    const fd = r.open(ep.id);
    expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe('anon_inode:[eventpoll]');
    r.closeAll();
  } finally {
    d.close();
    process.kill(fds.pid, 'SIGKILL');
  }
});

test('inotify: watches with their paths and handles; made again with the same wd numbers', () => {
  const { fds, dir } = startFdkinds();
  const d = new Dumper();
  try {
    const ify = d.dump(fds.pid, fds.ify);
    expect(ify.type).toBe(8);
    expect(ify.ify.flags).toBe(0o4000);
    const wds = [...ify.ify.wd].sort((a: any, b: any) => a.wd - b.wd);
    expect(wds.map((w: any) => [w.wd, w.f_handle.path])).toEqual([
      [fds.wd1, dir],
      [fds.wd2, path.join(dir, 'watched')],
    ]);
    expect(wds[0].mask).toBe(0x100 | 0x200);
    expect(wds[1].mask).toBe((0x2 | 0x80000000) >>> 0);
    expect(wds[1].i_ino).toBe(BigInt(fs.statSync(path.join(dir, 'watched')).ino));
    expect(wds[1].f_handle.handle).toHaveLength(16);
    const r = restoreCtx(d.write());
    try {
      const fd = r.open(ify.id);
      const lines = fs
        .readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('inotify'));
      const got = lines
        .map((l) =>
          /wd:(\w+) ino:(\w+) .* mask:(\w+)/
            .exec(l)!
            .slice(1)
            .map((x) => parseInt(x, 16)),
        )
        .sort((a, b) => a[0] - b[0]);
      expect(got).toEqual(wds.map((w: any) => [w.wd, Number(w.i_ino), w.mask]));
      expect(flagsOf('self', fd)).toBe(0o4000);
    } finally {
      r.closeAll();
    }
  } finally {
    d.close();
    process.kill(fds.pid, 'SIGKILL');
  }
});

test('memfd: one inode entry, contents as shmem pages with holes, seals; descriptions made again', () => {
  const { fds } = startFdkinds();
  const d = new Dumper();
  try {
    const m1 = d.dump(fds.pid, fds.mfd),
      m2 = d.dump(fds.pid, fds.mro);
    expect(m1.type).toBe(18);
    expect(m1.memfd).toMatchObject({ flags: 0o100002, pos: 77n, inode_id: 1 });
    expect(m2.memfd).toMatchObject({ flags: 0o100000, pos: 123n, inode_id: 1 });
    const [mie, ...more] = d.extraMsgs('memfd.img');
    expect(more).toHaveLength(0);
    const st = fs.statSync(`/proc/${fds.pid}/fd/${fds.mfd}`);
    expect(mie).toMatchObject({
      name: 'fdk-memfd',
      size: BigInt(5 * 4096 + 100),
      seals: 0x2 | 0x4,
      inode_id: 1n,
      shmid: st.ino,
      mode: 0o100640,
      uid: 0,
      gid: 0,
    });
    const pm = d.extraMsgs(`pagemap-shmem-${st.ino}.img`);
    expect(pm[0].pages_id).toBeGreaterThan(0);
    expect(pm.slice(1)).toEqual([
      { vaddr: 0n, compat_nr_pages: 0, flags: 4, nr_pages: 1n },
      { vaddr: 3n * 4096n, compat_nr_pages: 0, flags: 4, nr_pages: 1n },
    ]);
    const dir = d.write();
    const pages = fs.readFileSync(path.join(dir, `pages-${pm[0].pages_id}.img`));
    expect(pages.length).toBe(2 * 4096);
    expect(pages.subarray(0, 4096).equals(Buffer.alloc(4096, 'A'))).toBe(true);
    expect(pages.subarray(4096).equals(Buffer.alloc(4096, 'B'))).toBe(true);

    const r = restoreCtx(dir);
    try {
      const a = r.open(m1.id),
        b = r.open(m2.id);
      expect(fs.readlinkSync(`/proc/self/fd/${a}`)).toBe('/memfd:fdk-memfd (deleted)');
      const sa = fs.fstatSync(a),
        sb = fs.fstatSync(b);
      expect(sa.ino).toBe(sb.ino);
      expect(sa.size).toBe(5 * 4096 + 100);
      expect(sa.mode).toBe(0o100640);
      expect(flagsOf('self', a)).toBe(0o100002);
      expect(flagsOf('self', b)).toBe(0o100000);
      expect(fdinfoOf('self', a).pos).toBe('77');
      expect(fdinfoOf('self', b).pos).toBe('123');
      const all = Buffer.alloc(5 * 4096 + 100);
      fs.readSync(b, all, 0, all.length, 0);
      const want = Buffer.alloc(all.length);
      want.fill('A', 0, 4096);
      want.fill('B', 3 * 4096, 4 * 4096);
      expect(all.equals(want)).toBe(true);
      const seals = spawnSync('python3', ['-c', `import fcntl,os; print(fcntl.fcntl(os.open('/proc/${process.pid}/fd/${a}', os.O_RDONLY), 1034))`], {
        encoding: 'utf8',
      });
      expect(seals.stdout.trim()).toBe(String(0x2 | 0x4));
    } finally {
      r.closeAll();
    }
  } finally {
    d.close();
    process.kill(fds.pid, 'SIGKILL');
  }
});

test('ghost files: small whole, big in chunks, remap-fpath; reopened under their old name; linked remaps and the ghost limit refused', () => {
  const { fds, dir } = startFdkinds();
  const d = new Dumper();
  try {
    // still linked elsewhere: a link remap, only with --link-remap (CRIU's message)
    expect(failure(() => d.dump(fds.pid, fds.linked))).toMatch(/Can't create link remap for .*linked.*\. Use --link-remap option\./);
    const s = d.dump(fds.pid, fds.gsmall),
      b = d.dump(fds.pid, fds.gbig);
    expect(s.type).toBe(1);
    expect(s.reg).toMatchObject({ name: path.join(dir, 'small'), pos: 3n, flags: 0o100002, size: 11n });
    expect(b.reg).toMatchObject({ name: path.join(dir, 'big'), flags: 0o100001, size: 65536n });
    expect(d.extraMsgs('remap-fpath.img')).toEqual([
      { orig_id: s.id, remap_id: 1, remap_type: 1 },
      { orig_id: b.id, remap_id: 2, remap_type: 1 },
    ]);
    const g1 = d.extra.images.get('ghost-file-1.img')!;
    const st = fs.statSync(`/proc/${fds.pid}/fd/${fds.gsmall}`);
    // the device in the kernel's encoding, as CRIU stores it (crit shows it as major:minor)
    expect(g1.entries[0]).toMatchObject({
      mode: 0o100600,
      uid: 0,
      gid: 0,
      dev: ((Math.floor(st.dev / 256) & 0xfff) << 20) | (st.dev & 0xff),
      ino: BigInt(st.ino),
    });
    expect((g1.entries[0] as GhostFileEntry).chunks).toBeUndefined();
    expect(g1.blobs[0]!.toString()).toBe('hello ghost');
    const g2 = d.extra.images.get('ghost-file-2.img')!;
    expect(g2.entries[0]).toMatchObject({ mode: 0o100640, chunks: true, size: 65536n });
    expect(g2.entries.slice(1)).toEqual([
      { len: 4096n, off: 0n },
      { len: 4096n, off: 32768n },
    ]);
    expect(g2.blobs[2]!.equals(Buffer.alloc(4096, 'D'))).toBe(true);
    // the same inode through another description: one ghost
    const d2 = new Dumper();
    d2.ghostLimit = 4096;
    expect(failure(() => d2.dump(fds.pid, fds.gbig))).toMatch(/Can't dump ghost file .*big of \d+ size, increase limit \(--ghost-limit is 4096\)/);
    d2.close();

    const img = d.write();
    // the images decode as CRIU lays them out: contents after the entry, or chunk entries
    const back = readImage(path.join(img, 'ghost-file-2.img')).entries;
    expect(back.map((e) => e.type)).toEqual(['ghost_file_entry', 'ghost_chunk_entry', 'ghost_chunk_entry']);
    expect(readImage(path.join(img, 'ghost-file-1.img')).entries[0].blob!.toString()).toBe('hello ghost');

    const r = restoreCtx(img);
    try {
      const fs1 = r.open(s.id),
        fb = r.open(b.id);
      expect(fs.readlinkSync(`/proc/self/fd/${fs1}`)).toBe(`${path.join(dir, 'small')} (deleted)`);
      expect(fs.readlinkSync(`/proc/self/fd/${fb}`)).toBe(`${path.join(dir, 'big')} (deleted)`);
      expect(fdinfoOf('self', fs1).pos).toBe('3');
      expect(flagsOf('self', fb)).toBe(0o100001);
      expect(fs.fstatSync(fs1).nlink).toBe(0);
      expect(fs.fstatSync(fb).mode).toBe(0o100640);
      const rb = fs.openSync(`/proc/self/fd/${fb}`, 'r');
      const all = Buffer.alloc(65536);
      fs.readSync(rb, all, 0, all.length, 0);
      fs.closeSync(rb);
      const want = Buffer.alloc(65536);
      want.fill('C', 0, 4096);
      want.fill('D', 32768, 36864);
      expect(all.equals(want)).toBe(true);
      // neither the names nor the ghosts are left in the directory
      expect(fs.readdirSync(dir).filter((n) => /small|big/.test(n))).toEqual([]);
    } finally {
      r.closeAll();
    }
  } finally {
    d.close();
    process.kill(fds.pid, 'SIGKILL');
  }
});

test('FIFO: a path entry of its own, buffered bytes read even through a write-only end, reopened without waiting', async () => {
  const { fds, dir } = startFdkinds();
  const d = new Dumper();
  try {
    const f = d.dump(fds.pid, fds.fw);
    expect(f.type).toBe(3);
    const st = fs.statSync(path.join(dir, 'fifo'));
    expect(f.fifo).toMatchObject({ id: f.id, pipe_id: st.ino });
    const reg = d.files.entries.find((e) => e.id === f.fifo.regf_id) as Entry;
    expect(reg).toMatchObject({ type: 1, reg: { name: path.join(dir, 'fifo'), flags: 0o100001 } });
    expect(d.files.entries.indexOf(reg)).toBe(d.files.entries.indexOf(f) - 1); // just before the FIFO entry, as CRIU writes them
    // only a write end in the task: read at the end of the dump, through a read end of our own
    expect(d.extraMsgs('fifo-data.img')).toEqual([]);
    d.finish();
    expect(d.extraMsgs('fifo-data.img')).toEqual([{ pipe_id: st.ino, bytes: 10, size: 65536 }]);
    // still in the task's FIFO: nothing was taken out
    const img = d.write();
    d.close();
    // the task's end would keep the old bytes in the FIFO
    process.kill(fds.pid, 'SIGKILL');
    await waitGone(fds.pid);
    const r = restoreCtx(img);
    try {
      const w = r.open(f.id);
      expect(flagsOf('self', w)).toBe(0o100001);
      const rd = fs.openSync(path.join(dir, 'fifo'), fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const buf = Buffer.alloc(64);
      const n = fs.readSync(rd, buf, 0, 64, null);
      fs.closeSync(rd);
      expect(buf.subarray(0, n).toString()).toBe('fifo bytes');
    } finally {
      r.closeAll();
    }
  } finally {
    d.close();
  }
});

/** fdinfo of every fd of a task, with what a restore changes (inode numbers, ids, time) masked */
function fdSnapshot(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const fd of listFds(pid)) {
    const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`).replace(/\[\d+\]$/, '[N]');
    const lines = fs
      .readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8')
      .split('\n')
      .filter((l) => l && !/^(ino|mnt_id|eventfd-id|it_value):/.test(l))
      .map((l) => l.replace(/\bino:\w+/, 'ino:N').replace(/\s+/g, ' '))
      .sort();
    out[fd] = `${link}\n${lines.join('\n')}`;
  }
  return out;
}

test('progs/fdkinds: every kind through a whole dump and restore keeps its fdinfo, contents and names', async () => {
  const { fds, dir } = startFdkinds(true);
  const img = path.join(path.dirname(dir), 'img');
  const before = fdSnapshot(fds.pid);
  const dmp = criu(['dump', '-t', String(fds.pid), '-D', img, '-v4', '-o', 'dump.log']);
  expect(
    dmp.code,
    fs.existsSync(path.join(img, 'dump.log'))
      ? fs
          .readFileSync(path.join(img, 'dump.log'), 'utf8')
          .split('\n')
          .filter((l) => /Error/.test(l))
          .join('\n')
      : dmp.stderr,
  ).toBe(0);
  await waitGone(fds.pid);
  for (const f of ['memfd.img', 'remap-fpath.img', 'ghost-file-1.img', 'ghost-file-2.img', 'fifo-data.img'])
    expect(fs.existsSync(path.join(img, f)), f).toBe(true);
  const rst = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
  expect(
    rst.code,
    fs
      .readFileSync(path.join(img, 'restore.log'), 'utf8')
      .split('\n')
      .filter((l) => /Error/.test(l))
      .join('\n'),
  ).toBe(0);
  try {
    expect(fdSnapshot(fds.pid)).toEqual(before);
    const rd = (fd: number, len: number, at: number): string => {
      const f = fs.openSync(`/proc/${fds.pid}/fd/${fd}`, 'r');
      const b = Buffer.alloc(len);
      fs.readSync(f, b, 0, len, at);
      fs.closeSync(f);
      return b.toString();
    };
    expect(rd(fds.gsmall, 11, 0)).toBe('hello ghost');
    expect(rd(fds.gbig, 4, 32768)).toBe('DDDD');
    expect(rd(fds.mfd, 4, 3 * 4096)).toBe('BBBB');
    expect(fs.readdirSync(dir).sort()).toEqual(['fifo', 'watched']);
  } finally {
    process.kill(fds.pid, 'SIGKILL');
    await waitGone(fds.pid);
  }
});

for (const name of ['eventfd00', 'epoll00', 'fifo', 'unlink_fstat00', 'pipe00']) {
  test(`zdtm ${name}: dump, restore, PASS`, async () => {
    const dir = tmpdir(`z-${name}`);
    fs.chmodSync(dir, 0o777);
    const out = path.join(dir, 'out'),
      pidfile = path.join(dir, 'pid');
    execFileSync(zdtmBin(name), [`--pidfile=${pidfile}`, `--outfile=${out}`, `--filename=${path.join(dir, 'file')}`, `--dirname=${path.join(dir, 'd')}`], {
      stdio: 'ignore',
    });
    const pid = Number((await waitFile(pidfile)).trim());
    started.push(pid);
    const img = path.join(dir, 'img');
    const dmp = criu(['dump', '-t', String(pid), '-D', img, '-v4', '-o', 'dump.log']);
    expect(dmp.code, dmp.stderr).toBe(0);
    await waitGone(pid);
    const rst = criu(['restore', '-D', img, '-d', '-v4', '-o', 'restore.log']);
    expect(
      rst.code,
      fs
        .readFileSync(path.join(img, 'restore.log'), 'utf8')
        .split('\n')
        .filter((l) => /Error/.test(l))
        .join('\n'),
    ).toBe(0);
    expect(alive(pid)).toBe(true);
    expect(await verdict(pid, out)).toBe('PASS');
    await waitGone(pid);
  });
}
