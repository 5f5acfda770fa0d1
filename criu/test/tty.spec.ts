// Terminals driven for real through node-pty: a shell job (a raw-mode program in the foreground
// of an interactive bash) dumped with -j and restored with -j inside another terminal, where it
// goes on answering keys in the foreground; without -j the same dump is refused with CRIU's
// message and the job runs on. A detached tmux server (its ptys have both ends in the tree) is
// dumped and restored and its shell keeps its variables. Runs as root.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawnSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { criu, crit, criuBin, repo, tmpdir, alive, waitGone, waitFile, sleep } from './lib.js';
import { ptyLock, type Held } from '../../zdtm/runner/lock.js';

// ptys are numbered machine-wide: none is made while a zdtm pty test has its index free (lock.ts)
let ptyHeld: Held | undefined;
test.beforeEach(async () => {
  ptyHeld = await ptyLock(`unit-${path.basename(test.info().file)}-${test.info().title}`);
  test.info().setTimeout(test.info().timeout + ptyHeld.waitedMs);
});
test.afterEach(() => ptyHeld?.release());

const pty = createRequire(import.meta.url)('node-pty') as typeof import('node-pty');
type Pty = import('node-pty').IPty;

/** A terminal and everything written on it so far. */
class Term {
  screen = '';
  exit: Promise<number>;
  constructor(readonly p: Pty) {
    p.onData((d) => {
      this.screen += d;
    });
    this.exit = new Promise((res) => p.onExit((e) => res(e.exitCode)));
  }
  static spawn(file: string, args: string[], cwd: string): Term {
    return new Term(pty.spawn(file, args, { cols: 100, rows: 30, cwd, env: { ...process.env, PS1: '$ ', TERM: 'xterm', CI: '' } as Record<string, string> }));
  }
  async until(re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.screen);
      if (m) return m;
      if (Date.now() > end) throw new Error(`no ${String(re)} on the terminal; it shows:\n${this.screen}`);
      await sleep(20);
    }
  }
}

/** The pts a node-pty child has as its stdin, once it has it (right after the spawn it may not yet). */
export async function ptsOf(pid: number): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const l = fs.readlinkSync(`/proc/${pid}/fd/0`);
    if (l.startsWith('/dev/pts/')) return l;
    await sleep(10);
  }
  throw new Error(`task ${pid} has no pts on its stdin`);
}

let keysBin = '';
const terms: Term[] = [];
test.beforeAll(() => {
  const dir = tmpdir('tty-progs');
  keysBin = path.join(dir, 'keys');
  execFileSync('gcc', ['-O1', '-Wall', '-o', keysBin, path.join(repo, 'criu', 'test', 'progs', 'keys.c')]);
});
test.afterAll(() => {
  for (const t of terms) t.p.kill('SIGKILL');
});

/** bash on a new terminal running keys in its foreground; the job's pid. */
async function shellJob(dir: string): Promise<{ bash: Term; pid: number }> {
  const bash = Term.spawn('/bin/bash', ['--norc', '--noprofile', '-i'], dir);
  terms.push(bash);
  await bash.until(/\$ /);
  bash.p.write(`${keysBin}\r`);
  const pid = Number((await bash.until(/ready pid=(\d+)/))[1]);
  bash.p.write('a');
  await bash.until(/key:a fg=1 n=1/);
  return { bash, pid };
}

test('a shell job is refused without -j, with CRIU message, and runs on', async () => {
  const dir = tmpdir('tty-shelljob-refused');
  const { bash, pid } = await shellJob(dir);
  const r = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '-o', 'dump.log']);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`The root process ${pid} is not a session leader. Consider using --shell-job option`);
  expect(alive(pid)).toBe(true);
  bash.p.write('q');
  await bash.until(/key:q fg=1 n=2/);
  await waitGone(pid);
});

