// CRIU's RPC (criu swrk FD, criu service) driven by a client that is not ours: Python with
// Debian's python3-protobuf over proto/rpc.proto compiled by Debian's protoc (rpc/client.py).
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { talk, PY, type Step } from './rpc-lib.js';
import { criu, criuBin, tmpdir, waitGone, waitFile, alive, startFixtureProg, verdict, sleep } from './lib.js';
import { AF_UNIX, SOCK_SEQPACKET, recvPacket, sendPacket } from '../src/sys/sock.js';
import { socketpair, close, pipe2 } from '../src/sys/libc.js';
import { decodeEntry, encodeEntry } from '../src/images/index.js';
import { CriuReqType as T } from '../src/images/gen/types.js';
import { notifier } from '../src/cli/rpc.js';
import { log } from '../src/log.js';

const swrk = (steps: Step[]) => talk('swrk', criuBin, steps);

async function fixture(name: string): Promise<{ dir: string; out: string; pid: number; img: string }> {
  const dir = tmpdir(name);
  fs.chmodSync(dir, 0o777);
  const out = path.join(dir, 'mem.out');
  const pid = await startFixtureProg('mem', out, '1');
  const img = path.join(dir, 'img');
  fs.mkdirSync(img);
  return { dir, out, pid, img };
}

test('VERSION answers the numbers criu --version prints', () => {
  const [o, end] = swrk([{ req: { type: 'VERSION' } }]);
  const printed = /Version: (\d+)\.(\d+)/.exec(criu(['--version']).stdout)!;
  expect(o.resp).toMatchObject({ type: 'VERSION', success: true, version: { major_number: Number(printed[1]), minor_number: Number(printed[2]) } });
  expect(o.resp!.version!.gitid).toBeUndefined();
  expect(end.exit).toBe(0);
});

test('CHECK succeeds; FEATURE_CHECK answers each feature as criu check --feature does; keep_open serves more', () => {
  const outs = swrk([
    { req: { type: 'FEATURE_CHECK', keep_open: true, features: { mem_track: true, lazy_pages: true, pidfd_store: true } } },
    { req: { type: 'CHECK' } },
  ]);
  const memTrack = criu(['check', '--feature', 'mem_dirty_track']).code === 0;
  expect(outs[0].resp).toMatchObject({ type: 'FEATURE_CHECK', success: true, features: { mem_track: memTrack, lazy_pages: false, pidfd_store: false } });
  expect(outs[1].resp).toMatchObject({ type: 'CHECK', success: true });
  expect(outs[2].exit).toBe(0);
});

test('a DUMP and a RESTORE through swrk: the restored program is alive and right', async () => {
  const { out, pid, img } = await fixture('rpc-swrk');
  const [d] = swrk([{ req: { type: 'DUMP', opts: { pid, log_level: 4 } }, images_dir: img }]);
  expect(d.resp, JSON.stringify(d)).toMatchObject({ type: 'DUMP', success: true });
  expect(fs.readFileSync(path.join(img, 'criu.log'), 'utf8')).toContain('Dumping finished successfully');
  await waitGone(pid);
  const [r] = swrk([{ req: { type: 'RESTORE', opts: { log_file: 'restore.log', log_level: 4 } }, images_dir: img }]);
  expect(r.resp, JSON.stringify(r)).toMatchObject({ type: 'RESTORE', success: true, restore: { pid } });
  expect(alive(pid)).toBe(true);
  expect(fs.readFileSync(path.join(img, 'restore.log'), 'utf8')).toContain('Restore finished successfully');
  expect(await verdict(pid, out)).toBe('PASS');
});

test("swrk started with fds 0-2 closed (as pycriu starts it): the tool's stdio is /dev/null, not the launcher's socket", () => {
  const outs = talk('swrk', criuBin, [{ req: { type: 'VERSION', keep_open: true } }, { stdio_of_tool: true }, { req: { type: 'CHECK' } }], undefined, [
    'close-stdio',
  ]);
  expect(outs[0].resp).toMatchObject({ type: 'VERSION', success: true });
  expect(outs[1].stdio).toEqual(['/dev/null', '/dev/null', '/dev/null']);
  expect(outs[2].resp).toMatchObject({ type: 'CHECK', success: true });
});

