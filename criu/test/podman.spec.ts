// Containers end to end through podman: Debian's podman (4.3.1, installed by ci/pretest.mjs) with
// Debian's runc as its OCI runtime checkpoints and restores busybox containers with our criu.
// Neither podman nor runc takes a criu path here: both look `criu` up on PATH (podman asks it
// for its version over RPC, swrk, before every checkpoint and restore; runc then dumps and
// restores through it), so the tests put a directory first on PATH that holds a `criu` symlink
// to native/build/criu. Debian's crun (1.8.1) is built without CRIU ("unknown command
// checkpoint"): podman refuses checkpoints with it, so runc it is.
//
// Everything podman keeps lives in the test's own directory: storage (vfs, no overlay mounts),
// runroot, tmp dir, file locks (not /dev/shm/libpod_lock), events, network configs, and runc's
// state (a `runc` wrapper adding --root, which podman's exit command, `podman container cleanup`,
// uses as well); the one image (for --export/--import, which podman 4.3.1 refuses for --rootfs
// containers) is made by `podman import` from a tarball, in a mount namespace of its own with a
// tmpfs on /var/lib, where containers/image would otherwise leave its blob-info cache.
//
// In the container a shell counts into a pipe, a busybox nc sends the count over a TCP connection
// on the container's lo to an nc server that echoes it back, and the client writes the echo into
// /tmp/out: after a restore the count goes on where it was (every number once, in order), on the
// same connection. Runs as root.
import { test, expect, type TestInfo } from '@playwright/test';
import { spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criuBin, tmpdir, alive, sleep } from './lib.js';
import {
  until,
  needRuncAndBusybox,
  busyboxRootfs,
  counterScript,
  expectContiguous,
  connections,
  gone,
  cgroupDirs,
  removeCgroup,
  logTail,
} from './containers.js';

const podmanBin = ['/usr/bin/podman'].find((f) => fs.existsSync(f));
const conmonBin = ['/usr/bin/conmon', '/usr/libexec/podman/conmon'].find((f) => fs.existsSync(f));
const unshareBin = ['/usr/bin/unshare', '/bin/unshare'].find((f) => fs.existsSync(f));

/** The tools these tests need, or a clear failure (never a skip: CI must install them). */
function needTools(): { podman: string; runc: string } {
  if (!podmanBin) throw new Error('podman is not installed (no /usr/bin/podman): ci/pretest.mjs installs the Debian package podman');
  if (!conmonBin) throw new Error('conmon is not installed: it comes with the Debian package podman (ci/pretest.mjs)');
  if (!unshareBin) throw new Error('unshare is not installed: ci/pretest.mjs installs the Debian package util-linux');
  const runc = needRuncAndBusybox();
  if (!fs.existsSync(criuBin)) throw new Error(`${criuBin} is missing: build it (make -C native)`);
  return { podman: podmanBin, runc };
}

/** The cgroup parent podman makes with cgroupfs: removed after the file if these tests made it. */
const cgroupParentBefore = fs.existsSync('/sys/fs/cgroup') && cgroupDirs('libpod_parent').length > 0;

/** Every podman of the running test, cleaned after it whatever happened. */
let engines: Podman[] = [];

/** One podman whose whole state is in a temp dir, running containers with runc and our criu. */
class Podman {
  readonly dir: string;
  readonly bin: string;
  readonly log: string[] = [];
  /** the containers it made (long ids), for the cleanup of their cgroups */
  readonly ids = new Set<string>();
  private readonly runcRoot: string;
  private readonly global: string[];
  private readonly env: NodeJS.ProcessEnv;

