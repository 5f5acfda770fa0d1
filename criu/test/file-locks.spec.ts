// --file-locks: flock, POSIX and OFD locks dumped to filelocks.img (CRIU's values) and taken
// again by the restored task on its fds; without the option a lock is refused at dump time; a
// lock that cannot be taken again fails the restore naming task, fd, file and lock, and the
// tree is gone; a read lease is dumped (FL_LEASE), one a writer outside the tree is breaking
// is dumped and restored breaking (zdtm file_lease00 restores read and write leases,
// file_lease01/02 leases being broken).
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { criu, crit, tmpdir, alive, waitFile, waitGone, until } from './lib.js';

const kids: ChildProcess[] = [];
const restored: number[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
  for (const p of restored) if (alive(p)) process.kill(p, 'SIGKILL');
});

const OFD = (type: string): string => `fcntl.fcntl(h, 37, struct.pack('hhqqi4x', fcntl.${type}, 0, 0, 0, 0))`;

/** A python3 program holding a flock, two POSIX ranges and an OFD lock on three files of `dir`. */
async function holder(dir: string): Promise<number> {
  const f = (n: string): string => JSON.stringify(path.join(dir, n));
  const prog = [
    'import fcntl, struct, time',
    `f = open(${f('a')}, 'w+')`,
    'fcntl.flock(f, fcntl.LOCK_EX)',
    `g = open(${f('b')}, 'w+')`,
    'fcntl.lockf(g, fcntl.LOCK_EX, 10, 5)',
    'fcntl.lockf(g, fcntl.LOCK_SH, 0, 100)',
    `h = open(${f('c')}, 'w+')`,
    OFD('F_RDLCK'),
    `open(${f('ready')}, 'w').write('ready\\n')`,
    'time.sleep(600)',
  ].join('\n');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  await waitFile(path.join(dir, 'ready'));
  return k.pid!;
}

/** The lock lines of every fd of `pid`, without the per-fd numbers and the owner pid. */
function locksOf(pid: number): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    for (const l of fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').split('\n')) {
      if (l.startsWith('lock:'))
        out.push(
          `${fd} ${l
            .replace(/^lock:\s*\d+:\s*/, '')
            .replace(/\s+(-?\d+)\s+(\S+:\S+:\d+)/, ' $2')
            .replace(/\s+/g, ' ')}`,
        );
    }
  }
  return out.sort();
}

async function dumped(name: string): Promise<{ dir: string; img: string; pid: number; before: string[] }> {
  const dir = tmpdir(name);
  const pid = await holder(dir);
  const before = locksOf(pid);
  const img = path.join(dir, 'img');
  const r = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log', '--file-locks']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  await waitGone(pid);
  return { dir, img, pid, before };
}