test("rst_sibling under swrk restores the root as the caller's child; WAIT_PID of a task not ours fails with ECHILD", async () => {
  const { out, pid, img } = await fixture('rpc-sibling');
  const [d] = swrk([{ req: { type: 'DUMP', opts: { pid } }, images_dir: img }]);
  expect(d.resp, JSON.stringify(d)).toMatchObject({ type: 'DUMP', success: true });
  await waitGone(pid);
  const [r] = swrk([{ req: { type: 'RESTORE', opts: { rst_sibling: true } }, images_dir: img }]);
  expect(r.resp, JSON.stringify(r)).toMatchObject({ type: 'RESTORE', success: true, restore: { pid } });
  expect(r.child_of_client).toBe(true);
  expect(await verdict(pid, out)).toBe('PASS');
  const [w] = swrk([{ req: { type: 'WAIT_PID', pid: 1 } }]);
  expect(w.resp).toMatchObject({ type: 'WAIT_PID', success: false, cr_errno: 10 });
});

test('an option criu-ts does not support yet is refused naming it, before anything is touched', async () => {
  const { pid, img } = await fixture('rpc-unsup');
  const [o] = swrk([{ req: { type: 'DUMP', opts: { pid, lazy_pages: true } }, images_dir: img }]);
  expect(o.resp).toMatchObject({ type: 'DUMP', success: false, cr_errno: 56 });
  expect(o.resp!.cr_errmsg).toContain('not supported yet: --lazy-pages (criu_opts.lazy_pages)');
  const [e] = swrk([{ req: { type: 'DUMP', opts: { pid, exec_cmd: ['true'] } }, images_dir: img }]);
  expect(e.resp!.cr_errmsg).toContain('not supported yet: a command run once the tree is restored (criu restore --exec-cmd) (criu_opts.exec_cmd)');
  const [k] = swrk([{ req: { type: 'DUMP', keep_open: true, opts: { pid } }, images_dir: img }]);
  expect(k.resp!.cr_errmsg).toContain('keep_open is not allowed with a DUMP request');
  expect(alive(pid)).toBe(true);
  expect(fs.readdirSync(img).filter((f) => f.endsWith('.img'))).toEqual([]);
  process.kill(pid, 'SIGKILL');
});

test('PRE_DUMP and PAGE_SERVER are refused as not supported yet', () => {
  for (const type of ['PRE_DUMP', 'PAGE_SERVER', 'CPUINFO_DUMP']) {
    const [o] = swrk([{ req: { type, opts: { images_dir: '/tmp' } } }]);
    expect(o.resp, type).toMatchObject({ type, success: false });
    expect(o.resp!.cr_errmsg).toContain('not supported yet');
  }
});

/** `criu service` on a socket of a fresh directory, in the background (-d, --pidfile). */
function startService(): { sock: string; pid: number; stop: () => void } {
  const dir = tmpdir('rpc-service');
  fs.chmodSync(dir, 0o755);
  const sock = path.join(dir, 'criu.sock');
  const r = criu(['service', '-d', '--address', sock, '--pidfile', path.join(dir, 'pid'), '-o', path.join(dir, 'service.log'), '-v4']);
  expect(r.code, r.stderr).toBe(0);
  const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
  expect(fs.statSync(sock).mode & 0o777).toBe(0o666);
  return { sock, pid, stop: () => process.kill(pid, 'SIGTERM') };
}

test('a DUMP and a RESTORE through criu service; bad requests get error replies and it keeps serving', async () => {
  const svc = startService();
  try {
    const { out, pid, img } = await fixture('rpc-svc');
    const [d] = talk('service', svc.sock, [{ req: { type: 'DUMP', opts: { pid } }, images_dir: img }]);
    expect(d.resp, JSON.stringify(d)).toMatchObject({ type: 'DUMP', success: true });
    await waitGone(pid);
    const [r] = talk('service', svc.sock, [{ req: { type: 'RESTORE', opts: {} }, images_dir: img }]);
    expect(r.resp, JSON.stringify(r)).toMatchObject({ type: 'RESTORE', success: true, restore: { pid } });
    expect(await verdict(pid, out)).toBe('PASS');

    const version = encodeEntry('criu_req', { type: T.VERSION });
    const bad = talk('service', svc.sock, [
      { raw: 'ffffffffff0102' }, // garbage
      { raw: Buffer.concat([version, Buffer.from([0x98, 0x06, 0x01])]).toString('hex') }, // field 99 = 1
      { req: { type: 'DUMP', opts: { pid: 1, images_dir: '/tmp', rst_sibling: true } } },
      { req: { type: 'VERSION' } },
    ]);
    expect(bad[0].resp).toMatchObject({ type: 'EMPTY', success: false });
    expect(bad[0].resp!.cr_errmsg).toContain('Failed unpacking request');
    expect(bad[1].resp).toMatchObject({ success: false });
    expect(bad[1].resp!.cr_errmsg).toContain('unknown field criu_req#99');
    expect(bad[2].resp!.cr_errmsg).toContain('rst_sibling is not allowed in standalone service');
    expect(bad[3].resp).toMatchObject({ type: 'VERSION', success: true });
    expect(alive(svc.pid)).toBe(true);
  } finally {
    svc.stop();
  }
});

