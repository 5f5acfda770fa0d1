// Containers end to end: Debian's runc (installed by ci/pretest.mjs) checkpoints and restores a
// busybox container (busybox-static in a rootfs of its own) with our criu (`runc --criu
// native/build/criu`, over criu's RPC, swrk). In the container a shell counts into a pipe, a
// busybox nc sends the count over a TCP connection on the container's lo to an nc server that
// echoes it back (`-e /bin/cat`), and the client writes the echo into rootfs/tmp/out: after a
// restore the count goes on where it was (every number once, in order: the pipes and the TCP
// queues came back whole), on the same connection, in processes runc finds in the container's
// cgroups. Also a container on a terminal (runc's --console-socket, criu/test/runc/console-recv.c)
// and a container whose stdout is a host file the checkpoint refuses (the container runs on).
// Runs as root.
import { test, expect, type TestInfo } from '@playwright/test';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criuBin, repo, tmpdir, alive, sleep } from './lib.js';
import {
  until,
  needRuncAndBusybox as needTools,
  busyboxRootfs,
  counterScript,
  expectContiguous,
  connections,
  procState,
  gone,
  cgroupDirs,
  removeCgroup,
  logTail,
} from './containers.js';

let seq = 0;
/** Every container of the running test, cleaned after it whatever happened. */
let boxes: Box[] = [];
/** Helper processes (console receivers, runc wrappers), by process group. */
let groups: number[] = [];

/** A bundle (busybox rootfs, config.json from `runc spec`), a --root state dir, and what runc said. */
class Box {
  readonly id = `criu-ts-${process.pid}-${++seq}`;
  readonly dir: string;
  readonly bundle: string;
  readonly state: string;
  readonly log: string[] = [];
  readonly imgs: string[] = [];
  private outs = 0;

