// Objects no fd kind handles right yet are refused by name before anything is written, and the
// tree runs on: a file lock without --file-locks (CRIU's refusal, with its message) and a
// pty slave whose master is outside the tree (CRIU's refusal; -j takes it as a shell job's
// terminal). A plain file, /dev/null and a pty pair of the task's own are dumped.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { criu, tmpdir, alive } from './lib.js';
import { pyHolder, refusedDump } from './refuse-lib.js';
import { ptyLock, type Held } from '../../zdtm/runner/lock.js';

// ptys are numbered machine-wide: none is made while a zdtm pty test has its index free (lock.ts)
let ptyHeld: Held | undefined;
test.beforeEach(async () => {
  ptyHeld = await ptyLock(`unit-${path.basename(test.info().file)}-${test.info().title}`);
  test.info().setTimeout(test.info().timeout + ptyHeld.waitedMs);
});
test.afterEach(() => ptyHeld?.release());

const pty = createRequire(import.meta.url)('node-pty') as typeof import('node-pty');

const kids: ChildProcess[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
});

const holder = (dir: string, setup: string): Promise<number> => pyHolder(dir, setup, kids);
const refused = refusedDump;

test("without --file-locks a held flock() is refused by task, fd and lock, with CRIU's message; the task runs on", async () => {
  const dir = tmpdir('refuse-flock');
  const lockf = path.join(dir, 'lockfile');
  const pid = await holder(dir, `f = open(${JSON.stringify(lockf)}, 'w')\nfcntl.flock(f, fcntl.LOCK_EX)`);
  const err = refused(dir, pid);
  expect(err).toMatch(new RegExp(`criu: task ${pid}: fd \\d+ \\(${lockf.replace(/[/.]/g, '\\$&')}\\) holds a file lock \\(.*FLOCK.*WRITE`));
  expect(err).toContain('Some file locks are hold by dumping tasks! You can try --file-locks to dump them.');
  expect(err).not.toContain('not supported yet');
  // the lock is still held by the task: a second exclusive flock fails at once
  const probe = spawn('flock', ['-n', lockf, 'true']);
  const code = await new Promise<number | null>((r) => probe.on('exit', r));
  expect(code).not.toBe(0);
});