test('criu service: a caller that is not root may not dump a task it could not ptrace', async () => {
  const svc = startService();
  try {
    const { pid, img } = await fixture('rpc-nobody');
    fs.chmodSync(img, 0o777);
    const [o, v] = talk('service', svc.sock, [{ req: { type: 'DUMP', opts: { pid } }, images_dir: img }, { req: { type: 'VERSION' } }], 65534);
    expect(o.resp).toMatchObject({ type: 'DUMP', success: false, cr_errno: 1 });
    expect(o.resp!.cr_errmsg).toContain(`may not dump task ${pid}: it could not ptrace it`);
    expect(alive(pid)).toBe(true);
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/State:\s+S/);
    expect(v.resp).toMatchObject({ type: 'VERSION', success: true });
    process.kill(pid, 'SIGKILL');
  } finally {
    svc.stop();
  }
});

test('criu service: a caller that is not root dumps and restores a tree of its own, in a directory of its own', async () => {
  const svc = startService();
  try {
    const dir = tmpdir('rpc-own');
    fs.chmodSync(dir, 0o777);
    const out = path.join(dir, 'mem.out');
    const pid = await startFixtureProg('mem', out, '1', 65534);
    const img = path.join(dir, 'img');
    fs.mkdirSync(img);
    fs.chownSync(img, 65534, 65534);
    const [d] = talk('service', svc.sock, [{ req: { type: 'DUMP', opts: { pid } }, images_dir: img }], 65534);
    expect(d.resp, JSON.stringify(d)).toMatchObject({ type: 'DUMP', success: true });
    await waitGone(pid);
    // a root-owned images directory is refused to it
    const rootImg = path.join(dir, 'root-img');
    fs.cpSync(img, rootImg, { recursive: true });
    fs.chmodSync(rootImg, 0o755);
    const [no] = talk('service', svc.sock, [{ req: { type: 'RESTORE', opts: {} }, images_dir: rootImg }], 65534);
    expect(no.resp!.cr_errmsg).toContain('may not use the images directory');
    const [r] = talk('service', svc.sock, [{ req: { type: 'RESTORE', opts: {} }, images_dir: img }], 65534);
    expect(r.resp, JSON.stringify(r)).toMatchObject({ type: 'RESTORE', success: true, restore: { pid } });
    expect(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/Uid:\s+65534\s+65534\s+65534\s+65534/);
    expect(await verdict(pid, out)).toBe('PASS');
  } finally {
    svc.stop();
  }
});

test('criu service with socket activation serves the socket it is given (LISTEN_FDS, LISTEN_PID)', async () => {
  const dir = tmpdir('rpc-activation');
  const sock = path.join(dir, 's');
  // a tiny service manager: python binds and listens, then execs criu with the socket as fd 3
  const py = `import os,socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET); s.bind(${JSON.stringify(sock)}); s.listen(4)
os.dup2(s.fileno(),3); os.set_inheritable(3,True); os.environ['LISTEN_FDS']='1'; os.environ['LISTEN_PID']=str(os.getpid())
os.execv(${JSON.stringify(criuBin)},['criu','service','-o',${JSON.stringify(path.join(dir, 'log'))}])`;
  const { spawn } = await import('node:child_process');
  const sv = spawn(PY, ['-c', py], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await sleep(20);
    const [o] = talk('service', sock, [{ req: { type: 'VERSION' } }]);
    expect(o.resp).toMatchObject({ type: 'VERSION', success: true });
  } finally {
    sv.kill('SIGTERM');
  }
});