test('with --file-locks, flock, POSIX ranges and an OFD lock are dumped with CRIU values and taken again by the task on its fds', async () => {
  const { dir, img, pid, before } = await dumped('locks');
  expect(before.length).toBe(4);
  const entries = (JSON.parse(crit(['decode', '-i', path.join(img, 'filelocks.img')]).stdout) as { entries: Record<string, number>[] }).entries;
  // flag: FL_FLOCK 2, FL_POSIX 1, FL_OFD 4; type: F_RDLCK 0, F_WRLCK 1; len 0 for EOF
  expect(entries.map((e) => [e.flag, e.type, e.pid, e.start, e.len])).toEqual([
    [2, 1, pid, 0, 0],
    [1, 1, pid, 5, 10],
    [1, 0, pid, 100, 0],
    [4, 0, pid, 0, 0],
  ]);
  const r = criu(['restore', '-D', img, '-o', 'restore.log', '-d', '--file-locks']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  restored.push(pid);
  expect(locksOf(pid)).toEqual(before);
  // another process cannot take the flock
  expect(spawnSync('flock', ['-n', path.join(dir, 'a'), 'true']).status).not.toBe(0);
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
});

test('a lock another process holds at restore time fails the restore naming task, fd, file and lock; nothing is left', async () => {
  const { dir, img, pid } = await dumped('locks-taken');
  // someone else holds a shared POSIX lock on byte 7 of b, in the range the task held for writing
  const other = spawn(
    '/usr/bin/python3',
    [
      '-c',
      `import fcntl, time\ng = open(${JSON.stringify(path.join(dir, 'b'))}, 'r+')\nfcntl.lockf(g, fcntl.LOCK_SH, 1, 7)\nopen(${JSON.stringify(path.join(dir, 'held'))}, 'w').write('held\\n')\ntime.sleep(600)`,
    ],
    {
      stdio: 'ignore',
    },
  );
  kids.push(other);
  await waitFile(path.join(dir, 'held'));
  const r = criu(['restore', '-D', img, '-o', 'restore.log', '-d', '--file-locks']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`task ${pid}: fd 4: cannot take its POSIX WRITE lock (bytes 5-14) on ${path.join(dir, 'b')} again: EWOULDBLOCK`);
  expect(r.stderr).toContain('another process holds a conflicting lock');
  expect(alive(pid)).toBe(false);
  // the locks the task took before it failed (the flock on a) went with it
  expect(spawnSync('flock', ['-n', path.join(dir, 'a'), 'true']).status).toBe(0);
  other.kill('SIGKILL');
});

test('a restore without --file-locks takes no lock again (as CRIU) and says so in the log', async () => {
  const { dir, img, pid } = await dumped('locks-nooption');
  const r = criu(['restore', '-D', img, '-o', 'restore.log', '-d']);
  expect(r.code).toBe(0);
  restored.push(pid);
  expect(locksOf(pid)).toEqual([]);
  expect(fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toContain('file lock(s) in filelocks.img are not taken again without --file-locks');
  expect(spawnSync('flock', ['-n', path.join(dir, 'a'), 'true']).status).toBe(0);
  process.kill(pid, 'SIGKILL');
});

test('without --file-locks a POSIX and an OFD lock are refused as CRIU refuses them', async () => {
  const dir = tmpdir('locks-refused');
  const pid = await holder(dir);
  const img = path.join(dir, 'img');
  const r = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('Some file locks are hold by dumping tasks! You can try --file-locks to dump them.');
  expect(alive(pid)).toBe(true);
  expect(fs.readdirSync(img).filter((f) => f !== 'dump.log')).toEqual([]);
  process.kill(pid, 'SIGKILL');
});

/** A python3 program holding a read lease on `dir`/leased (SIGIO ignored: a break sends it). */
async function leaseHolder(dir: string): Promise<{ pid: number; lease: string }> {
  const lease = path.join(dir, 'leased');
  fs.writeFileSync(lease, 'x');
  const prog = `import fcntl, signal, time\nsignal.signal(signal.SIGIO, signal.SIG_IGN)\nf = open(${JSON.stringify(lease)}, 'r')\nfcntl.fcntl(f, 1024, fcntl.F_RDLCK)\nopen(${JSON.stringify(path.join(dir, 'lready'))}, 'w').write('ready\\n')\ntime.sleep(600)`;
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  await waitFile(path.join(dir, 'lready'));
  return { pid: k.pid!, lease };
}

test('with --file-locks a read lease is dumped with CRIU values (FL_LEASE 8, F_RDLCK 0), without the dump breaking it', async () => {
  const dir = tmpdir('lease-dump');
  const { pid } = await leaseHolder(dir);
  const img = path.join(dir, 'img');
  const r = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log', '--file-locks', '-R']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const entries = (JSON.parse(crit(['decode', '-i', path.join(img, 'filelocks.img')]).stdout) as { entries: Record<string, number>[] }).entries;
  expect(entries.map((e) => [e.flag, e.type, e.pid, e.start, e.len])).toEqual([[8, 0, pid, 0, 0]]);
  // the dump read the file through its fd: the lease is still active, not breaking
  expect(locksOf(pid).join('\n')).toMatch(/LEASE ACTIVE READ/);
  process.kill(pid, 'SIGKILL');
});

/** A python3 program blocked in open(`file`, O_WRONLY) (a breaker outside the tree); `opened` appears once it gets in. */
function breaker(file: string, opened: string): ChildProcess {
  const prog = `import os\nfd = os.open(${JSON.stringify(file)}, os.O_WRONLY)\nos.close(fd)\nopen(${JSON.stringify(opened)}, 'w').write('opened\\n')`;
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  return k;
}

/** Whether /proc/locks shows `pid` waiting on a lease it breaks ("-> LEASE  BREAKER"). */
const waitsOnLease = (pid: number): boolean =>
  fs
    .readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((l) => new RegExp(`-> LEASE\\s+BREAKER\\s+\\S+\\s+${pid}\\s`).test(l));

test('a read lease a writer outside the tree is breaking (blocked in open) is dumped (LEASE_BREAKING | F_UNLCK) and restored breaking; a new writer waits until the holder gives it up', async () => {
  const dir = tmpdir('lease-breaking');
  const lease = path.join(dir, 'leased');
  fs.writeFileSync(lease, 'x');
  const go = path.join(dir, 'go'),
    released = path.join(dir, 'released');
  // the holder counts its lease signals and gives the lease up when told to (by `go`)
  const prog = [
    'import fcntl, os, signal, time',
    'got = []',
    'signal.signal(signal.SIGIO, lambda s, f: got.append(s))',
    `f = open(${JSON.stringify(lease)}, 'r')`,
    'fcntl.fcntl(f, 1024, fcntl.F_RDLCK)',
    `open(${JSON.stringify(path.join(dir, 'lready'))}, 'w').write('ready\\n')`,
    `while not os.path.exists(${JSON.stringify(go)}):`,
    '    time.sleep(0.02)',
    'fcntl.fcntl(f, 1024, fcntl.F_UNLCK)',
    `open(${JSON.stringify(released)}, 'w').write('%d\\n' % len(got))`,
    'time.sleep(600)',
  ].join('\n');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  const pid = k.pid!;
  await waitFile(path.join(dir, 'lready'));
  const b1 = breaker(lease, path.join(dir, 'opened1'));
  await until('the first writer waits on the lease', () => waitsOnLease(b1.pid!));
  expect(locksOf(pid).join('\n')).toMatch(/LEASE BREAKING UNLCK/);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log', '--file-locks']);
  expect(d.stderr).toBe('');
  expect(d.code).toBe(0);
  await waitGone(pid);
  // the holder is gone with the dump: the writer got in (and closed the file again)
  await waitFile(path.join(dir, 'opened1'));
  const entries = (JSON.parse(crit(['decode', '-i', path.join(img, 'filelocks.img')]).stdout) as { entries: Record<string, number>[] }).entries;
  // type: LEASE_BREAKING 4 | F_UNLCK 2, the type it is being broken to
  expect(entries.map((e) => [e.flag, e.type, e.pid, e.start, e.len])).toEqual([[8, 6, pid, 0, 0]]);
  const r = criu(['restore', '-D', img, '-o', 'restore.log', '-d', '--file-locks']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  restored.push(pid);
  expect(locksOf(pid).join('\n')).toMatch(/LEASE BREAKING UNLCK/);
  // a new writer waits on the restored lease until the holder gives it up
  const b2 = breaker(lease, path.join(dir, 'opened2'));
  await until('the second writer waits on the restored lease', () => waitsOnLease(b2.pid!));
  expect(fs.existsSync(path.join(dir, 'opened2'))).toBe(false);
  fs.writeFileSync(go, '');
  await waitFile(path.join(dir, 'opened2'));
  // one lease signal, for the break before the dump: none for the restore's own break
  expect((await waitFile(released)).trim()).toBe('1');
  process.kill(pid, 'SIGKILL');
});

test('a lease whose setter has exited (its fd passed to the holder) is restored (its owner for SIGIO, the dead setter, reads as none)', async () => {
  const dir = tmpdir('lease-dead-owner');
  const lease = path.join(dir, 'leased');
  fs.writeFileSync(lease, 'x');
  const prog = [
    'import fcntl, os, signal, socket, time',
    'signal.signal(signal.SIGIO, signal.SIG_IGN)',
    'a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)',
    'k = os.fork()',
    'if k == 0:',
    `    f = os.open(${JSON.stringify(lease)}, os.O_RDONLY)`,
    '    fcntl.fcntl(f, 1024, fcntl.F_RDLCK)',
    "    socket.send_fds(b, [b'x'], [f])",
    '    os._exit(0)',
    'msg, fds, _, _ = socket.recv_fds(a, 1, 1)',
    'os.waitpid(k, 0)',
    'a.close()',
    'b.close()',
    `open(${JSON.stringify(path.join(dir, 'lready'))}, 'w').write('ready\\n')`,
    'time.sleep(600)',
  ].join('\n');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  kids.push(k);
  const pid = k.pid!;
  await waitFile(path.join(dir, 'lready'));
  expect(locksOf(pid).join('\n')).toMatch(/LEASE ACTIVE READ/);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log', '--file-locks']);
  expect(d.stderr).toBe('');
  expect(d.code).toBe(0);
  await waitGone(pid);
  const r = criu(['restore', '-D', img, '-o', 'restore.log', '-d', '--file-locks']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  restored.push(pid);
  expect(locksOf(pid).join('\n')).toMatch(/LEASE ACTIVE READ/);
  process.kill(pid, 'SIGKILL');
});
