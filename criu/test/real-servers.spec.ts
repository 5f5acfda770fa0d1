// Debian's redis-server and nginx (installed by ci/pretest.mjs), run in the foreground with their
// own configuration in a temp dir, dumped (killed) and restored with -d from the command line on
// their old PIDs, answering afterwards with their state: redis keeps its keys and its counter
// goes on; nginx's master and two workers (which dropped their uid to nobody) come back with
// the same PIDs and uids, serve a request, and reload (the master's channel socketpairs to the
// workers work). Also a TCP listener that asked for SIGIO (O_ASYNC, F_SETOWN, F_SETSIG) gets
// its signals after the restore. Runs as root.
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { criu, crit, repo, tmpdir, waitGone, alive, freePort, until as untilMs } from './lib.js';

/** the lib's until with this file's 15 s (servers start slowly on a loaded machine) */
const until = <T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> => untilMs(what, f, ms);

const started: number[] = [];
test.afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});
test.describe.configure({ mode: 'serial' });

/** A program in a session of its own (a restored root leads its session), output to `out`. */
function startDetached(cmd: string, args: string[], out: string): number {
  const fd = fs.openSync(out, 'w');
  const c = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  c.unref();
  started.push(c.pid!);
  return c.pid!;
}

const children = (pid: number): number[] =>
  fs
    .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .sort((a, b) => a - b);
const status = (pid: number, field: string): string => new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
const threads = (pid: number): number => fs.readdirSync(`/proc/${pid}/task`).length;
const logTail = (f: string): string => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').slice(-3000) : '');

/** Dump (killed) and restore with -d, as a user would; `tree` are all the tasks to wait for. */
async function dumpRestore(pid: number, dir: string, tree: number[] = [pid]): Promise<void> {
  const d = criu(['dump', '-t', String(pid), '-D', dir, '-v4', '-o', 'dump.log']);
  expect(d.code, `${d.stderr}\n${logTail(path.join(dir, 'dump.log'))}`).toBe(0);
  for (const t of tree) await waitGone(t);
  const r = criu(['restore', '-d', '-D', dir, '-v4', '-o', 'restore.log']);
  expect(r.code, `${r.stderr}\n${logTail(path.join(dir, 'restore.log'))}`).toBe(0);
  for (const t of tree) expect(alive(t)).toBe(true);
}

const redisCli = (port: number, ...args: string[]): string =>
  execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 }).trim();

test('redis-server keeps its keys across a dump and a restore on its old PID', async () => {
  const dir = tmpdir('redis');
  const port = await freePort();
  const pid = startDetached(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir],
    path.join(dir, 'out'),
  );
  await until('redis PONG', () => {
    try {
      return redisCli(port, 'PING') === 'PONG' ? true : undefined;
    } catch {
      return undefined;
    }
  });
  expect(redisCli(port, 'SET', 'greeting', 'set before the dump')).toBe('OK');
  expect(redisCli(port, 'INCR', 'counter')).toBe('1');
  expect(redisCli(port, 'INCR', 'counter')).toBe('2');
  expect(redisCli(port, 'RPUSH', 'list', 'a', 'b', 'c')).toBe('3');
  const nthreads = threads(pid); // the main thread and its bio/io threads
  expect(nthreads).toBeGreaterThan(1);
  await dumpRestore(pid, path.join(dir, 'img'));
  expect(redisCli(port, 'GET', 'greeting')).toBe('set before the dump');
  expect(redisCli(port, 'INCR', 'counter')).toBe('3');
  expect(redisCli(port, 'LRANGE', 'list', '0', '-1')).toBe('a\nb\nc');
  expect(redisCli(port, 'SET', 'after', 'yes')).toBe('OK');
  expect(redisCli(port, 'GET', 'after')).toBe('yes');
  expect(threads(pid)).toBe(nthreads);
  // not restarted: its log has one start
  expect(fs.readFileSync(path.join(dir, 'out'), 'utf8').match(/Ready to accept connections/g)).toHaveLength(1);
  process.kill(pid, 'SIGKILL');
});

