// The Node API, imported by the package's own name so that package.json's exports map is what
// resolves it: a dump and a restore of a running tree while this program's event loop keeps
// ticking, progress events, AbortSignal, the CLI's refusals and messages, -o/-v.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { dump, restore, check, waitRestored, NotSupportedError, CriuError, AbortError, type ProgressEvent } from 'criu-ts';
import { criu, memFixture, waitGone, verdict, alive, tmpdir } from './lib.js';

test.describe.configure({ mode: 'serial' });

/** Ticks of a 1 ms interval seen while `p` was pending. */
async function ticking<T>(p: () => Promise<T>): Promise<{ value: T; ticks: number }> {
  let ticks = 0;
  const t = setInterval(() => ticks++, 1);
  try {
    const value = await p();
    return { value, ticks };
  } finally {
    clearInterval(t);
  }
}

const statusOf = (pid: number): string => fs.readFileSync(`/proc/${pid}/status`, 'utf8');
const imagesIn = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.img')) : []);

test('the API dumps and restores a tree while the caller’s event loop keeps ticking', async () => {
  const { pid, out, img } = await memFixture('api', '512');
  const events: ProgressEvent[] = [];
  const d = await ticking(() => dump({ pid, imagesDir: img, onProgress: (e) => events.push(e) }));
  expect(d.ticks, 'the event loop ran while the dump was pending').toBeGreaterThan(0);
  const steps = events.filter((e) => e.kind === 'step').map((e) => (e.kind === 'step' ? e.name : ''));
  expect(steps.slice(0, 2)).toEqual(['freeze', 'collect']);
  expect(steps).toContain('memory');
  expect(steps.at(-1)).toBe('inventory');
  const pages = events.filter((e) => e.kind === 'pages');
  expect(pages.length).toBeGreaterThan(1);
  expect(pages.at(-1)!.kind === 'pages' && pages.at(-1)!.bytes).toBeGreaterThanOrEqual(512 * 1048576);
  expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(true);
  await waitGone(pid);

  const restored: ProgressEvent[] = [];
  const r = await ticking(() => restore({ imagesDir: img, detached: true, onProgress: (e) => restored.push(e) }));
  expect(r.value, 'the root pid').toBe(pid);
  expect(r.ticks, 'the event loop ran while the restore was pending').toBeGreaterThan(0);
  expect(restored.filter((e) => e.kind === 'step').map((e) => (e.kind === 'step' ? e.step : 0))).toContain(110);
  expect(restored).toContainEqual({ op: 'restore', kind: 'task', index: 1, of: 1, pid });
  // the restored root is this process's child, reaped by waitRestored
  expect(Number(/PPid:\s+(\d+)/.exec(statusOf(pid))![1])).toBe(process.pid);
  expect(await verdict(pid, out)).toBe('PASS');
  expect(await waitRestored(pid)).toEqual({ pid, code: 0, signal: null });
  expect(alive(pid)).toBe(false);
});