  constructor(
    readonly tools: { podman: string; runc: string },
    name: string,
  ) {
    this.dir = tmpdir(`podman-${name}`);
    const d = (n: string) => {
      const p = path.join(this.dir, n);
      fs.mkdirSync(p, { recursive: true });
      return p;
    };
    this.bin = d('bin');
    this.runcRoot = d('runc');
    const [root, runroot, tmp, libpodTmp, net] = [d('storage'), d('runroot'), d('tmp'), d('libpod-tmp'), d('net')];
    // what runc and podman run as `criu`: ours
    fs.symlinkSync(criuBin, path.join(this.bin, 'criu'));
    // runc with its state in the test's dir (also for podman's exit command, which drops --runtime-flag)
    fs.writeFileSync(path.join(this.bin, 'runc'), `#!/bin/sh\nexec '${tools.runc}' --root '${this.runcRoot}' "$@"\n`, { mode: 0o755 });
    const conf = path.join(this.dir, 'containers.conf');
    fs.writeFileSync(
      conf,
      [
        '[engine]',
        'lock_type = "file"',
        'events_logger = "file"',
        'cgroup_manager = "cgroupfs"',
        `tmp_dir = "${libpodTmp}"`,
        '[network]',
        `network_config_dir = "${net}"`,
        '',
      ].join('\n'),
    );
    const storage = path.join(this.dir, 'storage.conf');
    fs.writeFileSync(storage, ['[storage]', 'driver = "vfs"', `graphroot = "${root}"`, `runroot = "${runroot}"`, ''].join('\n'));
    this.global = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs', '--runtime', path.join(this.bin, 'runc')];
    this.env = {
      ...process.env,
      PATH: `${this.bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`,
      TMPDIR: tmp,
      CONTAINERS_CONF: conf,
      CONTAINERS_STORAGE_CONF: storage,
    };
    engines.push(this);
  }