function nginxConf(dir: string, port: number): string {
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, 'index.html'), 'served by nginx\n');
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'nginx.conf');
  const t = (n: string): string => `${n}_temp_path ${path.join(dir, n)};`;
  fs.writeFileSync(
    conf,
    [
      'worker_processes 2;',
      'user nobody nogroup;',
      `pid ${path.join(dir, 'nginx.pid')};`,
      `error_log ${path.join(dir, 'error.log')} notice;`,
      'events { worker_connections 64; }',
      'http {',
      `  access_log ${path.join(dir, 'access.log')};`,
      `  ${t('client_body')} ${t('proxy')} ${t('fastcgi')} ${t('uwsgi')} ${t('scgi')}`,
      `  server { listen 127.0.0.1:${port}; root ${www}; }`,
      '}',
      '',
    ].join('\n'),
  );
  return conf;
}

const curl = (port: number): string => execFileSync('curl', ['-sS', '-m', '10', `http://127.0.0.1:${port}/`], { encoding: 'utf8', timeout: 15_000 });

/** nginx's master (root) and its two workers (nobody), serving on `port`. */
async function startNginx(dir: string, port: number): Promise<{ master: number; workers: number[] }> {
  const conf = nginxConf(dir, port);
  const master = startDetached('nginx', ['-c', conf, '-g', 'daemon off; master_process on;'], path.join(dir, 'out'));
  const workers = await until('two nginx workers', () => {
    const w = alive(master) ? children(master) : [];
    return w.length === 2 && w.every((p) => status(p, 'Uid').startsWith('65534')) ? w : undefined;
  });
  await until('nginx answering', () => {
    try {
      return curl(port);
    } catch {
      return undefined;
    }
  });
  return { master, workers };
}