test('aborting a dump before it finishes leaves the tree running as it was, and no images', async () => {
  const { pid, out, img } = await memFixture('api-abort', '512');
  const ac = new AbortController();
  let err: unknown;
  await dump({
    pid,
    imagesDir: img,
    signal: ac.signal,
    onProgress: (e) => {
      if (e.kind === 'step' && e.name === 'collect') ac.abort();
    },
  }).catch((e: unknown) => (err = e));
  expect(err).toBeInstanceOf(AbortError);
  expect((err as AbortError).message).toMatch(/^criu dump aborted by the caller before step \d+/);
  expect(imagesIn(img)).toEqual([]);
  expect(statusOf(pid)).toMatch(/TracerPid:\s+0\n/);
  expect(statusOf(pid)).toMatch(/State:\s+S/);
  expect(await verdict(pid, out)).toBe('PASS');
  await waitGone(pid);

  // aborted before it starts: nothing is touched either
  const again = await memFixture('api-abort2', '1');
  await expect(dump({ pid: again.pid, imagesDir: again.img, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortError);
  expect(imagesIn(again.img)).toEqual([]);
  expect(await verdict(again.pid, again.out)).toBe('PASS');
});

test('an aborted restore leaves nothing; the next one restores the tree', async () => {
  const { pid, out, img } = await memFixture('api-abort-restore', '256');
  await dump({ pid, imagesDir: img });
  await waitGone(pid);
  const ac = new AbortController();
  const p = restore({
    imagesDir: img,
    detached: true,
    signal: ac.signal,
    onProgress: (e) => {
      if (e.kind === 'step' && e.step === 101) ac.abort();
    },
  });
  await expect(p).rejects.toBeInstanceOf(AbortError);
  await expect(p).rejects.toThrow(/^criu restore aborted by the caller before step 1\d\d/);
  expect(alive(pid), 'no half-restored task is left, not even a zombie').toBe(false);
  expect(await restore({ imagesDir: img, detached: true })).toBe(pid);
  expect(await verdict(pid, out)).toBe('PASS');
  await waitRestored(pid);
});

test('an option not supported yet is refused with the CLI’s message, before anything is touched', async () => {
  const { pid, out, dir } = await memFixture('api-refuse', '1');
  const img = path.join(dir, 'img');
  const cli = criu(['dump', '-t', String(pid), '-D', img, '--lazy-pages']);
  expect(cli.code).toBe(1);
  let err: unknown;
  await dump({ pid, imagesDir: img, ...({ lazyPages: true } as object) }).catch((e: unknown) => (err = e));
  expect(err).toBeInstanceOf(NotSupportedError);
  const e = err as NotSupportedError;
  expect(e.message).toBe('not supported yet: --lazy-pages');
  expect(cli.stderr).toContain(`${e.message} (${e.hint})`);
  // a bad value: CRIU's own message, as the CLI gives it
  const bad = await dump({ pid: 0, imagesDir: img }).catch((x: unknown) => x);
  expect(bad).toBeInstanceOf(CriuError);
  expect((bad as Error).message).toBe('invalid argument for --tree: 0');
  expect(criu(['dump', '--tree', '0', '-D', img]).stderr).toContain('invalid argument for --tree: 0');
  // a name that is no option of CRIU's
  await expect(dump({ pid, imagesDir: img, ...({ leaveRuning: true } as object) })).rejects.toThrow(/^unknown option leaveRuning: criu has no --leave-runing$/);
  expect(imagesIn(img)).toEqual([]);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('logFile and logLevel write the log as -o and -v do; check answers as criu check', async () => {
  const { pid, out, img } = await memFixture('api-log', '1');
  await dump({ pid, imagesDir: img, leaveRunning: true, logFile: 'dump.log', logLevel: 4 });
  const text = fs.readFileSync(path.join(img, 'dump.log'), 'utf8');
  expect(text).toMatch(/^\(\d\d\.\d{6}\) Dumping processes \(pid: \d+\)$/m);
  expect(text).toContain('Dumping finished successfully');
  expect(text).toMatch(/Seizing \d+'s \d+ thread/); // a debug line (-v4)
  await dump({ pid, imagesDir: path.join(img, 'quiet'), leaveRunning: true, logFile: 'dump.log', logLevel: 2 });
  expect(fs.readFileSync(path.join(img, 'quiet', 'dump.log'), 'utf8')).toBe('');
  expect(await verdict(pid, out)).toBe('PASS');

  const c = await check({ imagesDir: img });
  const cli = criu(['check', '-D', img]);
  expect(c).toEqual({ code: cli.code, ok: cli.code === 0, output: cli.stdout, errors: '' });
  expect(c.output).toContain('Looks good.');
  const f = await check({ imagesDir: img, feature: 'tun' });
  expect(f.output).toBe(criu(['check', '-D', img, '--feature', 'tun']).stdout);
});

test('a child of this process started by child_process is refused, not hung (Node would take its ptrace stops)', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore', detached: true });
  const dir = path.join(tmpdir('api-own'), 'img');
  try {
    const e = await dump({ pid: child.pid!, imagesDir: dir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NotSupportedError);
    expect((e as Error).message).toBe(`not supported yet: dumping pid ${child.pid}, a child of this Node process`);
    expect(statusOf(child.pid!)).toMatch(/TracerPid:\s+0\n/);
    expect(imagesIn(dir)).toEqual([]);
  } finally {
    child.kill('SIGKILL');
  }
});

test('options for the objects a tree holds pass through the API as on the command line: fileLocks, tcpEstablished', async () => {
  const dir = tmpdir('api-objects');
  const ready = path.join(dir, 'ready');
  // a python3 program holding a flock and an established connection to a listener of its own
  const prog = [
    'import fcntl, socket, time, sys',
    `f = open(${JSON.stringify(path.join(dir, 'locked'))}, 'w+')`,
    'fcntl.flock(f, fcntl.LOCK_EX)',
    "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(1)",
    'c = socket.create_connection(l.getsockname()); a, _ = l.accept()',
    `open(${JSON.stringify(ready)}, 'w').write('ready\\n')`,
    'n = 0',
    'while True:',
    "    c.sendall(b'x'); assert a.recv(1) == b'x'; n += 1",
    `    open(${JSON.stringify(path.join(dir, 'n'))}, 'w').write(str(n)); time.sleep(0.02)`,
  ].join('\n');
  // a grandchild, as the README says: a child of this process cannot be dumped from it
  const pid = Number(execFileSync('/bin/sh', ['-c', 'setsid /usr/bin/python3 -c "$0" </dev/null >/dev/null 2>&1 & echo $!', prog], { encoding: 'utf8' }));
  for (let i = 0; i < 200 && !fs.existsSync(ready); i++) await new Promise((r) => setTimeout(r, 25));
  const img = path.join(dir, 'img');
  try {
    // without the options: the CLI's refusals
    await expect(dump({ pid, imagesDir: img, leaveRunning: true, tcpEstablished: true })).rejects.toThrow(/--file-locks/);
    await expect(dump({ pid, imagesDir: img, leaveRunning: true, fileLocks: true })).rejects.toMatchObject({
      message: expect.stringContaining('a connected TCP socket') as unknown,
      hint: expect.stringContaining('--tcp-established') as unknown,
    });
    expect(alive(pid)).toBe(true);
    await dump({ pid, imagesDir: img, fileLocks: true, tcpEstablished: true });
    await waitGone(pid);
    expect(fs.existsSync(path.join(img, 'filelocks.img'))).toBe(true);
    expect(fs.readdirSync(img).some((f) => f.startsWith('tcp-stream-'))).toBe(true);
    expect(await restore({ imagesDir: img, detached: true, fileLocks: true, tcpEstablished: true })).toBe(pid);
    // the loop goes on (a broken connection would end it): both ends of the connection and the lock are back
    const count = (): number => Number(fs.readFileSync(path.join(dir, 'n'), 'utf8') || 0);
    const n0 = count();
    for (let i = 0; i < 100 && count() < n0 + 5; i++) await new Promise((r) => setTimeout(r, 20));
    expect(count()).toBeGreaterThanOrEqual(n0 + 5);
    expect(fs.readFileSync('/proc/locks', 'utf8')).toMatch(new RegExp(`FLOCK\\s+ADVISORY\\s+WRITE\\s+${pid} `));
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('options the engines keep in module state reach the worker: cgroupRoot moves the restored task under a new root, cgroupProps shapes the dump', async () => {
  const { v2Mount, removeBelow } = await import('../../zdtm/runner/cgroup.js');
  const v2 = v2Mount();
  const top = path.join(v2, `criu-ts-api-cg-${process.pid}`);
  const other = path.join(v2, `criu-ts-api-cg2-${process.pid}`);
  for (const d of [top, other]) removeBelow(d, true);
  fs.mkdirSync(path.join(top, 'a'), { recursive: true });
  fs.mkdirSync(other);
  // a grandchild (the API refuses a child of this process), in TOP/a
  const c = spawn('/bin/sh', ['-c', `setsid sh -c 'echo $$ > ${top}/a/cgroup.procs && exec sleep 1000' </dev/null >/dev/null 2>&1 & echo $!`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const pid = Number(await new Promise<string>((res) => c.stdout!.on('data', (b: Buffer) => res(b.toString()))));
  const img = path.join(tmpdir('api-cgroups'), 'img');
  try {
    await new Promise((r) => setTimeout(r, 200));
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toContain(`0::/${path.basename(top)}/a`);
    await dump({ pid, imagesDir: img, manageCgroups: 'soft', cgroupProps: '"pids":\n - "strategy": "replace"\n - "properties": []' });
    await waitGone(pid);
    const restored = await restore({ imagesDir: img, detached: true, cgroupRoot: [`:/${path.basename(other)}`] });
    expect(restored).toBe(pid);
    expect(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8')).toMatch(new RegExp(`^0::/${path.basename(other)}$`, 'm'));
    process.kill(pid, 'SIGKILL');
    await waitRestored(pid); // our child now: reaped here
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
    for (const d of [top, other]) removeBelow(d, true);
  }
});