test('a shell job dumped with -j comes back with -j in the foreground of the terminal criu runs in', async () => {
  const dir = tmpdir('tty-shelljob');
  const img = path.join(dir, 'img');
  const { bash, pid } = await shellJob(dir);
  const d = criu(['dump', '-j', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(d.code, d.stderr + fs.readFileSync(path.join(img, 'dump.log'), 'utf8')).toBe(0);
  await waitGone(pid);
  bash.p.write('exit\r');

  // the restore runs in a new terminal: the job reads its keys from there
  const term = Term.spawn(criuBin, ['restore', '-j', '-D', img, '-o', 'restore.log'], dir);
  terms.push(term);
  const end = Date.now() + 10_000;
  while (!alive(pid) && Date.now() < end) await sleep(20);
  expect(alive(pid), term.screen).toBe(true);
  // its keys so far are kept (n goes on), it is in the foreground, its terminal is raw
  let answered = false;
  for (let i = 0; i < 100 && !answered; i++) {
    term.p.write('b');
    answered = /key:b fg=1 n=2/.test(term.screen);
    if (!answered) await sleep(50);
  }
  expect(term.screen, fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toMatch(/key:b fg=1 n=2/);
  // its terminal is the one criu runs in, and it is its controlling terminal
  expect(fs.readlinkSync(`/proc/${pid}/fd/0`)).toBe(await ptsOf(term.p.pid));
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ttyNr = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[4]);
  expect(ttyNr).toBe(Number(fs.statSync(`/proc/${pid}/fd/0`).rdev));
  term.p.write('q');
  await term.until(/key:q fg=1 n=\d+/);
  // criu restore without -d waits for the job and exits with its status
  expect(await term.exit).toBe(0);
  await waitGone(pid);
});

test("--inherit-fd fd[N]:tty[RDEV:DEV] gives the job the caller's terminal, with the job's modes", async () => {
  const dir = tmpdir('tty-inherit');
  const img = path.join(dir, 'img');
  const { bash, pid } = await shellJob(dir);
  const d = criu(['dump', '-j', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  bash.p.write('exit\r');
  // the key is CRIU's name of the job's terminal: tty[rdev:dev] in hex, from tty-info.img
  const infos = (JSON.parse(crit(['show', path.join(img, 'tty-info.img')]).stdout) as { entries: { id: number; rdev: number; dev: number }[] }).entries;
  const slaveInfo = infos.find((t) => t.id % 2 === 0)!;
  const key = `tty[${slaveInfo.rdev.toString(16)}:${slaveInfo.dev.toString(16)}]`;
  const other = Term.spawn('/bin/sleep', ['600'], dir);
  terms.push(other);
  const slave = await ptsOf(other.p.pid);
  const fd = fs.openSync(slave, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  try {
    const r = spawnSync(criuBin, ['restore', '-j', '-d', '-D', img, '-o', 'restore.log', '-v4', '--inherit-fd', `fd[3]:${key}`], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      encoding: 'utf8',
    });
    const log = fs.readFileSync(path.join(img, 'restore.log'), 'utf8');
    expect(r.status, r.stderr + log).toBe(0);
    expect(log).toContain(`File ${key} will be restored from inherit fd`);
  } finally {
    fs.closeSync(fd);
  }
  expect(alive(pid)).toBe(true);
  for (const n of [0, 1, 2]) expect(fs.readlinkSync(`/proc/${pid}/fd/${n}`)).toBe(slave);
  // the job's raw mode is on that terminal now
  const stty = spawnSync('stty', ['-F', slave, '-a'], { encoding: 'utf8' }).stdout;
  expect(stty).toMatch(/-icanon/);
  expect(stty).toMatch(/-echo /);
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
});

test('--external tty[RDEV:DEV] on dump: the terminal is not restored unless the caller gives it with --inherit-fd', async () => {
  const dir = tmpdir('tty-external');
  const img = path.join(dir, 'img');
  const { bash, pid } = await shellJob(dir);
  const st = fs.statSync(`/proc/${pid}/fd/0`);
  const key = `tty[${st.rdev.toString(16)}:${st.dev.toString(16)}]`;
  const d = criu(['dump', '-j', '-t', String(pid), '-D', img, '-o', 'dump.log', '--external', key]);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  bash.p.write('exit\r');
  const infos = (JSON.parse(crit(['show', path.join(img, 'tty-info.img')]).stdout) as { entries: { id: number; type: string; pty?: unknown }[] }).entries;
  expect(infos).toEqual([expect.objectContaining({ id: (1013 << 1) | 1, type: 'EXT_TTY' })]);
  expect(infos[0].pty).toBeUndefined();
  const no = criu(['restore', '-j', '-d', '-D', img, '-o', 'restore0.log']);
  expect(no.code).not.toBe(0);
  expect(no.stderr).toContain(`the external terminal ${key} is not given`);
  const other = Term.spawn('/bin/sleep', ['600'], dir);
  terms.push(other);
  const slave = await ptsOf(other.p.pid);
  const fd = fs.openSync(slave, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
  try {
    const r = spawnSync(criuBin, ['restore', '-j', '-d', '-D', img, '-o', 'restore.log', '--inherit-fd', `fd[3]:${key}`], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
  } finally {
    fs.closeSync(fd);
  }
  for (const n of [0, 1, 2]) expect(fs.readlinkSync(`/proc/${pid}/fd/${n}`)).toBe(slave);
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
});

test('RPC orphan_pts_master: a session whose terminal master is outside comes back on that index, the new master sent to the caller', async () => {
  const dir = tmpdir('tty-orphan');
  fs.chmodSync(dir, 0o755);
  const img = path.join(dir, 'img');
  fs.mkdirSync(img);
  const pb = path.join(dir, 'pb');
  fs.mkdirSync(pb);
  execFileSync('/usr/bin/protoc', [`--python_out=${pb}`, '-I', path.join(repo, 'proto'), path.join(repo, 'proto', 'rpc.proto')]);
  // the parent keeps the master (outside the dumped tree); the child leads a session whose terminal is the slave
  const ready = path.join(dir, 'ready');
  const prog = [
    'import os, signal, time',
    'os.closerange(3, 4096)',
    'm, s = os.openpty()',
    'name = os.ttyname(s)',
    'pid = os.fork()',
    'if pid == 0:',
    '    os.setsid()',
    '    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the test client closes the new master at once: a hangup',
    '    os.close(m); t = os.open(name, os.O_RDWR); os.close(s)',
    `    open(${JSON.stringify(ready)} + '.tmp', 'w').write(name + '\\n')`,
    `    os.rename(${JSON.stringify(ready)} + '.tmp', ${JSON.stringify(ready)})`,
    '    time.sleep(600)',
    'os.close(s)',
    'time.sleep(600)',
  ].join('\n');
  const holder = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  const name = (await waitFile(ready)).trim();
  const child = Number(fs.readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim());
  const client = path.join(repo, 'criu', 'test', 'rpc', 'client.py');
  const talk = (
    steps: unknown[],
  ): { resp?: { success: boolean; cr_errmsg?: string; restore?: { pid: number } }; notify: [string, number | null, boolean][] }[] => {
    const r = spawnSync('/usr/bin/python3', [client, pb, 'swrk', criuBin], { input: JSON.stringify(steps), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { resp?: { success: boolean }; notify: [string, number | null, boolean][] });
  };
  try {
    // without it the slave is refused as CRIU refuses it
    const [no] = talk([{ req: { type: 'DUMP', opts: { pid: child, log_file: 'dump0.log', leave_running: true } }, images_dir: img }]);
    expect(no.resp?.success).toBe(false);
    expect(fs.readFileSync(path.join(img, 'dump0.log'), 'utf8')).toContain('without correspond master peer');
    const [d] = talk([{ req: { type: 'DUMP', opts: { pid: child, log_file: 'dump.log', orphan_pts_master: true } }, images_dir: img }]);
    expect(d.resp?.success, JSON.stringify(d)).toBe(true);
  } finally {
    process.kill(-holder.pid!, 'SIGKILL'); // the old master goes: its index is free again
  }
  await waitGone(holder.pid!);
  await waitGone(child); // a zombie until its parent is gone
  const [r] = talk([
    { req: { type: 'RESTORE', opts: { log_file: 'restore.log', log_level: 4, notify_scripts: true, orphan_pts_master: true } }, images_dir: img },
  ]);
  expect(r.resp?.success, JSON.stringify(r) + fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toBe(true);
  expect(r.notify).toContainEqual(['orphan-pts-master', null, true]);
  expect(alive(child)).toBe(true);
  // the session's terminal is a pty of the same index (hung up now: the client closed the master it got)
  const fds = fs.readdirSync(`/proc/${child}/fd`).map((f) => fs.readlinkSync(`/proc/${child}/fd/${f}`));
  expect(
    fds.some((l) => l === name || l === `${name} (deleted)`),
    fds.join(' '),
  ).toBe(true);
  process.kill(child, 'SIGKILL');
  await waitGone(child);
});

test('a virtual terminal and /dev/console are opened again by their paths, with their modes', async () => {
  const paths = ['/dev/tty1', '/dev/console'].filter((p) => fs.existsSync(p));
  test.skip(paths.length === 0, 'no virtual terminal and no /dev/console here');
  const dir = tmpdir('tty-vt');
  const img = path.join(dir, 'img');
  const ready = path.join(dir, 'ready');
  const prog = [
    'import os, time',
    'os.closerange(3, 4096)',
    ...paths.map((p) => `os.open(${JSON.stringify(p)}, os.O_RDONLY | os.O_NOCTTY)`),
    `open(${JSON.stringify(ready)}, 'w').write('ready\\n')`,
    'time.sleep(600)',
  ].join('\n');
  const k = spawn('/usr/bin/python3', ['-c', prog], { stdio: 'ignore', detached: true });
  await waitFile(ready);
  const pid = k.pid!;
  const before = fs.readdirSync(`/proc/${pid}/fd`).map((f) => `${f}:${fs.readlinkSync(`/proc/${pid}/fd/${f}`)}`);
  const d = criu(['dump', '-t', String(pid), '-D', img, '-o', 'dump.log']);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  const infos = (JSON.parse(crit(['show', path.join(img, 'tty-info.img')]).stdout) as { entries: { type: string }[] }).entries.map((e) => e.type);
  if (paths.includes('/dev/tty1')) expect(infos).toContain('VT');
  if (paths.includes('/dev/console')) expect(infos).toContain('CONSOLE');
  const r = criu(['restore', '-d', '-D', img, '-o', 'restore.log']);
  expect(r.code, r.stderr + fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toBe(0);
  const after = fs.readdirSync(`/proc/${pid}/fd`).map((f) => `${f}:${fs.readlinkSync(`/proc/${pid}/fd/${f}`)}`);
  expect(after).toEqual(before);
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
});

/** tmux on socket `sock`: its output, or throws with its stderr. */
function tmux(sock: string, args: string[]): string {
  // the server starts from here: without the fds node-pty leaves inheritable (its masters)
  const closed = ['-c', 'import os, sys; os.closerange(3, 4096); os.execvp(sys.argv[1], sys.argv[1:])', 'tmux'];
  const r = spawnSync('/usr/bin/python3', [...closed, '-S', sock, ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
async function paneShows(sock: string, re: RegExp, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const s = tmux(sock, ['capture-pane', '-p']);
    if (re.test(s)) return s;
    if (Date.now() > end) throw new Error(`the pane does not show ${String(re)}:\n${s}`);
    await sleep(50);
  }
}

test('a detached tmux server and the shell in it keep their state through a dump and restore', async () => {
  test.skip(!fs.existsSync('/usr/bin/tmux'), 'tmux is not installed (Debian package tmux)');
  const dir = tmpdir('tty-tmux');
  const sock = path.join(dir, 'sock');
  const img = path.join(dir, 'img');
  tmux(sock, ['-f', '/dev/null', 'new-session', '-d', '-x', '80', '-y', '24', 'env -i PS1="$ " TERM=screen /bin/bash --norc --noprofile -i']);
  const server = Number(tmux(sock, ['display-message', '-p', '#{pid}']).trim());
  await paneShows(sock, /^\$/m);
  tmux(sock, ['send-keys', 'X=42', 'Enter']);
  tmux(sock, ['send-keys', 'echo set:$X', 'Enter']);
  await paneShows(sock, /^set:42$/m);
  const d = criu(['dump', '-t', String(server), '-D', img, '-o', 'dump.log']);
  const log = fs.existsSync(path.join(img, 'dump.log')) ? fs.readFileSync(path.join(img, 'dump.log'), 'utf8') : '';
  if (d.code !== 0 && /unix|socket/i.test(d.stderr)) {
    // the tmux server's unix sockets are files/unix.ts's; what they still refuse is reported here
    test.fixme(true, `tmux's sockets: ${d.stderr.trim()}`);
    return;
  }
  expect(d.code, d.stderr + log).toBe(0);
  await waitGone(server);
  const r = criu(['restore', '-d', '-D', img, '-o', 'restore.log']);
  expect(r.code, r.stderr + fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toBe(0);
  expect(alive(server)).toBe(true);
  tmux(sock, ['send-keys', 'echo again:$X', 'Enter']);
  await paneShows(sock, /^again:42$/m);
  tmux(sock, ['kill-server']);
  await waitGone(server);
});