test('nginx with two workers serves after a dump and a restore, on the same PIDs and uids', async () => {
  const dir = tmpdir('nginx');
  const port = await freePort();
  const { master, workers } = await startNginx(dir, port);
  expect(curl(port)).toBe('served by nginx\n');
  expect(status(master, 'Uid').split(/\s+/)).toEqual(['0', '0', '0', '0']);
  await dumpRestore(master, path.join(dir, 'img'), [master, ...workers]);
  expect(children(master)).toEqual(workers);
  for (const w of workers) {
    expect(status(w, 'Uid').split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(status(w, 'CapEff')).toBe('0000000000000000');
  }
  expect(status(master, 'Uid').split(/\s+/)).toEqual(['0', '0', '0', '0']);
  for (let i = 0; i < 6; i++) expect(curl(port)).toBe('served by nginx\n');
  expect(fs.readFileSync(path.join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(7);
  // a reload after the restore: the master tells the old workers to quit over its channel
  // socketpairs and starts two new ones, which serve
  process.kill(master, 'SIGHUP');
  const fresh = await until('two new nginx workers', () => {
    const w = children(master);
    return w.length === 2 && w.every((p) => !workers.includes(p) && status(p, 'Uid').startsWith('65534')) ? w : undefined;
  });
  expect(fresh).toHaveLength(2);
  for (const w of workers) await waitGone(w);
  expect(curl(port)).toBe('served by nginx\n');
  // and a graceful stop: the master and its workers exit
  process.kill(master, 'SIGQUIT');
  await waitGone(master);
});

/** fd -> its fdinfo flags (octal text), for every fd of pid. */
const fdFlags = (pid: number): Record<string, string> =>
  Object.fromEntries(
    fs.readdirSync(`/proc/${pid}/fdinfo`).map((fd) => [fd, /^flags:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]]),
  );

// nginx puts O_ASYNC (FIOASYNC) and F_SETOWN(master) on the master's end of each worker's channel
// socketpair: the unix kind dumps the fown (dumpFown) and restores flags and owner
// (restoreFileParams) as every other kind does; before, both were lost silently.
test("nginx's channel socketpairs keep O_ASYNC and their SIGIO owner across the restore", async () => {
  const dir = tmpdir('nginx-fown');
  const port = await freePort();
  const { master, workers } = await startNginx(dir, port);
  const before = [master, ...workers].map(fdFlags);
  expect(Object.values(before[0]).some((f) => (parseInt(f, 8) & 0o20000) !== 0)).toBe(true);
  await dumpRestore(master, path.join(dir, 'img'), [master, ...workers]);
  expect([master, ...workers].map(fdFlags)).toEqual(before);
  for (const p of [master, ...workers]) process.kill(p, 'SIGKILL');
});

/** The fown of each INETSK entry of a dump's files.img (crit's JSON). */
function inetOwners(img: string): { uid: number; euid: number; signum: number; pid_type: number; pid: number }[] {
  const r = crit(['show', path.join(img, 'files.img')]);
  expect(r.code, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as {
    entries: { type: string; isk?: { fown: { uid: number; euid: number; signum: number; pid_type: number; pid: number } } }[];
  };
  return j.entries.filter((e) => e.type === 'INETSK').map((e) => e.isk!.fown);
}

for (const who of ['root', 'nobody'] as const) {
  test(`a TCP listener with an owner for SIGIO (F_SETOWN, F_SETSIG) set as ${who} gets its signals after the restore`, async () => {
    const dir = tmpdir(`sigio-${who}`);
    const out = path.join(dir, 'out');
    const pid = startDetached('python3', [path.join(repo, 'criu', 'test', 'progs', 'sigio-listener.py'), ...(who === 'nobody' ? ['nobody'] : [])], out);
    const [plain, sig] = await until('ready', () => {
      const m = /ready (\d+) (\d+)/.exec(fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '');
      return m ? [Number(m[1]), Number(m[2])] : undefined;
    });
    const knock = async (port: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1');
        let got = '';
        c.on('data', (d) => (got += d.toString()));
        c.on('end', () => resolve(got));
        c.on('error', reject);
        c.setTimeout(10_000, () => c.destroy(new Error(`no answer on ${port}`)));
      });
    const lines = async (n: number): Promise<string[]> =>
      until(`${n} signals`, () => {
        const l = fs
          .readFileSync(out, 'utf8')
          .split('\n')
          .filter((x) => x.startsWith('signal'));
        return l.length >= n ? l : undefined;
      });
    expect(await knock(plain)).toBe('hello\n');
    await lines(1);
    expect(await knock(sig)).toBe('hello\n');
    await lines(2);
    const id = who === 'nobody' ? 65534 : 0;
    const owners = [
      { uid: id, euid: id, signum: 0, pid_type: 1 /* F_OWNER_PID */, pid },
      { uid: id, euid: id, signum: 10 /* SIGUSR1 */, pid_type: 1, pid },
    ];
    await dumpRestore(pid, path.join(dir, 'img'));
    expect(inetOwners(path.join(dir, 'img'))).toEqual(owners);
    // the signal is how it learns of a connection: without the owner back it would never answer
    // the program writes its line after it answered: one knock at a time keeps the order
    expect(await knock(plain)).toBe('hello\n');
    await lines(3);
    expect(await knock(sig)).toBe('hello\n');
    expect(await lines(4)).toEqual([
      `signal SIGIO accepted on ${plain}`,
      `signal SIGUSR1 accepted on ${sig}`,
      `signal SIGIO accepted on ${plain}`,
      `signal SIGUSR1 accepted on ${sig}`,
    ]);
    // the owner was set again under the uid that set it first: a second dump reads the same
    const again = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img2'), '-R', '-v4', '-o', 'dump.log']);
    expect(again.code, again.stderr).toBe(0);
    expect(inetOwners(path.join(dir, 'img2'))).toEqual(owners);
    process.kill(pid, 'SIGKILL');
  });
}