  /** A podman command; `via` runs it through another program first (unshare …). */
  cmd(args: string[], opts: { input?: Buffer; via?: string[]; quiet?: boolean } = {}): { code: number; out: string; stdout: string } {
    const all = [this.tools.podman, ...this.global, ...args];
    const argv = [...(opts.via ?? []), ...all];
    const r = spawnSync(argv[0], argv.slice(1), { env: this.env, input: opts.input, encoding: 'utf8', timeout: 90_000, maxBuffer: 64 << 20 });
    const code = r.status ?? 128;
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`;
    if (!opts.quiet) this.note(`$ ${argv.join(' ')}\n[exit ${code}${r.signal ? `, ${r.signal}` : ''}]\n${out}`);
    return { code, out, stdout: r.stdout ?? '' };
  }

  /** A podman command that must work; its stdout. */
  ok(args: string[], what: string): string {
    const r = this.cmd(args);
    expect(r.code, `${what}: podman ${args.join(' ')}:\n${r.out}`).toBe(0);
    return r.stdout;
  }

  /** What podman was asked and said, for the attachment (and in DIR/podman.log, kept with a failed test's dir). */
  note(s: string): void {
    this.log.push(s);
    fs.appendFileSync(path.join(this.dir, 'podman.log'), `${s}\n\n`);
  }

  /** `podman run -d` of the counter; the container's long id. */
  run(args: string[], what = 'podman run'): string {
    const id = this.ok(['run', '-d', '--network', 'none', ...args, 'sh', '-c', counterScript()], what)
      .trim()
      .split('\n')
      .at(-1)!;
    expect(id, `${what}: the id podman run printed`).toMatch(/^[0-9a-f]{64}$/);
    this.ids.add(id);
    return id;
  }

  /** `podman inspect`, parsed (`quiet`: not in the log, for polls). */
  inspect(id: string, quiet = false): Inspect {
    const r = this.cmd(['inspect', '--type', 'container', id], { quiet });
    expect(r.code, `podman inspect ${id}:\n${r.out}`).toBe(0);
    return (JSON.parse(r.stdout) as Inspect[])[0];
  }

  /** The container's libpod dir (config.json, dump.log, restore.log, checkpoint/). */
  userdata(id: string): string {
    return this.inspect(id).StaticDir;
  }

  /** The logs criu left in a container's userdata dir, for a failure's message. */
  criuLogs(id: string): string {
    let dir = '';
    try {
      dir = this.userdata(id);
    } catch {
      return '(no userdata dir: the container is gone)';
    }
    return ['dump.log', 'restore.log'].map((l) => logTail(path.join(dir, l))).join('\n');
  }

  async cleanup(): Promise<void> {
    const errors: string[] = [];
    for (const id of this.cmd(['ps', '-a', '-q', '--no-trunc']).stdout.split('\n').filter(Boolean)) this.ids.add(id);
    if (this.ids.size) this.cmd(['rm', '-f', '-t', '0', '--all']);
    this.cmd(['rmi', '-a', '-f']);
    // runc's state of a container podman lost track of
    for (const id of fs.existsSync(this.runcRoot) ? fs.readdirSync(this.runcRoot) : []) {
      for (const a of [
        ['kill', id, 'KILL'],
        ['delete', '-f', id],
      ])
        spawnSync(this.tools.runc, ['--root', this.runcRoot, ...a], { timeout: 30_000 });
      errors.push(`runc state of ${id} was left in ${this.runcRoot}`);
    }
    for (const id of this.ids) for (const cg of cgroupDirs(`libpod-${id}`)) await removeCgroup(cg);
    // conmons and podman's exit commands (their command lines name this dir) that stay after a while, killed
    const ours = (): Map<number, string> => {
      const m = new Map<number, string>();
      for (const p of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)))
        try {
          const c = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
          if (c.includes(this.dir) && Number(p) !== process.pid) m.set(Number(p), c.replaceAll('\0', ' '));
        } catch {
          /* gone */
        }
      return m;
    };
    for (let end = Date.now() + 10_000; ours().size && Date.now() < end;) await sleep(100);
    for (const [p, c] of ours()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
      errors.push(`process ${p} was left: ${c}`);
    }
    // mounts (the containers' shm) that stayed
    const mounts = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m) => m && (m === this.dir || m.startsWith(`${this.dir}/`)))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      spawnSync('umount', ['-l', m]);
      errors.push(`mount ${m} was left`);
    }
    if (errors.length) throw new Error(errors.join('\n'));
  }
}

interface Inspect {
  Id: string;
  StaticDir: string;
  State: { Status: string; Pid: number; Checkpointed?: boolean; Restored?: boolean };
}

/** The numbers of a counter's file (whole lines only). */
function numbers(file: string): number[] {
  let s = '';
  try {
    s = fs.readFileSync(file, 'utf8');
  } catch {
    /* not there (yet), or the container is down */
  }
  const lines = s.split('\n');
  lines.pop(); // the line being written
  return lines.map((l) => Number(l.trim()));
}

/** Where a container's counter writes: its rootfs dir (--rootfs), or through its init's root (an image's container). */
type Out = () => string;

async function counterPast(out: Out, n: number, what: string): Promise<number[]> {
  return until(`${what}: the counter in /tmp/out goes past ${n} (now at ${numbers(out()).at(-1) ?? 'nothing'})`, () => {
    const c = numbers(out());
    return c.length > 0 && c[c.length - 1] > n ? c : undefined;
  });
}

/** The container as podman reports it: running, its init a live process, pid 1 of its own pid namespace; `podman top` lists the counter's processes. */
function expectRunning(pm: Podman, id: string, what: string): number {
  const st = pm.inspect(id).State;
  expect(st.Status, `${what}: podman inspect .State.Status`).toBe('running');
  expect(alive(st.Pid), `${what}: pid ${st.Pid} of podman inspect is alive`).toBe(true);
  const nspid = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${st.Pid}/status`, 'utf8'))![1].split(/\s+/);
  expect(nspid.at(-1), `${what}: pid ${st.Pid} is pid 1 in the container (NSpid ${nspid.join(' ')})`).toBe('1');
  expect(fs.readFileSync(`/proc/${st.Pid}/cmdline`, 'utf8').split('\0')[0]).toBe('sh');
  const top = pm.ok(['top', id, 'pid', 'args'], `${what}: podman top`);
  for (const p of ['nc -ll -p 8080 -e /bin/cat', 'nc 127.0.0.1 8080', '/bin/cat']) expect(top, `${what}: podman top lists ${p}`).toContain(p);
  return st.Pid;
}