test('criu service --status-fd: a \\0 once it serves', async () => {
  const dir = tmpdir('rpc-status');
  const [r, w] = pipe2(0);
  const { spawn } = await import('node:child_process');
  const sv = spawn(criuBin, ['service', '--address', path.join(dir, 's'), '--status-fd', '3'], { stdio: ['ignore', 'ignore', 'ignore', w] });
  close(w);
  try {
    const b = Buffer.alloc(2);
    expect(fs.readSync(r, b, 0, 2, null)).toBe(1);
    expect(b[0]).toBe(0);
    expect(fs.statSync(path.join(dir, 's')).isSocket()).toBe(true);
  } finally {
    close(r);
    sv.kill('SIGTERM');
  }
});

test('the NOTIFY exchange: criu_resp NOTIFY (script, pid, an fd by SCM_RIGHTS), the caller answer decides', () => {
  const [ours, theirs] = socketpair(AF_UNIX, SOCK_SEQPACKET);
  const n = notifier({ sk: ours, peer: { pid: process.pid, uid: 0, gid: 0 }, service: false }, () => 4242);
  const answer = (b: Buffer) => sendPacket(theirs, b);
  const level = log.level;
  log.level = 0; // the refusals below are logged as errors: not this test's output
  const sent = () => {
    const p = recvPacket(theirs)!;
    for (const fd of p.fds) close(fd);
    return { resp: decodeEntry('criu_resp', p.data), fds: p.fds.length };
  };
  try {
    answer(encodeEntry('criu_req', { type: T.NOTIFY, notify_success: true }));
    const [pr, pw] = pipe2(0);
    expect(n('post-restore', pw)).toBe(0);
    close(pr);
    close(pw);
    expect(sent()).toEqual({ resp: { type: T.NOTIFY, success: true, notify: { script: 'post-restore', pid: 4242 } }, fds: 1 });

    answer(encodeEntry('criu_req', { type: T.NOTIFY, notify_success: false }));
    expect(n('pre-dump', -1)).not.toBe(0);
    expect(sent()).toEqual({ resp: { type: T.NOTIFY, success: true, notify: { script: 'pre-dump' } }, fds: 0 });

    answer(encodeEntry('criu_req', { type: T.DUMP }));
    expect(n('post-dump', -1)).not.toBe(0);
    sent();
    answer(Buffer.from('garbage'));
    expect(n('pre-resume', -1)).not.toBe(0);
    sent();
    answer(encodeEntry('criu_req', { type: T.NOTIFY, notify_success: true, opts: { images_dir_fd: -1, external: ['unix[123]'] } }));
    expect(n('query-ext-files', -1)).not.toBe(0);
    sent();
    answer(encodeEntry('criu_req', { type: T.NOTIFY, notify_success: true, opts: { images_dir_fd: -1 } }));
    expect(n('query-ext-files', -1)).toBe(0);
    sent();
  } finally {
    log.level = level;
    close(ours);
    close(theirs);
  }
});

/** Whether the engines call the notification points yet (the action-scripts work, issue 12 part 2). */

test('notify_scripts: every notification a host tree gets, in CRIU order, answered; a refusal fails the dump and the tree runs on', async () => {
  const { out, pid, img } = await fixture('rpc-notify');
  const [no] = swrk([{ req: { type: 'DUMP', opts: { pid, notify_scripts: true } }, images_dir: img, fail_notify: ['pre-dump'] }]);
  expect(no.resp).toMatchObject({ type: 'DUMP', success: false });
  expect(no.notify.map((x) => x[0])).toEqual(['pre-dump']);
  expect(alive(pid)).toBe(true);
  const [d] = swrk([{ req: { type: 'DUMP', opts: { pid, notify_scripts: true } }, images_dir: img }]);
  expect(d.resp).toMatchObject({ type: 'DUMP', success: true });
  expect(d.notify.map((x) => x[0])).toEqual(['pre-dump', 'query-ext-files', 'post-dump']);
  await waitGone(pid);
  const [r] = swrk([{ req: { type: 'RESTORE', opts: { notify_scripts: true } }, images_dir: img }]);
  expect(r.resp).toMatchObject({ type: 'RESTORE', success: true, restore: { pid } });
  expect(r.notify).toEqual([
    ['pre-restore', null, false],
    ['post-restore', pid, false],
    ['pre-resume', null, false],
    ['post-resume', null, false],
  ]);
  expect(await verdict(pid, out)).toBe('PASS');
  void waitFile;
});

