// /proc parsers: live checks against a C program with known mappings, fds, threads and timers,
// string-level checks of tricky inputs, and the PAGEMAP_SCAN resume rule on a fake kernel.
import { test, expect } from '@playwright/test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, readFileSync, statSync, readSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as P from '../src/proc/index.js';

const PS = 4096n;

const PROG = String.raw`
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <grp.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#define PS 4096
static pthread_barrier_t bar;
static volatile int tids[3];
static volatile int tchild;
static void h(int s) { (void)s; }
static void *thr(void *a) {
  long i = (long)a;
  tids[i] = syscall(SYS_gettid);
  if (i == 0) {
    int c = fork();
    if (c == 0) { prctl(PR_SET_PDEATHSIG, SIGKILL); for (;;) pause(); }
    tchild = c;
  }
  pthread_barrier_wait(&bar);
  for (;;) pause();
  return NULL;
}
static int mkfile(const char *dir, const char *name, int pages, char fill) {
  char p[4096]; snprintf(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
  char b[PS]; memset(b, fill, PS);
  for (int i = 0; i < pages; i++) if (write(fd, b, PS) != PS) exit(2);
  return fd;
}
int main(int argc, char **argv) {
  const char *dir = argv[1];
  umask(027);
  gid_t gs[2] = { 5, 7 };
  if (setgroups(2, gs)) return 3;
  prctl(PR_SET_NAME, "a) b (c");
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  struct rlimit rl = { 777, 888 };
  setrlimit(RLIMIT_NOFILE, &rl);
  sigset_t blk; sigemptyset(&blk); sigaddset(&blk, SIGUSR1);
  sigprocmask(SIG_BLOCK, &blk, NULL);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = { 0 }; sa.sa_handler = h; sigaction(SIGUSR2, &sa, NULL);

  /* anonymous private: 16 pages, pages 1,5,6 written, page 9 read (the zero page) */
  char *anon = mmap(NULL, 16 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  int named = prctl(0x53564d41 /* PR_SET_VMA */, 0 /* ANON_NAME */, (unsigned long)anon, 16 * PS, (unsigned long)"ptest anon") == 0;
  anon[1 * PS] = 1; anon[5 * PS] = 1; anon[6 * PS] = 1;
  volatile char c = anon[9 * PS]; (void)c;
  /* private file mapping of 4 pages: page 0 read, page 2 written (a private copy) */
  int ffd = mkfile(dir, "data.bin", 4, 'x');
  lseek(ffd, 12345, SEEK_SET);
  char *fmap = mmap(NULL, 4 * PS, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
  c = fmap[0]; fmap[2 * PS] = 'y';
  /* a deleted file, shared */
  int dfd = mkfile(dir, "gone file.bin", 1, 'z');
  char *del = mmap(NULL, PS, PROT_READ, MAP_SHARED, dfd, 0);
  { char p[4096]; snprintf(p, sizeof p, "%s/gone file.bin", dir); unlink(p); }
  close(dfd);
  /* memfd, shared, page 1 written */
  int mfd = memfd_create("ptest", 0);
  ftruncate(mfd, 2 * PS);
  char *mem = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  mem[PS] = 1;
  /* shared anonymous, page 0 written */
  char *shm = mmap(NULL, 2 * PS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  shm[0] = 1;
  /* fds */
  int efd = eventfd(7, EFD_NONBLOCK);
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = 0x1122334455667788ULL };
  epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
  sigset_t sm; sigemptyset(&sm); sigaddset(&sm, SIGUSR1); sigaddset(&sm, SIGTERM);
  int sfd = signalfd(-1, &sm, SFD_CLOEXEC);
  int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  struct itimerspec its = { .it_interval = { 5, 0 }, .it_value = { 1000, 0 } };
  timerfd_settime(tfd, 0, &its, NULL);
  int ifd = inotify_init1(0);
  int wd = inotify_add_watch(ifd, dir, IN_CREATE | IN_DELETE);
  int pp[2]; pipe(pp);
  int sk[2]; socketpair(AF_UNIX, SOCK_STREAM, 0, sk);
  /* children: one of the main thread (with a grandchild), one of thread 0 */
  int child = fork();
  if (child == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, "child");
    if (fork() == 0) { prctl(PR_SET_PDEATHSIG, SIGKILL); for (;;) pause(); }
    for (;;) pause();
  }
  /* threads */
  pthread_barrier_init(&bar, NULL, 4);
  pthread_t th[3];
  for (long i = 0; i < 3; i++) pthread_create(&th[i], NULL, thr, (void *)i);
  pthread_barrier_wait(&bar);
  /* POSIX timers */
  timer_t t1, t2;
  struct sigevent se = { 0 };
  se.sigev_notify = SIGEV_SIGNAL; se.sigev_signo = SIGRTMIN + 1; se.sigev_value.sival_ptr = (void *)0xabc;
  timer_create(CLOCK_MONOTONIC, &se, &t1);
  struct sigevent se2 = { 0 };
  se2.sigev_notify = SIGEV_THREAD_ID; se2.sigev_signo = SIGUSR2; se2._sigev_un._tid = tids[1];
  timer_create(CLOCK_REALTIME, &se2, &t2);
  struct itimerspec big = { .it_value = { 3600, 0 } };
  timer_settime(t1, 0, &big, NULL); timer_settime(t2, 0, &big, NULL);

  printf("{\"anon\":\"%lx\",\"named\":%d,\"fmap\":\"%lx\",\"del\":\"%lx\",\"mem\":\"%lx\",\"shm\":\"%lx\","
         "\"ffd\":%d,\"efd\":%d,\"ep\":%d,\"sfd\":%d,\"tfd\":%d,\"ifd\":%d,\"wd\":%d,\"pipe\":[%d,%d],\"sk\":[%d,%d],"
         "\"t1\":%ld,\"t2\":%ld,\"tids\":[%d,%d,%d],\"child\":%d,\"tchild\":%d,\"sigrt1\":%d}\n",
         (unsigned long)anon, named, (unsigned long)fmap, (unsigned long)del, (unsigned long)mem, (unsigned long)shm,
         ffd, efd, ep, sfd, tfd, ifd, wd, pp[0], pp[1], sk[0], sk[1],
         (long)(intptr_t)t1, (long)(intptr_t)t2, tids[0], tids[1], tids[2], child, tchild, SIGRTMIN + 1);
  fflush(stdout);
  for (;;) pause();
}
`;