/** `podman container checkpoint --tcp-established`, which must work and end the container (or leave it running with -R). */
async function checkpoint(pm: Podman, id: string, what: string, extra: string[] = []): Promise<string> {
  const init = pm.inspect(id).State.Pid;
  const r = pm.cmd(['container', 'checkpoint', '--tcp-established', ...extra, id]);
  expect(r.code, `${what}: podman container checkpoint:\n${r.out}\n${pm.criuLogs(id)}`).toBe(0);
  // stats-dump goes into the work dir (userdata), from which --export tars it and --print-stats reads it
  const errors = r.out.split('\n').filter((l) => l.includes('level=error'));
  expect(errors, `${what}: podman and runc log no error`).toEqual([]);
  if (extra.includes('--leave-running')) return r.out;
  const st = pm.inspect(id).State;
  expect(st.Checkpointed, `${what}: podman inspect .State.Checkpointed`).toBe(true);
  expect(st.Status, `${what}: podman inspect .State.Status`).toBe('exited');
  await until(`${what}: the checkpoint ended the container (its init ${init})`, () => gone(init));
  return r.out;
}

/** `podman container restore --tcp-established`, which must work; the restored container's id. */
function restore(pm: Podman, id: string, what: string, extra: string[] = []): string {
  const r = pm.cmd(['container', 'restore', '--tcp-established', ...extra, id]);
  expect(r.code, `${what}: podman container restore:\n${r.out}\n${pm.criuLogs(id)}`).toBe(0);
  const rid = r.stdout.trim().split('\n').at(-1)!;
  if (/^[0-9a-f]{64}$/.test(rid)) pm.ids.add(rid);
  return /^[0-9a-f]{64}$/.test(rid) ? rid : id;
}

/** After a restore: the container goes on counting, on the same connection, from where it was. */
async function expectWentOn(pm: Podman, id: string, out: Out, before: { conns: string[] }, last: number, what: string): Promise<number> {
  const st = pm.inspect(id).State;
  expect(st.Restored, `${what}: podman inspect .State.Restored`).toBe(true);
  // the restored /tmp/out holds the count so far (a container started afresh would have truncated it)
  expect(numbers(out()).at(-1) ?? 0, `${what}: /tmp/out right after the restore`).toBeGreaterThanOrEqual(last);
  const init = expectRunning(pm, id, what);
  expect(connections(init), `${what}: the restored connection (same addresses and ports) is established`).toEqual(before.conns);
  const now = await counterPast(out, last + 5, what);
  expectContiguous(now, what);
  return now[now.length - 1];
}

/** Start the counter in a container of a busybox rootfs dir (`podman run --rootfs`); its counter's file. */
async function startRootfs(pm: Podman): Promise<{ id: string; out: Out; init: number; conns: string[] }> {
  const rootfs = busyboxRootfs(path.join(pm.dir, 'rootfs'));
  const id = pm.run(['--rootfs', rootfs]);
  const out = () => path.join(rootfs, 'tmp', 'out');
  await counterPast(out, 5, 'after podman run');
  const init = expectRunning(pm, id, 'after podman run');
  const conns = connections(init);
  expect(conns, 'the two ends of the counter connection on lo').toHaveLength(2);
  return { id, out, init, conns };
}

test.afterEach(async ({}, testInfo: TestInfo) => {
  const failed = testInfo.status !== testInfo.expectedStatus;
  const leftovers: string[] = [];
  for (const pm of engines) {
    const logs: string[] = [];
    if (failed)
      for (const id of pm.ids)
        for (const l of ['dump.log', 'restore.log']) {
          const f = path.join(pm.dir, 'storage', 'vfs-containers', id, 'userdata', l);
          if (fs.existsSync(f)) logs.push(f);
        }
    // copied before the cleanup removes the containers' dirs
    const kept = logs.map((f) => {
      const to = path.join(pm.dir, `${path.basename(path.dirname(path.dirname(f))).slice(0, 12)}-${path.basename(f)}`);
      fs.copyFileSync(f, to);
      return to;
    });
    try {
      await pm.cleanup();
    } catch (e) {
      pm.note(`cleanup: ${String(e)}`);
      leftovers.push(String(e));
    }
    if (failed || leftovers.length) {
      await testInfo.attach(`podman ${path.basename(pm.dir)}`, { body: pm.log.join('\n\n'), contentType: 'text/plain' });
      for (const f of kept) await testInfo.attach(path.basename(f), { path: f, contentType: 'text/plain' });
    }
  }
  engines = [];
  expect(leftovers, 'the cleanup after the test').toEqual([]);
});