test('a POSIX record lock is refused the same way', async () => {
  const dir = tmpdir('refuse-posix-lock');
  const lockf = path.join(dir, 'lockfile');
  const pid = await holder(dir, `f = open(${JSON.stringify(lockf)}, 'w')\nfcntl.lockf(f, fcntl.LOCK_EX)`);
  expect(refused(dir, pid)).toMatch(/holds a file lock \(.*POSIX/);
});

test("a pty slave whose master is outside the tree is refused with CRIU's message (-j takes one)", async () => {
  const dir = tmpdir('refuse-pty');
  // a terminal of the test's own: its master stays here, the holder opens its slave
  const term = pty.spawn('/bin/sleep', ['600'], {});
  try {
    let slave = '';
    for (let i = 0; i < 500 && !slave.startsWith('/dev/pts/'); i++) {
      slave = fs.readlinkSync(`/proc/${term.pid}/fd/0`); // node-pty's child gets its pts a moment after the spawn
      if (!slave.startsWith('/dev/pts/')) await new Promise((r) => setTimeout(r, 10));
    }
    const index = Number(path.basename(slave));
    // (node-pty leaves its master fds inheritable: the holder closes what it did not open)
    const pid = await holder(dir, `os.closerange(3, 4096)\nt = os.open(${JSON.stringify(slave)}, os.O_RDWR | os.O_NOCTTY)`);
    const err = refused(dir, pid);
    expect(err).toContain(`Found slave peer index ${index} without correspond master peer`);
    expect(err).toContain('--shell-job');
  } finally {
    term.kill('SIGKILL');
  }
});

test('a pty pair of its own is dumped (both ends in the tree)', async () => {
  const dir = tmpdir('refuse-pty-pair');
  const pid = await holder(dir, 'm, s = os.openpty()');
  const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-o', 'dump.log', '-R']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(alive(pid)).toBe(true);
  expect(fs.existsSync(path.join(dir, 'img', 'tty-info.img'))).toBe(true);
});

test('the same program holding a plain file and /dev/null is dumped', async () => {
  const dir = tmpdir('refuse-none');
  const pid = await holder(dir, `f = open(${JSON.stringify(path.join(dir, 'plain'))}, 'w')\nn = open('/dev/null')`);
  const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-o', 'dump.log', '-R']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(alive(pid)).toBe(true);
});

// objects of the kernel that no fd kind handles: refused naming the program, the fd and the object
const USE_LIBC = 'import ctypes, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n';
for (const [what, setup, link, object] of [
  ['io_uring', `${USE_LIBC}p = ctypes.create_string_buffer(120)\nfd = libc.syscall(425, 4, p)\nassert fd >= 0`, 'anon_inode:\\[io_uring\\]', 'io_uring'],
  ['userfaultfd', `${USE_LIBC}fd = libc.syscall(323, 0o2000000)\nassert fd >= 0`, 'anon_inode:\\[userfaultfd\\]', 'userfaultfd'],
  [
    'a userfaultfd of the userfaultfd device',
    `${USE_LIBC}d = os.open('/dev/userfaultfd', os.O_RDWR)\nfd = fcntl.ioctl(d, 0xaa00, os.O_CLOEXEC)\nassert fd >= 0\nos.close(d)`,
    'anon_inode:\\[userfaultfd\\]',
    'userfaultfd',
  ],
  [
    'a bpf map',
    `${USE_LIBC}a = ctypes.create_string_buffer(struct.pack('IIII', 2, 4, 4, 1) + bytes(112))\nfd = libc.syscall(321, 0, a, 128)\nassert fd >= 0`,
    'anon_inode:bpf-map',
    'bpf map',
  ],
  [
    'a bpf program',
    `${USE_LIBC}insns = ctypes.create_string_buffer(bytes.fromhex('b7000000000000009500000000000000'))\nlic = ctypes.create_string_buffer(b'GPL')\na = ctypes.create_string_buffer(struct.pack('IIQQ', 1, 2, ctypes.addressof(insns), ctypes.addressof(lic)) + bytes(120))\nfd = libc.syscall(321, 5, a, 144)\nassert fd >= 0`,
    'anon_inode:bpf-prog',
    'bpf program',
  ],
] as const) {
  test(`${what} is refused by program, fd and object kind; the task runs on`, async () => {
    const dir = tmpdir(`refuse-${what.replace(/ /g, '-')}`);
    const pid = await holder(dir, setup);
    const err = refused(dir, pid);
    expect(err).toMatch(new RegExp(`not supported yet: task ${pid} \\(python3\\): fd \\d+ \\(${link}\\): ${object}`));
  });
}

test('a pidfd of a task outside the dumped tree is refused by name; the task runs on', async () => {
  const dir = tmpdir('refuse-pidfd');
  const pid = await holder(dir, 'p = os.pidfd_open(os.getppid())');
  const err = refused(dir, pid);
  expect(err).toMatch(
    new RegExp(
      `not supported yet: task ${pid} \\(python3\\): fd \\d+ \\(anon_inode:\\[pidfd\\]\\): a pidfd of task ${process.pid}, which is not in the dumped tree`,
    ),
  );
});

// mappings no code restores (x86_64 syscall numbers): refused naming the VMA and what it is
for (const [what, setup, message] of [
  [
    'an aio ring whose header was overwritten',
    `${USE_LIBC}ctx = ctypes.c_ulong(0)\nassert libc.syscall(206, 8, ctypes.byref(ctx)) == 0\nctypes.memset(ctx.value + 16, 0, 4)`,
    ": an aio ring whose header is not the kernel's \\(magic 0,",
  ],
  [
    'a mapped io_uring ring',
    `${USE_LIBC}import mmap\np = ctypes.create_string_buffer(120)\nfd = libc.syscall(425, 4, p)\nassert fd >= 0\nm = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)\nos.close(fd)`,
    ': a mapping of anon_inode:\\[io_uring\\]',
  ],
  [
    'a mapped bpf map (BPF_F_MMAPABLE)',
    `${USE_LIBC}import mmap\na = ctypes.create_string_buffer(struct.pack('IIIII', 2, 4, 4096, 1, 1 << 10) + bytes(108))\nfd = libc.syscall(321, 0, a, 128)\nassert fd >= 0\nm = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)\nos.close(fd)`,
    ': a mapping of anon_inode:bpf-map',
  ],
] as const) {
  test(`${what} is refused by VMA; the task runs on`, async () => {
    const dir = tmpdir(`refuse-${what.replace(/ /g, '-')}`);
    const pid = await holder(dir, setup);
    expect(refused(dir, pid)).toMatch(new RegExp(`not supported yet: task ${pid}: VMA [0-9a-f]+-[0-9a-f]+ .*${message}`));
  });
}

test('an aio ring a child inherited across fork is refused naming both tasks; the tree runs on', async () => {
  const dir = tmpdir('refuse-aio-inherited');
  const setup = `${USE_LIBC}ctx = ctypes.c_ulong(0)\nassert libc.syscall(206, 8, ctypes.byref(ctx)) == 0\nk = os.fork()\nif k == 0:\n    libc.prctl(1, 9)\n    time.sleep(3600)\n    os._exit(0)`;
  const pid = await holder(dir, setup);
  expect(refused(dir, pid)).toMatch(
    new RegExp(`not supported yet: task \\d+: VMA [0-9a-f]+-[0-9a-f]+: an aio ring that task ${pid} maps too \\(inherited across fork\\)`),
  );
});

test('a /proc file of a thread that has exited, of a task that runs on, is refused by name (CRIU has no helper for it)', async () => {
  const dir = tmpdir('refuse-dead-thread-proc');
  // the thread opens its own /proc/PID/task/TID/status and exits; the process keeps the fd
  const setup =
    'import threading\nf = None\ndef run():\n    global f\n    f = os.open("/proc/self/task/%d/status" % threading.get_native_id(), os.O_RDONLY)\nth = threading.Thread(target=run)\nth.start()\nth.join()';
  const pid = await holder(dir, setup);
  expect(refused(dir, pid)).toMatch(
    new RegExp(
      `not supported yet: task ${pid} \\(python3\\): fd \\d+ \\(/proc/${pid}/task/(\\d+)/status\\): a /proc file of thread \\1 of task ${pid}, which has exited`,
    ),
  );
});

test('a fanotify filesystem mark (FAN_MARK_FILESYSTEM) is refused by name: CRIU has inode and mount marks only', async () => {
  const dir = tmpdir('refuse-fanotify-sb');
  const setup = `${USE_LIBC}g = libc.syscall(300, 0, os.O_RDONLY)\nassert g >= 0\nassert libc.syscall(301, g, 0x1 | 0x100, ctypes.c_ulonglong(0x8), -100, b${JSON.stringify(dir)}) == 0`;
  const pid = await holder(dir, setup);
  expect(refused(dir, pid)).toMatch(new RegExp(`not supported yet: task ${pid} fd \\d+ \\(fanotify\\): a filesystem mark \\(FAN_MARK_FILESYSTEM\\)`));
});

test('a writable shared mapping of a memfd sealed with F_SEAL_FUTURE_WRITE after it was mapped is refused by name', async () => {
  const dir = tmpdir('refuse-future-write');
  const setup = `import mmap\nfd = os.memfd_create('fw', os.MFD_ALLOW_SEALING)\nos.ftruncate(fd, 4096)\nm = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)\nfcntl.fcntl(fd, 1033, 0x10)`;
  const pid = await holder(dir, setup);
  expect(refused(dir, pid)).toMatch(
    new RegExp(`not supported yet: task ${pid}: VMA [0-9a-f]+-[0-9a-f]+: a writable shared mapping of /memfd:fw \\(deleted\\) made before F_SEAL_FUTURE_WRITE`),
  );
});