interface Info {
  anon: string;
  named: number;
  fmap: string;
  del: string;
  mem: string;
  shm: string;
  ffd: number;
  efd: number;
  ep: number;
  sfd: number;
  tfd: number;
  ifd: number;
  wd: number;
  pipe: [number, number];
  sk: [number, number];
  t1: number;
  t2: number;
  tids: number[];
  child: number;
  tchild: number;
  sigrt1: number;
}

let dir = '';
let proc: ChildProcess;
let pid = 0;
let info: Info;
const addr = (s: string): bigint => BigInt('0x' + s);

test.describe.configure({ mode: 'serial' });

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'proc-spec-'));
  writeFileSync(join(dir, 'prog.c'), PROG);
  const cc = spawnSync('gcc', ['-O1', '-pthread', '-o', join(dir, 'prog'), join(dir, 'prog.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
  proc = spawn(join(dir, 'prog'), [dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  pid = proc.pid!;
  info = await new Promise<Info>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Info);
    });
    proc.on('exit', (c) => reject(new Error(`prog exited ${c}`)));
  });
});

test.afterAll(() => {
  proc?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const vmaAt = (vmas: P.Vma[], a: bigint): P.Vma => {
  const v = vmas.find((m) => m.start <= a && a < m.end);
  if (!v) throw new Error(`no VMA at 0x${a.toString(16)}`);
  return v;
};

test.describe('live', () => {
  test('maps: kinds, prot, offsets, paths', () => {
    const vmas = P.readMaps(pid);
    const anon = vmaAt(vmas, addr(info.anon));
    expect(anon.prot).toBe(P.PROT_READ | P.PROT_WRITE);
    expect(anon.shared).toBe(false);
    if (info.named) {
      expect(anon.kind).toBe('anon_named');
      expect(anon.label).toBe('ptest anon');
      expect(anon.start).toBe(addr(info.anon));
      expect(anon.end).toBe(addr(info.anon) + 16n * PS);
    }
    const f = vmaAt(vmas, addr(info.fmap));
    const st = statSync(join(dir, 'data.bin'));
    expect(f).toMatchObject({ kind: 'file', path: join(dir, 'data.bin'), shared: false, offset: 0n, inode: st.ino, deleted: false });
    expect(f.major * 256 + f.minor === st.dev || ((f.major << 20) | f.minor) === st.dev).toBe(true);
    expect(f.end - f.start).toBe(4n * PS);
    const d = vmaAt(vmas, addr(info.del));
    expect(d).toMatchObject({ kind: 'deleted', path: join(dir, 'gone file.bin'), deleted: true, shared: true, prot: P.PROT_READ });
    expect(d.name).toBe(join(dir, 'gone file.bin') + ' (deleted)');
    expect(vmaAt(vmas, addr(info.mem))).toMatchObject({ kind: 'memfd', label: 'ptest', path: '/memfd:ptest', shared: true });
    expect(vmaAt(vmas, addr(info.shm))).toMatchObject({ kind: 'shmem', path: '/dev/zero', shared: true });
    const kinds = new Set(vmas.map((v) => v.kind));
    for (const k of ['heap', 'stack', 'vdso', 'vvar', 'file'] as const) expect(kinds).toContain(k);
    expect(vmas.find((v) => v.kind === 'vdso')!.prot).toBe(P.PROT_READ | P.PROT_EXEC);
    for (let i = 1; i < vmas.length; i++) expect(vmas[i].start >= vmas[i - 1].end).toBe(true);
  });

  test('smaps: sizes and VmFlags agree with maps', () => {
    const vmas = P.readMaps(pid);
    const sm = P.readSmaps(pid);
    expect(sm.map((v) => [v.start, v.end, v.name])).toEqual(vmas.map((v) => [v.start, v.end, v.name]));
    const anon = sm.find((v) => v.start <= addr(info.anon) && addr(info.anon) < v.end)!;
    expect(anon.vmFlags).toEqual(expect.arrayContaining(['rd', 'wr', 'mr', 'mw', 'me']));
    expect(anon.vmFlags).not.toContain('sh');
    if (info.named) {
      expect(anon.size).toBe(64);
      expect(anon.anonymous).toBe(12); // three written pages; the zero page is not anonymous memory
      expect(anon.rss).toBe(16);
    }
    const shm = sm.find((v) => v.start === addr(info.shm))!;
    expect(shm.vmFlags).toEqual(expect.arrayContaining(['sh', 'ms']));
    expect(sm.find((v) => v.kind === 'stack')!.vmFlags).toContain('gd');
    expect(sm.find((v) => v.start === addr(info.fmap))!.kb.KernelPageSize).toBe(4);
  });

  test('stat: comm with ")" and spaces, threads, layout fields', () => {
    const s = P.readStat(pid);
    expect(s.pid).toBe(pid);
    expect(s.comm).toBe('a) b (c');
    expect(s.ppid).toBe(process.pid);
    expect(s.state).toBe('S');
    expect(s.num_threads).toBe(4);
    expect(s.exit_signal).toBe(17);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`);
    expect(Number(s.arg_end - s.arg_start)).toBe(cmdline.length);
    const vmas = P.readMaps(pid);
    expect(vmaAt(vmas, s.start_code).path).toBe(join(dir, 'prog'));
    expect(vmaAt(vmas, s.start_stack).kind).toBe('stack');
    expect(s.env_start).toBe(s.arg_end);
    expect(s.env_end > s.env_start).toBe(true);
    expect(s.start_brk <= vmas.find((v) => v.kind === 'heap')!.start).toBe(true);
    expect(s.rsslim).toBe(P.RLIM_INFINITY);
    const t = P.readStat(pid, info.tids[2]);
    expect(t.pid).toBe(info.tids[2]);
    expect(t.comm).toBe('a) b (c');
    expect(t.start_code).toBe(s.start_code);
  });

  test('status: creds, groups, caps, signals, umask, ns ids', () => {
    const s = P.readStatus(pid);
    expect(s.name).toBe('a) b (c');
    expect(s.umask).toBe(0o027);
    expect(s.tgid).toBe(pid);
    expect(s.pid).toBe(pid);
    expect(s.ppid).toBe(process.pid);
    expect(s.tracerPid).toBe(0);
    expect(s.uid).toEqual([0, 0, 0, 0]);
    expect(s.gid).toEqual([0, 0, 0, 0]);
    expect(s.groups).toEqual([5, 7]);
    expect(s.threads).toBe(4);
    expect(s.nspid).toEqual([pid]);
    expect(s.nstgid).toEqual([pid]);
    expect(s.noNewPrivs).toBe(1);
    expect(s.seccomp).toBe(0);
    expect(s.seccompFilters).toBe(0);
    expect(s.sigBlk & (1n << 9n)).toBe(1n << 9n); // SIGUSR1
    expect(s.sigIgn & (1n << 12n)).toBe(1n << 12n); // SIGPIPE
    expect(s.sigCgt & (1n << 11n)).toBe(1n << 11n); // SIGUSR2
    expect(s.capEff).toBe(P.readStatus(process.pid).capEff);
    expect(s.capBnd > 0n).toBe(true);
    expect(s.capAmb).toBe(0n);
    expect(s.cpusAllowed.length).toBeGreaterThan(0);
    expect(s.sigQ.limit).toBeGreaterThan(0);
    expect(typeof s.voluntaryCtxtSwitches).toBe('number');
    const ts = P.readStatus(pid, info.tids[0]);
    expect(ts.pid).toBe(info.tids[0]);
    expect(ts.tgid).toBe(pid);
    expect(ts.sigBlk & (1n << 9n)).toBe(1n << 9n);
  });

  test('limits: RLIMIT_* order, unlimited', () => {
    const l = P.readLimits(pid);
    expect(l).toHaveLength(16);
    expect(l[7]).toMatchObject({ resource: 7, name: 'RLIMIT_NOFILE', cur: 777n, max: 888n, units: 'files' });
    expect(l[0]).toMatchObject({ name: 'RLIMIT_CPU', cur: P.RLIM_INFINITY, max: P.RLIM_INFINITY });
    expect(l[15].name).toBe('RLIMIT_RTTIME');
  });

  test('fdinfo and fd links', () => {
    const fds = P.listFds(pid);
    for (const k of ['ffd', 'efd', 'ep', 'sfd', 'tfd', 'ifd'] as const) expect(fds).toContain(info[k]);
    expect(P.readFdLink(pid, info.ffd)).toMatchObject({ kind: 'path', path: join(dir, 'data.bin'), deleted: false });
    const f = P.readFdinfo(pid, info.ffd);
    expect(f.pos).toBe(12345n);
    expect(f.flags & 3).toBe(2); // O_RDWR
    expect(f.ino).toBe(statSync(join(dir, 'data.bin')).ino);
    expect(P.readMountinfo(pid).some((m) => m.mntId === f.mntId)).toBe(true);

    expect(P.readFdLink(pid, info.efd)).toMatchObject({ kind: 'anon_inode', anonType: 'eventfd' });
    const e = P.readFdinfo(pid, info.efd);
    expect(e.eventfd!.count).toBe(7n);
    expect(e.eventfd!.semaphore ?? false).toBe(false);
    expect(e.flags & 0o4000).toBe(0o4000); // O_NONBLOCK

    expect(P.readFdLink(pid, info.ep).anonType).toBe('eventpoll');
    const ep = P.readFdinfo(pid, info.ep).epoll!;
    expect(ep.tfds).toHaveLength(1);
    expect(ep.tfds[0]).toMatchObject({
      tfd: info.efd,
      events: 0x80000019 /* EPOLLET|EPOLLIN, and the always-on EPOLLERR|EPOLLHUP */,
      data: 0x1122334455667788n,
      pos: 0n,
      ino: e.ino,
    });

    expect(P.readFdLink(pid, info.sfd).anonType).toBe('signalfd');
    const sf = P.readFdinfo(pid, info.sfd);
    expect(sf.signalfd!.sigmask).toBe((1n << 9n) | (1n << 14n));
    expect(sf.flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC

    expect(P.readFdLink(pid, info.tfd).anonType).toBe('timerfd');
    const tf = P.readFdinfo(pid, info.tfd).timerfd!;
    expect(tf.clockid).toBe(1);
    expect(tf.ticks).toBe(0n);
    expect(tf.settimeFlags).toBe(0);
    expect(tf.itInterval).toEqual({ sec: 5n, nsec: 0n });
    expect(tf.itValue.sec > 900n && tf.itValue.sec <= 1000n).toBe(true);

    expect(P.readFdLink(pid, info.ifd).anonType).toBe('inotify');
    const ino = P.readFdinfo(pid, info.ifd).inotify!;
    expect(ino.wds).toHaveLength(1);
    expect(ino.wds[0]).toMatchObject({ wd: info.wd, ino: statSync(dir).ino, mask: 0x100 | 0x200 });

    const pl = P.readFdLink(pid, info.pipe[0]);
    expect(pl.kind).toBe('pipe');
    expect(P.readFdLink(pid, info.pipe[1]).ino).toBe(pl.ino);
    expect(P.readFdinfo(pid, info.pipe[1]).ino).toBe(pl.ino);
    expect(P.readFdLink(pid, info.sk[0]).kind).toBe('socket');
  });

  test('mountinfo: a tmpfs with escaped names in its own mount namespace', async () => {
    const mp = join(dir, 'mnt a\\b');
    spawnSync('mkdir', ['-p', mp]);
    const u = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m,mode=0750 "src x" "$0" && echo ok && exec sleep 1000', mp],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((res, rej) => {
        u.stdout!.once('data', () => res());
        u.on('exit', (c) => rej(new Error(`unshare exited ${c}`)));
      });
      // `sh` exec'd sleep: same pid
      const ms = P.readMountinfo(u.pid!);
      const m = ms.find((x) => x.mountPoint === mp);
      expect(m).toBeDefined();
      expect(m).toMatchObject({ fstype: 'tmpfs', source: 'src x', root: '/', unbindable: false });
      expect(m!.options.split(',')).toContain('rw');
      expect(m!.superOptions).toContain('size=1024k');
      expect(m!.shared).toBeUndefined();
      expect(ms.some((x) => x.mntId === m!.parentId)).toBe(true);
      const raw = readFileSync(`/proc/${u.pid}/mountinfo`, 'utf8');
      expect(raw).toContain('mnt\\040a\\134b');
      // the host's namespace: at least the root is parsed, with its propagation
      const host = P.readMountinfo(process.pid);
      expect(host.find((x) => x.mountPoint === '/')).toBeDefined();
    } finally {
      u.kill('SIGKILL');
    }
  });

  test('tasks: threads, children of every thread, the tree', () => {
    expect(P.listTids(pid)).toEqual([pid, ...info.tids].sort((a, b) => a - b));
    expect(P.children(pid)).toEqual([info.child]);
    expect(P.children(pid, info.tids[0])).toEqual([info.tchild]);
    expect(P.processChildren(pid)).toEqual([info.child, info.tchild].sort((a, b) => a - b));
    const tree = P.collectTree(pid);
    expect(tree.root.pid).toBe(pid);
    expect(tree.root.tids).toHaveLength(4);
    expect(tree.root.children.map((c) => c.pid).sort()).toEqual([info.child, info.tchild].sort());
    const child = tree.all.find((n) => n.pid === info.child)!;
    expect(child.ppid).toBe(pid);
    expect(child.children).toHaveLength(1);
    expect(tree.all).toHaveLength(4);
    expect(P.readStat(child.children[0].pid).ppid).toBe(info.child);
  });

  test('timers: POSIX timers with signal and thread-id notify', () => {
    const ts = P.readTimers(pid).sort((a, b) => a.id - b.id);
    expect(ts).toHaveLength(2);
    const t1 = ts.find((t) => t.id === info.t1)!;
    expect(t1).toMatchObject({
      signo: info.sigrt1,
      sigval: 0xabcn,
      notify: 'signal',
      threadId: false,
      notifyPid: pid,
      sigevNotify: P.SIGEV_SIGNAL,
      clockId: 1,
    });
    const t2 = ts.find((t) => t.id === info.t2)!;
    expect(t2).toMatchObject({ signo: 12, notify: 'signal', threadId: true, notifyPid: info.tids[1], sigevNotify: P.SIGEV_THREAD_ID, clockId: 0 });
  });

  test('auxv', () => {
    const a = P.readAuxv(pid);
    expect(a.raw.length % 16).toBe(0);
    expect(P.auxValue(a, P.AT.PAGESZ)).toBe(4096n);
    const vdso = P.readMaps(pid).find((v) => v.kind === 'vdso')!;
    expect(P.auxValue(a, P.AT.SYSINFO_EHDR)).toBe(vdso.start);
    expect(P.auxValue(a, P.AT.UID)).toBe(0n);
  });

  test('map_files: link and open of a deleted and a memfd mapping', () => {
    const vmas = P.readMaps(pid);
    const d = vmaAt(vmas, addr(info.del));
    expect(P.readMapFileLink(pid, d.start, d.end)).toBe(d.name);
    const fd = P.openMapFile(pid, d.start, d.end);
    try {
      const b = Buffer.alloc(4);
      expect(readSync(fd, b, 0, 4, 0)).toBe(4);
      expect(b.toString()).toBe('zzzz');
    } finally {
      closeSync(fd);
    }
    const m = vmaAt(vmas, addr(info.mem));
    expect(P.readMapFileLink(pid, m.start, m.end)).toBe('/memfd:ptest (deleted)');
  });

  test('pagemap: private pages to dump, PAGEMAP_SCAN vs /proc/PID/pagemap', () => {
    expect(P.hasPagemapScan()).toBe(true);
    const vmas = P.readMaps(pid);
    const pm = new P.Pagemap(pid);
    const pm1 = new P.Pagemap(pid, { vecLen: 1 }); // every call fills its vec: the resume path
    try {
      const pg = (base: bigint, ...ns: number[]): [bigint, bigint][] => ns.map((n) => [base + BigInt(n) * PS, base + BigInt(n + 1) * PS]);
      const plain = (rs: P.PageRegion[]): [bigint, bigint][] => rs.map((r) => [r.start, r.end]);
      const anon = vmaAt(vmas, addr(info.anon));
      const a0 = addr(info.anon);
      // written pages 1, 5-6, and page 9 that was only read: the zero page is not worth dumping,
      // but this 6.18 VM gives a read fault a fresh anonymous page rather than the zero page
      const present = pm.scan(a0, a0 + 16n * PS, { anyofMask: P.PAGE_IS_PRESENT, returnMask: P.PAGE_IS_PRESENT | P.PAGE_IS_PFNZERO });
      expect(plain(present)).toEqual([...pg(a0, 1), [a0 + 5n * PS, a0 + 7n * PS], ...pg(a0, 9)]);
      const zero = (present[2].categories & P.PAGE_IS_PFNZERO) !== 0;
      expect(plain(P.privatePagesToDump(pm, anon, a0, a0 + 16n * PS))).toEqual([...pg(a0, 1), [a0 + 5n * PS, a0 + 7n * PS], ...(zero ? [] : pg(a0, 9))]);
      // private file mapping: only the written page
      const f = vmaAt(vmas, addr(info.fmap));
      expect(plain(P.privatePagesToDump(pm, f))).toEqual(pg(f.start, 2));
      // shared memory: resident pages, which are file (shmem) pages
      const mem = vmaAt(vmas, addr(info.mem));
      const mr = pm.scan(mem.start, mem.end, { ...P.SHARED_RESIDENT_QUERY, returnMask: P.PAGE_IS_PRESENT | P.PAGE_IS_FILE });
      expect(mr).toEqual([{ start: mem.start + PS, end: mem.start + 2n * PS, categories: P.PAGE_IS_PRESENT | P.PAGE_IS_FILE }]);
      const shm = vmaAt(vmas, addr(info.shm));
      expect(plain(pm.scan(shm.start, shm.end, P.SHARED_RESIDENT_QUERY))).toEqual(pg(shm.start, 0));

      // the two paths agree on every VMA for several queries, and a 1-slot vec agrees too
      const queries: P.ScanQuery[] = [
        P.privateDumpQuery(true),
        P.privateDumpQuery(false),
        P.SHARED_RESIDENT_QUERY,
        { anyofMask: P.PAGE_IS_PRESENT | P.PAGE_IS_SWAPPED, returnMask: P.PAGE_IS_PRESENT | P.PAGE_IS_SWAPPED | P.PAGE_IS_FILE | P.PAGE_IS_PFNZERO },
        { categoryMask: P.PAGE_IS_PRESENT, categoryInverted: P.PAGE_IS_PRESENT, returnMask: P.PAGE_IS_PRESENT },
      ];
      let compared = 0;
      for (const v of vmas) {
        if (v.kind === 'vsyscall' || v.kind === 'vvar' || v.kind === 'vvar_vclock') continue;
        for (const q of queries) {
          const a = pm.scanIoctl(v.start, v.end, q);
          expect(pm.scanEntries(v.start, v.end, q), `${v.name} ${JSON.stringify(q)}`).toEqual(a);
          expect(pm1.scanIoctl(v.start, v.end, q)).toEqual(a);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(50);
      // whole address space at once (spanning gaps and [vvar]) also agrees
      const lo = vmas[0].start,
        hi = vmas.filter((v) => v.kind !== 'vsyscall').at(-1)!.end;
      const q = P.privateDumpQuery(false);
      expect(pm.scanEntries(lo, hi, q)).toEqual(pm.scanIoctl(lo, hi, q));
      // maxPages stops early
      const two = pm1.scanIoctl(lo, hi, { ...q, maxPages: 2 });
      expect(P.regionBytes(two)).toBeGreaterThanOrEqual(2n * PS);
    } finally {
      pm.close();
      pm1.close();
    }
  });

  test('a vanished task: clear error', async () => {
    const p = spawn('true');
    await new Promise((r) => p.on('exit', r));
    const dead = p.pid!;
    for (let i = 0; i < 100 && spawnSync('test', ['-e', `/proc/${dead}`]).status === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(() => P.readStat(dead)).toThrow(`task ${dead}: gone (no /proc/${dead})`);
    expect(() => P.readMaps(dead)).toThrow(P.ProcGoneError);
    expect(() => P.listFds(dead)).toThrow(/gone/);
    expect(() => new P.Pagemap(dead)).toThrow(/gone/);
    expect(() => P.readStat(pid, 999999999)).toThrow(`task 999999999: gone (no /proc/${pid}/task/999999999)`);
  });
});

test.describe('strings', () => {
  test('stat: comm with spaces and parens is taken up to the last ")"', () => {
    const tail =
      'S 1 2 3 0 -1 4194560 10 0 0 0 1 2 0 0 20 0 1 0 100 1000 50 18446744073709551615 4194304 4200000 140737488347136 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 4300000 4400000 4500000 140737488348000 140737488348010 140737488348010 140737488348100 0';
    const s = P.parseStat(`42 (a) (b c)) ) ${tail}\n`);
    expect(s.pid).toBe(42);
    expect(s.comm).toBe('a) (b c)) ');
    expect(s.state).toBe('S');
    expect(s.ppid).toBe(1);
    expect(s.tpgid).toBe(-1);
    expect(s.rsslim).toBe(P.RLIM_INFINITY);
    expect(s.start_code).toBe(4194304n);
    expect(s.exit_signal).toBe(17);
    expect(s.start_data).toBe(4300000n);
    expect(s.env_end).toBe(140737488348100n);
    expect(s.exit_code).toBe(0);
    expect(() => P.parseStat('42 (x) S 1 2 nope', '/proc/42/stat')).toThrow(/\/proc\/42\/stat:1: /);
  });

  test('maps: every kind of path', () => {
    const L = (tail: string, perms = 'rw-p', off = '00000000', dev = '00:00', ino = '0'): string =>
      `7f0000000000-7f0000002000 ${perms} ${off} ${dev} ${ino}${tail === '' ? '' : '                      ' + tail}`;
    const vs = P.parseMaps(
      [
        L(''),
        L('[anon:foo bar]'),
        L('[anon_shmem:shm]', 'rw-s'),
        L('/memfd:x y (deleted)', 'rw-s', '00001000', '00:01', '1025'),
        L('/dev/zero (deleted)', 'rw-s', '00000000', '00:01', '7'),
        L('/SYSV0000002a (deleted)', 'rw-s', '00000000', '00:01', '8'),
        L('/tmp/a b (deleted)', 'r--p', '00003000', 'fe:01', '1234'),
        L('/usr/lib/x86_64-linux-gnu/libc.so.6', 'r-xp', '00028000', 'fe:00', '260131'),
        L('[heap]'),
        L('[stack]'),
        L('[vvar]', 'r--p'),
        L('[vvar_vclock]', 'r--p'),
        L('[vdso]', 'r-xp'),
        L('[uprobes]', 'r-xp'),
        'ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]',
      ].join('\n') + '\n',
    );
    expect(vs.map((v) => v.kind)).toEqual([
      'anon',
      'anon_named',
      'shmem',
      'memfd',
      'shmem',
      'sysv',
      'deleted',
      'file',
      'heap',
      'stack',
      'vvar',
      'vvar_vclock',
      'vdso',
      'special',
      'vsyscall',
    ]);
    expect(vs[1].label).toBe('foo bar');
    expect(vs[2].label).toBe('shm');
    expect(vs[3]).toMatchObject({ label: 'x y', path: '/memfd:x y', deleted: true, offset: 0x1000n, minor: 1, inode: 1025, shared: true });
    expect(vs[5].sysvKey).toBe(0x2a);
    expect(vs[6]).toMatchObject({ path: '/tmp/a b', deleted: true, major: 0xfe, minor: 1, offset: 0x3000n, prot: P.PROT_READ, shared: false });
    expect(vs[7].prot).toBe(P.PROT_READ | P.PROT_EXEC);
    expect(vs[14]).toMatchObject({ start: 0xffffffffff600000n, end: 0xffffffffff601000n, prot: P.PROT_EXEC });
    // /dev/zero mapped privately is just a deleted file
    expect(P.parseMaps(L('/dev/zero (deleted)', 'rw-p'))[0].kind).toBe('deleted');
    expect(() => P.parseMaps('7f00-7f01 rw-p 0 00:00 0\ngarbage\n', '/proc/1/maps')).toThrow(/^\/proc\/1\/maps:2: not a VMA line/);
  });

  test('smaps text', () => {
    const vs = P.parseSmaps(`00400000-00401000 r-xp 00000000 fe:00 12 /bin/x
Size:                  4 kB
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  8 kB
THPeligible:           0
ProtectionKey:         0
VmFlags: rd ex mr mw me dw sd 
7f0000000000-7f0000001000 rw-p 00000000 00:00 0 
Size:                  4 kB
Anonymous:             4 kB
VmFlags: rd wr mr mw me ac 
`);
    expect(vs).toHaveLength(2);
    expect(vs[0]).toMatchObject({ size: 4, rss: 4, swap: 8, anonymous: 0, path: '/bin/x', vmFlags: ['rd', 'ex', 'mr', 'mw', 'me', 'dw', 'sd'] });
    expect(vs[0].kb.THPeligible).toBe(0);
    expect(vs[1]).toMatchObject({ kind: 'anon', anonymous: 4, vmFlags: ['rd', 'wr', 'mr', 'mw', 'me', 'ac'] });
    expect(() => P.parseSmaps('Size: 4 kB\n', 'smaps')).toThrow(/smaps:1: field before the first VMA/);
  });

  test('mountinfo: escapes and optional fields', () => {
    const ms = P.parseMountinfo(
      [
        '36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue',
        '37 36 0:45 / /a\\011b\\012c\\134d rw shared:5 master:2 propagate_from:3 - fuse.sshfs user@h:/x\\040y rw,user_id=0',
        '38 36 0:46 / /u rw unbindable - tmpfs none rw',
        '39 1 0:47 /sub\\040dir / ro - overlay overlay rw,lowerdir=/l,upperdir=/u',
      ].join('\n'),
    );
    expect(ms[0]).toMatchObject({
      mntId: 36,
      parentId: 35,
      major: 98,
      minor: 0,
      root: '/mnt1',
      mountPoint: '/mnt/parent dir',
      options: 'rw,noatime',
      master: 1,
      fstype: 'ext3',
      source: '/dev/root',
      superOptions: 'rw,errors=continue',
    });
    expect(ms[0].shared).toBeUndefined();
    expect(ms[1]).toMatchObject({
      mountPoint: '/a\tb\nc\\d',
      shared: 5,
      master: 2,
      propagateFrom: 3,
      fstype: 'fuse.sshfs',
      source: 'user@h:/x y',
      optional: ['shared:5', 'master:2', 'propagate_from:3'],
    });
    expect(ms[2].unbindable).toBe(true);
    expect(ms[3]).toMatchObject({ root: '/sub dir', mountPoint: '/', optional: [] });
    expect(() => P.parseMountinfo('1 2 3\n', '/proc/1/mountinfo')).toThrow(/\/proc\/1\/mountinfo:1: not a mountinfo line/);
  });

  test('fdinfo: every type', () => {
    const ep = P.parseFdinfo(`pos:\t0
flags:\t02000002
mnt_id:\t15
ino:\t1057
tfd:        5 events:       19 data:         deadbeef  pos:0 ino:41c sdev:f
tfd:      100 events: 80000001 data: ffffffffffffffff  pos:12 ino:2 sdev:800001
`);
    expect(ep).toMatchObject({ pos: 0n, flags: 0o2000002, mntId: 15, ino: 1057 });
    expect(ep.epoll!.tfds).toEqual([
      { tfd: 5, events: 0x19, data: 0xdeadbeefn, pos: 0n, ino: 0x41c, sdev: 0xf },
      { tfd: 100, events: 0x80000001, data: 0xffffffffffffffffn, pos: 12n, ino: 2, sdev: 0x800001 },
    ]);
    const ev = P.parseFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\neventfd-count:                5\neventfd-id: 3\neventfd-semaphore: 1\n');
    expect(ev.eventfd).toEqual({ count: 5n, id: 3, semaphore: true });
    const sf = P.parseFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\nsigmask:\t0000000000004200\n');
    expect(sf.signalfd!.sigmask).toBe(0x4200n);
    const tf = P.parseFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1\nclockid: 0\nticks: 3\nsettime flags: 01\nit_value: (10, 500)\nit_interval: (1, 0)\n');
    expect(tf.timerfd).toEqual({ clockid: 0, ticks: 3n, settimeFlags: 1, itValue: { sec: 10n, nsec: 500n }, itInterval: { sec: 1n, nsec: 0n } });
    const ino = P.parseFdinfo(
      'pos:\t0\nflags:\t00\nmnt_id:\t15\nino:\t1\ninotify wd:1 ino:1a sdev:800001 mask:300 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1a00000012345678\n',
    );
    expect(ino.inotify!.wds[0]).toMatchObject({ wd: 1, ino: 0x1a, sdev: 0x800001, mask: 0x300, ignoredMask: 0, fhandleBytes: 8, fhandleType: 1 });
    expect(ino.inotify!.wds[0].fhandle!.toString('hex')).toBe('1a00000012345678');
    const fa = P.parseFdinfo(`pos:\t0
flags:\t02
mnt_id:\t15
ino:\t1
fanotify flags:10 event-flags:2
fanotify ino:1a sdev:800001 mflags:0 mask:1 ignored_mask:0 fhandle-bytes:8 fhandle-type:1 f_handle:1a00000000000000
fanotify mnt_id:21 mflags:0 mask:2 ignored_mask:0
fanotify sdev:800001 mflags:0 mask:4 ignored_mask:0
`);
    expect(fa.fanotify!.flags).toBe(0x10);
    expect(fa.fanotify!.eventFlags).toBe(2);
    expect(fa.fanotify!.marks.map((m) => [m.kind, m.mask])).toEqual([
      ['inode', 1],
      ['mount', 2],
      ['sb', 4],
    ]);
    expect(fa.fanotify!.marks[1].mntId).toBe(0x21);
    const lk = P.parseFdinfo('pos:\t5\nflags:\t0100002\nmnt_id:\t20\nino:\t99\nlock:\t1: POSIX  ADVISORY  WRITE 123 fe:00:99 0 EOF\n');
    expect(lk.locks).toEqual(['1: POSIX  ADVISORY  WRITE 123 fe:00:99 0 EOF']);
    const pf = P.parseFdinfo('pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1\nPid:\t77\nNSpid:\t77\t1\n');
    expect(pf.pidfd).toEqual({ pid: 77, nspid: [77, 1] });
    expect(P.parseFdinfo('pos:\t0\nflags:\t02\nmnt_id:\t1\nino:\t1\nmap_type:\t2\n').other).toEqual({ map_type: '2' });
    expect(() => P.parseFdinfo('pos:\t0\nflags:\t02\ntfd: x\n', '/proc/9/fdinfo/3')).toThrow(/\/proc\/9\/fdinfo\/3:3: bad epoll tfd line/);
  });

  test('fd links', () => {
    expect(P.parseFdLink('pipe:[123]')).toMatchObject({ kind: 'pipe', ino: 123 });
    expect(P.parseFdLink('socket:[456]')).toMatchObject({ kind: 'socket', ino: 456 });
    expect(P.parseFdLink('net:[4026531840]')).toMatchObject({ kind: 'ns', nsType: 'net', ino: 4026531840 });
    expect(P.parseFdLink('anon_inode:[eventfd]')).toMatchObject({ kind: 'anon_inode', anonType: 'eventfd' });
    expect(P.parseFdLink('anon_inode:inotify')).toMatchObject({ kind: 'anon_inode', anonType: 'inotify' });
    expect(P.parseFdLink('/tmp/x y (deleted)')).toMatchObject({ kind: 'path', path: '/tmp/x y', deleted: true });
    expect(P.parseFdLink('/memfd:m (deleted)')).toMatchObject({ kind: 'path', path: '/memfd:m', deleted: true });
    expect(P.parseFdLink('/dev/pts/0')).toMatchObject({ kind: 'path', path: '/dev/pts/0', deleted: false });
  });

  test('status text', () => {
    const s = P.parseStatus(
      'Name:\ta\\nb\\\\c\nUmask:\t0077\nState:\tt (tracing stop)\nTgid:\t10\nNgid:\t0\nPid:\t11\nPPid:\t1\nTracerPid:\t5\n' +
        'Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nFDSize:\t64\nGroups:\t4 27 \nNStgid:\t10\t1\nNSpid:\t11\t2\nNSpgid:\t10\t1\nNSsid:\t10\t1\n' +
        'VmRSS:\t    1000 kB\nThreads:\t2\nSigQ:\t3/1000\nSigPnd:\t0000000000000100\nShdPnd:\t0000000000000000\nSigBlk:\t8000000000000000\n' +
        'SigIgn:\t0000000000001000\nSigCgt:\t0000000180000000\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n' +
        'CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000001\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\nCpus_allowed:\tf\nCpus_allowed_list:\t0-2,5\n' +
        'voluntary_ctxt_switches:\t9\nnonvoluntary_ctxt_switches:\t1\n',
    );
    expect(s).toMatchObject({
      name: 'a\nb\\c',
      umask: 0o77,
      state: 't',
      stateName: 'tracing stop',
      tgid: 10,
      pid: 11,
      tracerPid: 5,
      uid: [1, 2, 3, 4],
      gid: [5, 6, 7, 8],
      groups: [4, 27],
      nstgid: [10, 1],
      nspid: [11, 2],
      threads: 2,
      sigQ: { queued: 3, limit: 1000 },
      sigPnd: 0x100n,
      sigBlk: 0x8000000000000000n,
      sigCgt: 0x180000000n,
      capPrm: 0x1ffffffffffn,
      capAmb: 1n,
      noNewPrivs: 1,
      seccomp: 2,
      seccompFilters: 3,
      cpusAllowed: [0, 1, 2, 5],
      voluntaryCtxtSwitches: 9,
    });
    expect(s.kb.VmRSS).toBe(1000);
    expect(() => P.parseStatus('Name:\tx\nPid:\tzz\n', '/proc/3/status')).toThrow(/^\/proc\/3\/status:2: bad Pid/);
  });

  test('limits text', () => {
    const t = readFileSync('/proc/self/limits', 'utf8').replace(
      'Max open files            20000                20000',
      'Max open files            unlimited            unlimited',
    );
    const l = P.parseLimits(t);
    expect(l.map((r) => r.name)).toEqual([...P.RLIMIT_NAMES]);
    expect(l[15].units).toBe('us');
    expect(() => P.parseLimits('Limit  Soft Limit  Hard Limit  Units\nMax bogus   1 2 x\n', '/proc/1/limits')).toThrow(/\/proc\/1\/limits:2: unknown limit/);
  });

  test('timers text', () => {
    const ts = P.parseTimers(
      'ID: 0\nsignal: 14/0000000000000000\nnotify: signal/pid.100\nClockID: 1\nID: 3\nsignal: 34/00000000deadbeef\nnotify: thread/tid.101\nClockID: 0\nID: 4\nsignal: 0/0000000000000000\nnotify: none/pid.100\nClockID: 7\n',
    );
    expect(ts.map((t) => [t.id, t.signo, t.sigval, t.notify, t.threadId, t.notifyPid, t.sigevNotify, t.clockId])).toEqual([
      [0, 14, 0n, 'signal', false, 100, 0, 1],
      [3, 34, 0xdeadbeefn, 'thread', true, 101, 6, 0],
      [4, 0, 0n, 'none', false, 100, 1, 7],
    ]);
    expect(() => P.parseTimers('ID: 1\nnotify: what\n', 'timers')).toThrow(/timers:2: bad notify/);
  });

  test('auxv buffer', () => {
    const b = Buffer.alloc(16 * 4);
    b.writeBigUInt64LE(6n, 0);
    b.writeBigUInt64LE(4096n, 8);
    b.writeBigUInt64LE(33n, 16);
    b.writeBigUInt64LE(0x7ffff7fc1000n, 24);
    const a = P.parseAuxv(b);
    expect(a.entries).toEqual([
      { type: 6n, value: 4096n },
      { type: 33n, value: 0x7ffff7fc1000n },
    ]);
    expect(a.raw).toBe(b);
  });

  test('cpu lists', () => {
    expect(P.parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(P.parseCpuList('')).toEqual([]);
  });

  test('cpu masks as 64-bit words, and back', () => {
    expect(P.cpuListToWords([0, 1, 2, 3, 8])).toEqual([0x10fn]);
    expect(P.cpuListToWords([1, 64, 130])).toEqual([2n, 1n, 4n]);
    expect(P.cpuListToWords([])).toEqual([]);
    expect(P.cpuWordsToList([0x10fn])).toEqual([0, 1, 2, 3, 8]);
    expect(P.cpuWordsToList(['2', 1, 4n])).toEqual([1, 64, 130]);
    expect(P.cpuWordsToList([1n << 63n])).toEqual([63]);
    expect(P.formatCpuList([0, 1, 2, 3, 8, 10, 11])).toBe('0-3,8,10-11');
    expect(P.formatCpuList([5])).toBe('5');
    const online = P.onlineCpus();
    expect(online.length).toBeGreaterThan(0);
    expect(P.formatCpuList(online)).toBe(readFileSync('/sys/devices/system/cpu/online', 'utf8').trim());
  });
});

test.describe('pagemap (pure)', () => {
  const R = (s: number, e: number, c = P.PAGE_IS_PRESENT): P.PageRegion => ({ start: BigInt(s) * PS, end: BigInt(e) * PS, categories: c });

  test('PAGEMAP_SCAN ioctl number and layouts', () => {
    expect(P.PAGEMAP_SCAN).toBe(0xc0606610);
    expect(P.PM_SCAN_ARG_SIZE).toBe(96);
    expect(P.PAGE_REGION_SIZE).toBe(24);
  });

  test('mergeRegions: sort, clip, merge adjacent, absorb duplicates', () => {
    expect(P.mergeRegions([R(5, 6), R(0, 2), R(2, 3), R(1, 2), R(8, 9, P.PAGE_IS_SWAPPED), R(9, 10)], PS, 10n * PS)).toEqual([
      R(1, 3),
      R(5, 6),
      R(8, 9, P.PAGE_IS_SWAPPED),
      R(9, 10),
    ]);
    expect(P.mergeRegions([R(0, 4), R(2, 6, P.PAGE_IS_SWAPPED)])).toEqual([R(0, 4), R(4, 6, P.PAGE_IS_SWAPPED)]);
    expect(P.mergeRegions([R(0, 4), R(4, 6, P.PAGE_IS_SWAPPED), R(7, 8)], undefined, undefined, true)).toEqual([
      R(0, 6, P.PAGE_IS_PRESENT | P.PAGE_IS_SWAPPED),
      R(7, 8),
    ]);
    expect(P.mergeRegions([R(0, 1)], 2n * PS, 3n * PS)).toEqual([]);
  });

  test('pageMatches: mask, inverted, anyof', () => {
    const q = P.privateDumpQuery(true);
    expect(P.pageMatches(P.PAGE_IS_PRESENT, q)).toBe(true);
    expect(P.pageMatches(P.PAGE_IS_SWAPPED, q)).toBe(true);
    expect(P.pageMatches(P.PAGE_IS_PRESENT | P.PAGE_IS_FILE, q)).toBe(false);
    expect(P.pageMatches(P.PAGE_IS_PRESENT | P.PAGE_IS_PFNZERO, q)).toBe(false);
    expect(P.pageMatches(0, q)).toBe(false);
    expect(P.pageMatches(P.PAGE_IS_PRESENT | P.PAGE_IS_FILE, P.privateDumpQuery(false))).toBe(true);
  });

  test('resume rule: next = max(walk_end, end of the last region)', () => {
    expect(P.nextScanStart(10n * PS, [R(0, 1)], 0n)).toBe(10n * PS);
    expect(P.nextScanStart(4n * PS, [R(2, 6)], 0n)).toBe(6n * PS);
    expect(P.nextScanStart(0n, [], 3n)).toBe(3n);
  });

  // A fake kernel over a page list: fills at most `vecLen` regions per call and reports a
  // walk_end. `lag` models 6.18: walk_end may point back at the start of the last region
  // ('last') or at the start of the call ('call'), so resuming from walk_end alone would get
  // the last batch again (and with 'call', forever).
  function fakeKernel(pages: Set<number>, vecLen: number, lag: 'none' | 'last' | 'call' = 'none') {
    let calls = 0;
    const seen: bigint[] = [];
    const call: P.ScanCall = (start, end) => {
      calls++;
      seen.push(start);
      const regions: P.PageRegion[] = [];
      let pg = Number(start / PS);
      const last = Number(end / PS);
      for (; pg < last; pg++) {
        if (!pages.has(pg)) continue;
        const r = regions[regions.length - 1];
        if (r && r.end === BigInt(pg) * PS) {
          r.end += PS;
          continue;
        }
        if (regions.length === vecLen) break;
        regions.push(R(pg, pg + 1));
      }
      let walkEnd = BigInt(pg) * PS;
      if (regions.length && lag === 'last') walkEnd = regions[regions.length - 1].start;
      if (regions.length && lag === 'call') walkEnd = start;
      return { regions, walkEnd };
    };
    return { call, calls: () => calls, starts: () => seen };
  }

  test('scanLoop: a full vec resumes; a walk_end behind the last region never repeats a batch', () => {
    const pages = new Set([0, 1, 2, 5, 9, 10, 11, 12, 20, 33, 34, 40]);
    const want = [R(0, 3), R(5, 6), R(9, 13), R(20, 21), R(33, 35), R(40, 41)];
    for (const vecLen of [1, 2, 3, 100]) {
      for (const lag of ['none', 'last', 'call'] as const) {
        const k = fakeKernel(pages, vecLen, lag);
        expect(P.scanLoop(0n, 64n * PS, k.call), `vec ${vecLen} lag ${lag}`).toEqual(want);
        const st = k.starts();
        for (let i = 1; i < st.length; i++) expect(st[i] > st[i - 1]).toBe(true);
        expect(k.calls()).toBeLessThanOrEqual(Math.ceil(want.length / vecLen) + 1);
      }
    }
    const k = fakeKernel(pages, 100);
    P.scanLoop(0n, 64n * PS, k.call);
    expect(k.calls()).toBe(1);
    expect(P.scanLoop(3n * PS, 11n * PS, fakeKernel(pages, 1, 'last').call)).toEqual([R(5, 6), R(9, 11)]);
    // a batch handed back twice (same regions in the accumulated list) merges away
    expect(P.mergeRegions([R(0, 3), R(5, 6), R(5, 6), R(9, 13), R(9, 13)])).toEqual([R(0, 3), R(5, 6), R(9, 13)]);
  });

  test('scanLoop: no progress is an error, not a hang', () => {
    expect(() => P.scanLoop(0n, 8n * PS, () => ({ regions: [], walkEnd: 0n }))).toThrow(/no progress/);
  });
});