test.afterAll(() => {
  // the cgroup parent (and its conmon cgroup) podman made for these tests, once empty
  if (cgroupParentBefore) return;
  for (const d of cgroupDirs('libpod_parent'))
    for (const c of [path.join(d, 'conmon'), d])
      try {
        fs.rmdirSync(c);
      } catch {
        /* gone, or in use */
      }
});

test('podman (runc, our criu) checkpoints a busybox container with a TCP connection on its lo and restores it: the counter goes on', async () => {
  const pm = new Podman(needTools(), 'tcp');
  const first = await startRootfs(pm);
  // --print-stats: podman reads criu's stats-dump from the work dir
  const printed = await checkpoint(pm, first.id, 'checkpoint', ['--print-stats']);
  expect(printed).toMatch(/"criu_statistics":\s*\{[^}]*"freezing_time":\s*[1-9]/);
  const last = numbers(first.out()).at(-1)!;
  restore(pm, first.id, 'restore');
  await expectWentOn(pm, first.id, first.out, first, last, 'after the restore');
});

test('podman checkpoints and restores the same container twice in a row, and once with --leave-running', async () => {
  test.setTimeout(180_000);
  const pm = new Podman(needTools(), 'twice');
  const first = await startRootfs(pm);
  let last = 0;
  for (const round of [1, 2]) {
    expectRunning(pm, first.id, `before checkpoint ${round}`);
    await checkpoint(pm, first.id, `checkpoint ${round}`);
    last = numbers(first.out()).at(-1)!;
    restore(pm, first.id, `restore ${round}`);
    last = await expectWentOn(pm, first.id, first.out, first, last, `after restore ${round}`);
  }
  // -R: the images are written and the container runs on, the same processes on the same connection
  const init = expectRunning(pm, first.id, 'before checkpoint --leave-running');
  await checkpoint(pm, first.id, 'checkpoint --leave-running', ['--leave-running']);
  expect(expectRunning(pm, first.id, 'after checkpoint --leave-running'), 'the same init').toBe(init);
  expect(connections(init)).toEqual(first.conns);
  last = numbers(first.out()).at(-1)!;
  expectContiguous(await counterPast(first.out, last + 5, 'after checkpoint --leave-running'), 'after checkpoint --leave-running');
});

test('podman exports a checkpoint (--export), and a new container restored from it (--import) counts on', async () => {
  test.setTimeout(180_000);
  const pm = new Podman(needTools(), 'export');
  // an image of its own: podman 4.3.1 imports no checkpoint of a --rootfs container ("repository name must have at least one component")
  const rootfs = busyboxRootfs(path.join(pm.dir, 'image-rootfs'));
  const tar = execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
  const tag = 'localhost/criu-ts-busybox:test';
  const imp = pm.cmd(['import', '-q', '-', tag], {
    input: tar,
    via: [unshareBin!, '-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs criu-ts /var/lib && exec "$@"', 'sh'],
  });
  expect(imp.code, `podman import:\n${imp.out}`).toBe(0);

  const id = pm.run([tag]);
  // the counter writes into the container's own /tmp (its layer), which the export carries
  const outOf = (cid: string): Out => {
    let pid = 0;
    return () => {
      if (!pid || gone(pid))
        try {
          pid = pm.inspect(cid, true).State.Pid;
        } catch {
          pid = 0;
        }
      return pid ? `/proc/${pid}/root/tmp/out` : '/nonexistent';
    };
  };
  await counterPast(outOf(id), 5, 'after podman run');
  const init = expectRunning(pm, id, 'after podman run');
  const conns = connections(init);
  expect(conns, 'the two ends of the counter connection on lo').toHaveLength(2);
  const last = (await counterPast(outOf(id), 10, 'before the checkpoint')).at(-1)!;

  const archive = path.join(pm.dir, 'checkpoint.tar.gz');
  await checkpoint(pm, id, 'checkpoint --export', ['--export', archive]);
  expect(fs.statSync(archive).size, `the archive ${archive}`).toBeGreaterThan(0);
  // the container goes; the archive alone makes it again
  pm.ok(['rm', id], 'podman rm');
  const rid = restore(pm, archive, 'restore --import', ['--import']);
  await expectWentOn(pm, rid, outOf(rid), { conns }, last, 'after the import');
});