  constructor(
    readonly runc: string,
    name: string,
    opts: { terminal?: boolean; script?: string } = {},
  ) {
    this.dir = tmpdir(`runc-${name}`);
    this.bundle = path.join(this.dir, 'bundle');
    this.state = path.join(this.dir, 'state');
    busyboxRootfs(path.join(this.bundle, 'rootfs'), ['sh', 'nc', 'sleep', 'cat', 'echo', 'tee']);
    fs.mkdirSync(this.state);
    execFileSync(runc, ['spec', '--bundle', this.bundle]);
    const cfgFile = path.join(this.bundle, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as { process: { terminal: boolean; args: string[] }; root: { readonly: boolean } };
    cfg.process.terminal = opts.terminal ?? false;
    cfg.process.args = ['sh', '-c', opts.script ?? counterScript()];
    cfg.root.readonly = false;
    fs.writeFileSync(cfgFile, JSON.stringify(cfg, null, 2));
    boxes.push(this);
  }

  /** A runc command that does not hand its stdio to the container (checkpoint, state, ps, kill …). */
  cmd(args: string[]): { code: number; out: string } {
    const all = ['--root', this.state, '--criu', criuBin, ...args];
    const r = spawnSync(this.runc, all, { cwd: this.bundle, encoding: 'utf8', timeout: 60_000 });
    const code = r.status ?? 128;
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
    this.note(`$ runc ${all.join(' ')}\n[exit ${code}${r.signal ? `, ${r.signal}` : ''}]\n${out}`);
    return { code, out };
  }

  /**
   * `runc run -d` or `runc restore -d`, whose stdio becomes the container's: on pipes (not Node's
   * socketpairs), stdin from a sleep, stdout and stderr into a cat that copies them to a file;
   * the wrapper's group stays until the cleanup. Resolves with runc's exit code once it exited.
   */
  async detached(args: string[]): Promise<{ code: number; out: () => string }> {
    const n = ++this.outs;
    const outFile = path.join(this.dir, `runc-${n}.out`);
    const rcFile = path.join(this.dir, `runc-${n}.rc`);
    const all = ['--root', this.state, '--criu', criuBin, ...args];
    const fd = fs.openSync(outFile, 'w');
    const wrap = 'exec 3>"$1"; shift; sleep 2147483647 | { "$@" 3>&- 2>&1; echo $? >&3; } | cat';
    const c = spawn('/bin/sh', ['-c', wrap, 'sh', rcFile, this.runc, ...all], { cwd: this.bundle, detached: true, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    c.unref();
    groups.push(c.pid!);
    const rc = await until(
      `runc ${args[0]} exits`,
      () => {
        const s = fs.existsSync(rcFile) ? fs.readFileSync(rcFile, 'utf8') : '';
        return s.endsWith('\n') ? Number(s) : undefined;
      },
      60_000,
    );
    await sleep(100); // what runc wrote last, through the cat
    const out = () => (fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '');
    this.note(`$ runc ${all.join(' ')}   (stdio on pipes, output in ${outFile})\n[exit ${rc}]\n${out()}`);
    return { code: rc, out };
  }

  /** What runc was asked and said, for the attachment (and in DIR/runc.log, kept with a failed test's dir). */
  note(s: string): void {
    this.log.push(s);
    fs.appendFileSync(path.join(this.dir, 'runc.log'), `${s}\n\n`);
  }

  /** A fresh image (and work) dir for a checkpoint. */
  img(): string {
    const d = path.join(this.dir, `img${this.imgs.length + 1}`);
    fs.mkdirSync(d);
    this.imgs.push(d);
    return d;
  }

  /** `runc state`, parsed. */
  stateOf(): { status: string; pid: number } {
    const r = this.cmd(['state', this.id]);
    expect(r.code, `runc state ${this.id}:\n${r.out}`).toBe(0);
    return JSON.parse(r.out) as { status: string; pid: number };
  }

  /** The numbers the counter wrote into rootfs/tmp/out (whole lines only). */
  counter(file = path.join(this.bundle, 'rootfs', 'tmp', 'out')): number[] {
    const s = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const lines = s.split('\n');
    lines.pop(); // the line being written
    return lines.map((l) => Number(l.trim()));
  }

  /** Until the counter is past `n`. */
  async counterPast(n: number, what: string): Promise<number[]> {
    return until(`${what}: the counter in rootfs/tmp/out goes past ${n} (now at ${this.counter().at(-1) ?? 'nothing'})`, () => {
      const c = this.counter();
      return c.length > 0 && c[c.length - 1] > n ? c : undefined;
    });
  }

  async cleanup(): Promise<void> {
    if (fs.existsSync(path.join(this.state, this.id))) {
      this.cmd(['kill', this.id, 'KILL']);
      this.cmd(['delete', '-f', this.id]);
    }
    for (const cg of cgroupDirs(this.id)) await removeCgroup(cg);
  }
}

/** The container's init as runc reports it: running, a live process, pid 1 of its own pid namespace. */
function expectRunning(box: Box, what: string): number {
  const st = box.stateOf();
  expect(st.status, `${what}: runc state`).toBe('running');
  expect(alive(st.pid), `${what}: pid ${st.pid} of runc state is alive`).toBe(true);
  const nspid = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${st.pid}/status`, 'utf8'))![1].split(/\s+/);
  expect(nspid.at(-1), `${what}: pid ${st.pid} is pid 1 in the container (NSpid ${nspid.join(' ')})`).toBe('1');
  expect(fs.readFileSync(`/proc/${st.pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sh');
  return st.pid;
}

/** `runc ps` (from the container's cgroups) lists the shell, both nc and the cat. */
function expectPs(box: Box, init: number, what: string): void {
  const r = box.cmd(['ps', box.id]);
  expect(r.code, `${what}: runc ps:\n${r.out}`).toBe(0);
  for (const p of ['nc -ll -p 8080 -e /bin/cat', 'nc 127.0.0.1 8080', '/bin/cat']) expect(r.out, `${what}: runc ps lists ${p}`).toContain(p);
  const lines = r.out.split('\n').slice(1).filter(Boolean);
  const pidOf = (l: string) => Number(l.trim().split(/\s+/)[1]);
  expect(lines.map(pidOf), `${what}: runc ps lists the init`).toContain(init);
  // the long-lived ones are alive (a `sleep 0.2` of the loop may be gone already)
  for (const l of lines.filter((l) => / nc |\/bin\/cat$/.test(l))) expect(alive(pidOf(l)), `${what}: ${l}`).toBe(true);
}

/** Checkpoint with --tcp-established into a fresh image dir, which must work. */
function checkpoint(box: Box, what: string): string {
  const init = box.stateOf().pid;
  const img = box.img();
  const r = box.cmd(['checkpoint', '--tcp-established', '--image-path', img, '--work-path', img, box.id]);
  const after = procState(init);
  box.note(`the old init ${init} right after runc checkpoint: ${after}`);
  expect(r.code, `${what}: runc checkpoint:\n${r.out}\n${logTail(path.join(img, 'dump.log'))}`).toBe(0);
  // runc destroys the container once criu answered; it cannot while the init still runs
  // ("container still running", exit 0 all the same), and then the restore finds the id taken
  expect(r.out, `${what}: runc checkpoint logs no error (the old init ${init} right after it: ${after})`).not.toContain('level=error');
  expect(box.cmd(['state', box.id]).code, `${what}: runc state after the checkpoint: the container is gone`).not.toBe(0);
  return img;
}

async function restore(box: Box, img: string, what: string, extra: string[] = []): Promise<void> {
  const r = await box.detached(['restore', '-d', '--tcp-established', '--image-path', img, '--work-path', img, '--bundle', box.bundle, ...extra, box.id]);
  expect(r.code, `${what}: runc restore:\n${r.out()}\n${logTail(path.join(img, 'restore.log'))}`).toBe(0);
}

test.afterEach(async ({}, testInfo: TestInfo) => {
  const failed = testInfo.status !== testInfo.expectedStatus;
  const leftovers: string[] = [];
  for (const b of boxes) {
    try {
      await b.cleanup();
    } catch (e) {
      b.note(`cleanup: ${String(e)}`);
      leftovers.push(String(e));
    }
  }
  for (const g of groups) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  if (failed || leftovers.length) {
    for (const b of boxes) {
      await testInfo.attach(`runc ${b.id}`, { body: b.log.join('\n\n'), contentType: 'text/plain' });
      for (const img of b.imgs)
        for (const l of ['dump.log', 'restore.log'])
          if (fs.existsSync(path.join(img, l))) await testInfo.attach(`${path.basename(img)}/${l}`, { path: path.join(img, l), contentType: 'text/plain' });
      for (const f of fs.readdirSync(b.dir).filter((f) => f.endsWith('.out') || f.endsWith('.log')))
        await testInfo.attach(f, { path: path.join(b.dir, f), contentType: 'text/plain' });
    }
  }
  boxes = [];
  groups = [];
  expect(leftovers, 'the cleanup after the test').toEqual([]);
});

/** Start a container on pipes and wait until its counter runs over its TCP connection. */
async function startCounting(box: Box, extra: string[] = []): Promise<{ init: number; conns: string[] }> {
  const r = await box.detached(['run', '-d', ...extra, box.id]);
  expect(r.code, `runc run:\n${r.out()}`).toBe(0);
  await box.counterPast(5, 'after runc run');
  const init = expectRunning(box, 'after runc run');
  const conns = connections(init);
  expect(conns, 'the two ends of the counter connection on lo').toHaveLength(2);
  return { init, conns };
}

/** After a restore: the same container goes on counting on the same connection. */
async function expectWentOn(box: Box, before: { conns: string[] }, last: number, what: string): Promise<number> {
  const init = expectRunning(box, what);
  expect(connections(init), `${what}: the restored connection (same addresses and ports) is established`).toEqual(before.conns);
  const now = await box.counterPast(last + 5, what);
  expectContiguous(now, what, 'rootfs/tmp/out');
  expectPs(box, init, what);
  return now[now.length - 1];
}

test('runc checkpoints a busybox container with a TCP connection on its lo and restores it: the counter goes on', async () => {
  const box = new Box(needTools(), 'tcp');
  const first = await startCounting(box);
  expectPs(box, first.init, 'before the checkpoint');
  const img = checkpoint(box, 'checkpoint');
  await until(`the checkpoint ended the container (its init ${first.init})`, () => gone(first.init));
  const last = box.counter().at(-1)!;
  await restore(box, img, 'restore');
  await expectWentOn(box, first, last, 'after the restore');
});

test('runc checkpoints and restores the same container twice in a row', async () => {
  test.setTimeout(180_000);
  const box = new Box(needTools(), 'twice');
  const first = await startCounting(box);
  let last = 0;
  for (const round of [1, 2]) {
    const init = expectRunning(box, `before checkpoint ${round}`);
    checkpoint(box, `checkpoint ${round}`);
    await until(`checkpoint ${round} ended the container (its init ${init})`, () => gone(init));
    last = box.counter().at(-1)!;
    await restore(box, box.imgs[round - 1], `restore ${round}`);
    last = await expectWentOn(box, first, last, `after restore ${round}`);
  }
  expect(last).toBeGreaterThan(10);
});

/** console-recv (criu/test/runc/console-recv.c) built into dir. */
function buildConsoleRecv(dir: string): string {
  const bin = path.join(dir, 'console-recv');
  const r = spawnSync('cc', ['-O2', '-Wall', '-o', bin, path.join(repo, 'criu', 'test', 'runc', 'console-recv.c')], { encoding: 'utf8' });
  expect(r.status, `cc console-recv.c:\n${r.stdout}${r.stderr}`).toBe(0);
  return bin;
}

/** A console receiver listening on dir/NAME.sock, writing the terminal's output to dir/NAME.tty. */
async function consoleRecv(bin: string, dir: string, name: string): Promise<{ sock: string; tty: string }> {
  const sock = path.join(dir, `${name}.sock`);
  const tty = path.join(dir, `${name}.tty`);
  const ready = path.join(dir, `${name}.ready`);
  const fd = fs.openSync(path.join(dir, `${name}.log`), 'w');
  const c = spawn(bin, [sock, tty, ready], { detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  c.unref();
  groups.push(c.pid!);
  await until(`console-recv ${name} listens`, () => fs.existsSync(ready));
  return { sock, tty };
}

/** The numbers on a terminal's output (lines ending in \r\n). */
const ttyNumbers = (f: string): number[] =>
  (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '')
    .split('\n')
    .slice(0, -1)
    .map((l) => l.trim())
    .filter((l) => /^\d+$/.test(l))
    .map(Number);

// runc binds the terminal's slave (pts/0 of the container's devpts) onto /dev/console: the
// restore makes that pty before the bind and restores the terminal on it (ns/mnt.ts, op Y)
test('runc checkpoints a container on a terminal (--console-socket) and restores it on a new one: the counter goes on', async () => {
  const box = new Box(needTools(), 'tty', { terminal: true, script: counterScript('| tee /tmp/out') });
  const bin = buildConsoleRecv(box.dir);
  const c1 = await consoleRecv(bin, box.dir, 'console1');
  const first = await startCounting(box, ['--console-socket', c1.sock]);
  await until('the counter on the first terminal', () => ttyNumbers(c1.tty).length > 3);
  const img = checkpoint(box, 'checkpoint');
  const last = box.counter().at(-1)!;
  const c2 = await consoleRecv(bin, box.dir, 'console2');
  await restore(box, img, 'restore', ['--console-socket', c2.sock]);
  const now = await expectWentOn(box, first, last, 'after the restore');
  await until(`the counter on the new terminal goes past ${now} (it shows ${ttyNumbers(c2.tty).slice(-3).join(' ') || 'nothing'})`, () =>
    ttyNumbers(c2.tty).some((v) => v > now),
  );
  // /dev/console in the container is the new terminal again (the bound slave is the restored pty)
  const init = expectRunning(box, 'after the restore');
  fs.writeFileSync(`/proc/${init}/root/dev/console`, 'console-is-here\n');
  await until('what is written to the restored /dev/console on the new terminal', () => fs.readFileSync(c2.tty, 'utf8').includes('console-is-here'));
});

test('runc checkpoint of a container whose stdout is a host file outside it fails naming the file, and the container runs on', async () => {
  const box = new Box(needTools(), 'hostfile');
  const hostOut = path.join(box.dir, 'host-stdout.log');
  const fd = fs.openSync(hostOut, 'w');
  const all = ['--root', box.state, '--criu', criuBin, 'run', '-d', box.id];
  const c = spawn(box.runc, all, { cwd: box.bundle, detached: true, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  groups.push(c.pid!);
  const code = await new Promise<number>((r) => c.on('exit', (n) => r(n ?? 128)));
  box.note(`$ runc ${all.join(' ')}   (stdout and stderr on ${hostOut})\n[exit ${code}]`);
  expect(code, `runc run:\n${fs.readFileSync(hostOut, 'utf8')}`).toBe(0);
  await box.counterPast(5, 'after runc run');
  const init = expectRunning(box, 'after runc run');
  expect(fs.readlinkSync(`/proc/${init}/fd/1`)).toBe(hostOut);

  const img = box.img();
  const r = box.cmd(['checkpoint', '--tcp-established', '--image-path', img, '--work-path', img, box.id]);
  const dumpLog = path.join(img, 'dump.log');
  expect(r.code, `runc checkpoint must fail:\n${r.out}`).not.toBe(0);
  expect(r.out, 'runc names the criu log').toContain(dumpLog);
  const err = fs
    .readFileSync(dumpLog, 'utf8')
    .split('\n')
    .filter((l) => l.includes('Error'))
    .join('\n');
  expect(err, `the error in ${dumpLog}`).toMatch(/not supported yet/);
  expect(err, `the error in ${dumpLog} names the file`).toContain(hostOut);
  expect(err, `the error in ${dumpLog} names the fd`).toMatch(/fd 1\b/);

  // the container runs on as before: same init, its processes, its connection, its counter
  expect(expectRunning(box, 'after the failed checkpoint'), 'the same init').toBe(init);
  expectPs(box, init, 'after the failed checkpoint');
  expect(connections(init)).toHaveLength(2);
  const last = box.counter().at(-1)!;
  expectContiguous(await box.counterPast(last + 5, 'after the failed checkpoint'), 'after the failed checkpoint', 'rootfs/tmp/out');
});