test('every criu_opts field is taken: as the options it stands for (which the command line parses), by the RPC itself, or refused by name', async () => {
  const { rpcArgs } = await import('../src/cli/rpc-opts.js');
  const { parseArgs } = await import('../src/cli/options.js');
  const { messageInfo } = await import('../src/images/index.js');
  const sample: Record<string, unknown> = {
    veths: [{ if_in: 'a', if_out: 'b' }],
    ext_mnt: [{ key: 'k', val: 'v' }],
    join_ns: [{ ns: 'net', ns_file: '/proc/1/ns/net', extra_opt: 'x' }],
    inherit_fd: [{ key: 'pipe[1]', fd: 3 }],
    cg_root: [{ ctrl: 'cpu', path: '/x' }],
    unix_sk_ino: [{ inode: 7 }],
    empty_ns: 0x40000000,
    images_dir_fd: 5,
  };
  const refused = ['ps', 'exec_cmd', 'pidfd_store_sk'];
  for (const f of messageInfo('criu_opts').fields) {
    const v =
      sample[f.name] ??
      (f.type === 'bool' ? true : f.type === 'string' ? 'x' : f.type === 'enum' ? 1 : f.label === 'repeated' ? ['x'] : f.type === 'message' ? {} : 1);
    const opts = { images_dir_fd: -1, images_dir: '/tmp', pid: 1, [f.name]: f.label === 'repeated' && !Array.isArray(v) ? [v] : v };
    const run = () => rpcArgs(opts as never, { kind: 'dump', peerPid: 1, service: false });
    if (refused.includes(f.name)) {
      expect(run, f.name).toThrow(`(criu_opts.${f.name})`);
      continue;
    }
    const a = run();
    expect(() => parseArgs(['dump', '--no-default-config', ...a.argv]), `${f.name}: ${a.argv.join(' ')}`).not.toThrow();
    const own = [
      'images_dir_fd',
      'images_dir',
      'work_dir_fd',
      'log_file',
      'log_level',
      'log_to_stderr',
      'notify_scripts',
      'status_fd',
      'orphan_pts_master',
      'unix_sk_ino',
      'config_file', // 'x' cannot be read: skipped, as CRIU's parse_config
    ];
    if (!own.includes(f.name) && f.name !== 'pid') expect([...a.origin.values()], f.name).toContain(f.name);
  }
});

test('criu_opts.config_file: its options come after the request and override it (CRIU PARSING_RPC_CONF); a file that cannot be read is skipped', async () => {
  const { rpcArgs } = await import('../src/cli/rpc-opts.js');
  const { parseArgs } = await import('../src/cli/options.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rpc-conf-'));
  const conf = path.join(dir, 'runc.conf');
  fs.writeFileSync(conf, '# as runc names /etc/criu/runc.conf\ntcp-established\nghost-limit 2M\n');
  const ctx = { kind: 'dump' as const, peerPid: 1, service: false };
  const a = rpcArgs({ images_dir_fd: -1, images_dir: '/tmp', pid: 1, ghost_limit: 1024, config_file: conf }, ctx);
  expect(a.configFile).toBe(conf);
  expect(a.origin.get('tcp-established')).toBe('config_file');
  expect(a.origin.get('ghost-limit')).toBe('config_file');
  const p = parseArgs(['dump', '--no-default-config', ...a.argv]);
  expect(p.opts.get('ghost-limit')).toEqual(['1024', '2M']);
  const missing = rpcArgs({ images_dir_fd: -1, images_dir: '/tmp', pid: 1, config_file: path.join(dir, 'none.conf') }, ctx);
  expect(missing.configFile).toBeUndefined();
  expect(missing.argv).not.toContain('--tcp-established');
  fs.rmSync(dir, { recursive: true });
});

test('a request refused while its options are read still writes why into the log file it names (as CRIU, which opens the log first; runc shows that file)', () => {
  const dir = tmpdir('rpc-early-log');
  const [o] = swrk([{ req: { type: 'DUMP', opts: { pid: 1, log_file: 'dump.log', ps: { port: 1 } } }, images_dir: dir }]);
  expect(o.resp).toMatchObject({ type: 'DUMP', success: false });
  const text = fs.readFileSync(path.join(dir, 'dump.log'), 'utf8');
  expect(text).toContain('not supported yet');
  expect(text).toContain('criu_opts.ps');
  expect(fs.statSync(path.join(dir, 'dump.log')).mode & 0o777).toBe(0o600);
});