test('podman with an overlay root (--rootfs DIR:O, its writes in an upper layer podman makes): checkpoint and restore, the counter goes on', async () => {
  test.setTimeout(120_000);
  const pm = new Podman(needTools(), 'overlay');
  const rootfs = busyboxRootfs(path.join(pm.dir, 'rootfs'));
  const id = pm.run(['--rootfs', `${rootfs}:O`]);
  // the counter writes into the overlay's upper layer, not into rootfs: read it through the init's root, kept while it is down
  let pid = 0;
  let lastSeen = '/nonexistent';
  const out: Out = () => {
    if (!pid || gone(pid)) pid = pm.inspect(id).State.Pid;
    if (pid > 0 && !gone(pid)) lastSeen = `/proc/${pid}/root/tmp/out`;
    return lastSeen;
  };
  await counterPast(out, 5, 'after podman run');
  const init = expectRunning(pm, id, 'after podman run');
  expect(fs.readFileSync(`/proc/${init}/mountinfo`, 'utf8').split('\n')[0], 'the root mount').toMatch(/ \/ \/ .* - overlay /);
  expect(fs.existsSync(path.join(rootfs, 'tmp', 'out')), 'rootfs itself is not written').toBe(false);
  const conns = connections(init);
  const before = (await counterPast(out, 10, 'before the checkpoint')).at(-1)!;
  await checkpoint(pm, id, 'checkpoint');
  restore(pm, id, 'restore');
  const after = expectRunning(pm, id, 'after the restore');
  expect(fs.readFileSync(`/proc/${after}/mountinfo`, 'utf8').split('\n')[0], 'the restored root mount').toMatch(/ \/ \/ .* - overlay /);
  await expectWentOn(pm, id, out, { conns }, before, 'after the restore');
});

test('podman checkpoint of a container with an established TCP connection fails without --tcp-established, naming it, and the container runs on', async () => {
  const pm = new Podman(needTools(), 'notcp');
  const first = await startRootfs(pm);
  const r = pm.cmd(['container', 'checkpoint', first.id]);
  expect(r.code, `podman container checkpoint must fail:\n${r.out}`).not.toBe(0);
  const dumpLog = path.join(pm.userdata(first.id), 'dump.log');
  expect(r.out, 'podman names the criu log').toContain(dumpLog);
  const err = fs
    .readFileSync(dumpLog, 'utf8')
    .split('\n')
    .filter((l) => l.includes('Error'))
    .join('\n');
  expect(err, `the error in ${dumpLog}`).toMatch(/ESTABLISHED/);
  expect(err, `the error in ${dumpLog} names the connection`).toContain('127.0.0.1:8080');
  expect(err, `the error in ${dumpLog} names the option`).toContain('--tcp-established');

  // the container runs on as before: same init, its processes, its connection, its counter
  expect(pm.inspect(first.id).State.Checkpointed ?? false, 'podman inspect .State.Checkpointed').toBe(false);
  expect(expectRunning(pm, first.id, 'after the failed checkpoint'), 'the same init').toBe(first.init);
  expect(connections(first.init)).toEqual(first.conns);
  const last = numbers(first.out()).at(-1)!;
  expectContiguous(await counterPast(first.out, last + 5, 'after the failed checkpoint'), 'after the failed checkpoint');
});
