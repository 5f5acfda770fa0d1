// Files whose names are gone, external files and devices, through the criu command (CRIU's
// files-reg.c and files.c): a removed file over --ghost-limit and a removed name still linked
// elsewhere without --link-remap are refused with CRIU's messages; a link remap's link_remap.N
// name is removed by a good restore, kept by a failed one (the images can be restored again) and
// removed by a failed dump; `--external file[MNT_ID:INODE]` is recorded as CRIU records it and
// restored only from `--inherit-fd fd[N]:file[…]`; a tun fd and other devices are refused by
// name; a program whose shared library is replaced underneath it keeps the old one (a ghost)
// across the dump and restore. Runs as root.
import { test, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync, execFileSync } from 'node:child_process';
import { criuBin, critBin, tmpdir, alive, waitGone, until } from './lib.js';

const pids: number[] = [];
test.afterAll(() => {
  for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
});

const ticks = (f: string): number[] =>
  fs.existsSync(f)
    ? fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => /^tick \d+/.test(l))
        .map((l) => Number(l.split(' ')[1]))
    : [];

/**
 * A python program started in its own session with stdio on /dev/null: `setup` builds its state
 * (the variable `d` is the test's directory), then it writes "tick N" lines to d/out.
 */
async function startPy(dir: string, setup: string[]): Promise<number> {
  const prog = [
    'import os, sys, time',
    'd = sys.argv[1]',
    ...setup,
    "out = os.open(d + '/out', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)",
    "open(d + '/pid', 'w').write(str(os.getpid()) + '\\n')",
    'i = 0',
    'while True:',
    "    os.write(out, b'tick %d\\n' % i)",
    '    i += 1',
    '    time.sleep(0.05)',
  ].join('\n');
  spawnSync('/bin/bash', ['-c', `setsid /usr/bin/python3 -c "$0" ${dir} </dev/null >/dev/null 2>${dir}/err &`, prog]);
  const pidf = path.join(dir, 'pid');
  const pid = await until('the program starts', () => {
    const t = fs.existsSync(pidf) ? fs.readFileSync(pidf, 'utf8') : '';
    return t.endsWith('\n') ? Number(t) : undefined;
  });
  pids.push(pid);
  await until('it ticks', () => (ticks(path.join(dir, 'out')).length > 2 ? true : undefined));
  return pid;
}

const criu = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(criuBin, args, { encoding: 'utf8', env });
const decode = (img: string, name: string): { entries: Record<string, unknown>[] } =>
  JSON.parse(execFileSync(process.execPath, [critBin, 'decode', '-i', path.join(img, name)], { encoding: 'utf8' })) as { entries: Record<string, unknown>[] };

/** After a restore: the program goes on counting from where it was. */
async function goesOn(dir: string, last: number): Promise<void> {
  const after = await until('ticks after the restore', () => {
    const t = ticks(path.join(dir, 'out')).filter((n) => n > last);
    return t.length > 2 ? t : undefined;
  });
  expect(after[0]).toBe(last + 1);
}

test('a removed file over --ghost-limit is refused naming it, its size and the limit; a removed name still linked elsewhere needs --link-remap', async () => {
  const dir = tmpdir('remap-refuse');
  const pid = await startPy(dir, [
    "big = os.open(d + '/big', os.O_RDWR | os.O_CREAT, 0o600)",
    "os.write(big, b'x' * (2 << 20))",
    "os.unlink(d + '/big')",
    "lnk = os.open(d + '/linked', os.O_RDWR | os.O_CREAT, 0o600)",
    "os.link(d + '/linked', d + '/other-name')",
    "os.unlink(d + '/linked')",
  ]);
  const img = path.join(dir, 'img');
  const big = criu(['dump', '-t', String(pid), '-D', img, '--link-remap']);
  expect(big.status).toBe(1);
  expect(big.stderr).toMatch(new RegExp(`Can't dump ghost file ${dir}/big of \\d+ size, increase limit \\(--ghost-limit is 1048576\\)`));
  expect(big.stderr).toContain('--ghost-limit');
  expect(alive(pid)).toBe(true);
  // with a limit that holds it, the next refusal: the linked one, without --link-remap
  const lnk = criu(['dump', '-t', String(pid), '-D', img, '--ghost-limit', '8M']);
  expect(lnk.status).toBe(1);
  expect(lnk.stderr).toContain(`Can't create link remap for ${dir}/linked. Use --link-remap option.`);
  expect(alive(pid)).toBe(true);
  expect(fs.readdirSync(dir).filter((n) => n.startsWith('link_remap'))).toEqual([]);
  // both given: dumped, and restored
  const ok = criu(['dump', '-t', String(pid), '-D', img, '--ghost-limit', '8M', '--link-remap']);
  expect(ok.stderr).toBe('');
  expect(ok.status).toBe(0);
  await waitGone(pid);
  const last = Math.max(...ticks(path.join(dir, 'out')));
  const r = criu(['restore', '-d', '-D', img]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  await goesOn(dir, last);
  const links = fs.readdirSync(`/proc/${pid}/fd`).map((fd) => fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
  expect(links).toContain(`${dir}/big (deleted)`);
  expect(links).toContain(`${dir}/linked (deleted)`);
  expect(fs.statSync(`${dir}/other-name`).nlink).toBe(1); // the fd's file, and no link_remap left
  process.kill(pid, 'SIGKILL');
});

test('link remaps: link_remap.N next to the file, LINKED in remap-fpath.img; removed by a good restore, kept by a failed one, removed by a failed dump', async () => {
  const dir = tmpdir('remap-linked');
  const sub = path.join(dir, 'sub');
  fs.mkdirSync(sub);
  const pid = await startPy(dir, [
    "lnk = os.open(d + '/sub/f', os.O_RDWR | os.O_CREAT, 0o640)",
    "os.write(lnk, b'hello' + bytes(4091))",
    'import mmap',
    'm = mmap.mmap(lnk, 4096)',
    "os.link(d + '/sub/f', d + '/keep')",
    "os.unlink(d + '/sub/f')",
  ]);
  const img = path.join(dir, 'img');
  const remaps = (): string[] => fs.readdirSync(sub).filter((n) => n.startsWith('link_remap.'));
  // a dump that fails after the files were collected leaves no link behind
  const bad = criu(['dump', '-t', String(pid), '-D', img, '--link-remap'], { ...process.env, CRIU_FAULT: '5' });
  expect(bad.status).toBe(1);
  expect(remaps()).toEqual([]);
  expect(alive(pid)).toBe(true);
  const d = criu(['dump', '-t', String(pid), '-D', img, '--link-remap']);
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  await waitGone(pid);
  // one for the fd, one for the mapping (each file entry its own, as CRIU)
  const names = remaps().sort();
  expect(names).toHaveLength(2);
  const lid = Number(names[0].split('.')[1]);
  for (const n of names) expect(fs.statSync(path.join(sub, n)).ino).toBe(fs.statSync(path.join(dir, 'keep')).ino);
  const files = decode(img, 'files.img').entries;
  const origs = files.filter((e) => (e.reg as { name?: string } | undefined)?.name === `${sub}/f`).map((e) => e.id);
  expect(origs).toHaveLength(2);
  expect(files.find((e) => e.id === lid)).toMatchObject({ type: 'REG', reg: { name: `${sub}/link_remap.${lid}`, flags: 0, pos: 0 } });
  const rpes = decode(img, 'remap-fpath.img').entries.filter((r) => r.remap_type === 'LINKED');
  expect(rpes.map((r) => r.orig_id).sort()).toEqual(origs.sort());
  expect(rpes.map((r) => `link_remap.${String(r.remap_id)}`).sort()).toEqual(names);
  const last = Math.max(...ticks(path.join(dir, 'out')));
  // a restore that fails once the fds are made: the tree is gone, the name at the old path too,
  // the link_remap stays (CRIU cleans only ghosts after a failure)
  const failed = criu(['restore', '-d', '-D', img], { ...process.env, CRIU_FAULT: '109' });
  expect(failed.status).toBe(1);
  expect(alive(pid)).toBe(false);
  expect(fs.existsSync(`${sub}/f`)).toBe(false);
  expect(remaps().sort()).toEqual(names);
  // so the images restore again, and then it is gone
  const r = criu(['restore', '-d', '-D', img]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  await goesOn(dir, last);
  expect(remaps()).toEqual([]);
  expect(fs.existsSync(`${sub}/f`)).toBe(false);
  const fd = fs.readdirSync(`/proc/${pid}/fd`).find((n) => fs.readlinkSync(`/proc/${pid}/fd/${n}`) === `${sub}/f (deleted)`)!;
  expect(fd).toBeDefined();
  expect(fs.statSync(`/proc/${pid}/fd/${fd}`).ino).toBe(fs.statSync(path.join(dir, 'keep')).ino);
  expect(fs.readFileSync(`/proc/${pid}/fd/${fd}`, 'utf8').slice(0, 5)).toBe('hello');
  expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain(`${sub}/f (deleted)`);
  process.kill(pid, 'SIGKILL');
});

test('--external file[MNT_ID:INODE]: recorded by its key (ext), restored only from --inherit-fd fd[N]:file[…]; other --external kinds refused', async () => {
  const dir = tmpdir('remap-ext');
  const pid = await startPy(dir, ["log = os.open(d + '/A', os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)", 'os.dup2(log, 7)']);
  const info = fs.readFileSync(`/proc/${pid}/fdinfo/7`, 'utf8');
  const mnt = Number(/mnt_id:\s*(\d+)/.exec(info)![1]);
  const key = `file[${mnt.toString(16)}:${fs.statSync(path.join(dir, 'A')).ino.toString(16)}]`;
  const img = path.join(dir, 'img');
  const other = criu(['dump', '-t', String(pid), '-D', img, '--external', key, '--external', 'dev[1/3]:null']);
  expect(other.status).toBe(1);
  expect(other.stderr).toContain('not supported yet: --external dev[...]');
  expect(alive(pid)).toBe(true);
  const d = criu(['dump', '-t', String(pid), '-D', img, '--external', key]);
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  await waitGone(pid);
  const files = decode(img, 'files.img').entries;
  expect(files.filter((e) => (e.reg as { ext?: boolean } | undefined)?.ext)).toMatchObject([{ type: 'REG', reg: { name: key, ext: true } }]);
  // no --inherit-fd for it: refused naming it, nothing left running
  const missing = criu(['restore', '-d', '-D', img]);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toContain(`${key} was dumped as external (--external ${key}) and no --inherit-fd gives it`);
  expect(alive(pid)).toBe(false);
  const b = path.join(dir, 'B');
  fs.writeFileSync(b, '');
  const r = spawnSync('/bin/bash', ['-c', `${criuBin} restore -d -D ${img} --inherit-fd 'fd[5]:${key}' 5>>${b}`], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(fs.readlinkSync(`/proc/${pid}/fd/7`)).toBe(b);
  expect(fs.readFileSync(`/proc/${pid}/fdinfo/7`, 'utf8')).toMatch(/flags:\s*0102001/);
  process.kill(pid, 'SIGKILL');
});

test("a tun fd of the tool's network namespace and character devices without a handler are refused by name (the memory devices: zdtm chardev00; tun fds of a tree's own namespace: zdtm tun)", async () => {
  const dir = tmpdir('remap-dev');
  const tun = await startPy(dir, ["t = os.open('/dev/net/tun', os.O_RDWR)", "z = os.open('/dev/zero', os.O_RDONLY)"]);
  const r = criu(['dump', '-t', String(tun), '-D', path.join(dir, 'img')]);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(
    new RegExp(`not supported yet: task ${tun} fd \\d+ \\(tun\\): a tun device of the tool's own network namespace \\(Net namespace is required`),
  );
  expect(alive(tun)).toBe(true);
  process.kill(tun, 'SIGKILL');
  const dir2 = tmpdir('remap-dev2');
  const fuse = await startPy(dir2, ["f = os.open('/dev/fuse', os.O_RDWR)"]);
  const r2 = criu(['dump', '-t', String(fuse), '-D', path.join(dir2, 'img')]);
  expect(r2.status).toBe(1);
  expect(r2.stderr).toMatch(new RegExp(`not supported yet: task ${fuse}: fd \\d+ \\(/dev/fuse\\): character device 10:229`));
  process.kill(fuse, 'SIGKILL');
});

test('--evasive-devices: a device node replaced at its path by one of the same rdev is taken, refused without it', async () => {
  const dir = tmpdir('remap-evasive');
  const devdir = path.join(dir, 'dev');
  fs.mkdirSync(devdir);
  execFileSync('mknod', [path.join(devdir, 'null'), 'c', '1', '3']);
  const pid = await startPy(dir, ["n = os.open(d + '/dev/null', os.O_RDWR)"]);
  // another node, same rdev, over the old one's directory
  execFileSync('mount', ['-t', 'tmpfs', 'none', devdir]);
  try {
    execFileSync('mknod', [path.join(devdir, 'null'), 'c', '1', '3']);
    const img = path.join(dir, 'img');
    const no = criu(['dump', '-t', String(pid), '-D', img]);
    expect(no.status).toBe(1);
    expect(no.stderr).toContain(`${devdir}/null is another file now`);
    expect(no.stderr).toContain('--evasive-devices');
    const yes = criu(['dump', '-t', String(pid), '-D', img, '--evasive-devices']);
    expect(yes.stderr).toBe('');
    expect(yes.status).toBe(0);
    await waitGone(pid);
    const last = Math.max(...ticks(path.join(dir, 'out')));
    const r = criu(['restore', '-d', '-D', img]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    await goesOn(dir, last);
    const st = fs.statSync(path.join(devdir, 'null'));
    const fd = fs.readdirSync(`/proc/${pid}/fd`).find((n) => fs.readlinkSync(`/proc/${pid}/fd/${n}`) === `${devdir}/null`)!;
    expect(fs.statSync(`/proc/${pid}/fd/${fd}`).ino).toBe(st.ino); // the new node
    process.kill(pid, 'SIGKILL');
  } finally {
    spawnSync('umount', ['-l', devdir]);
  }
});

test('a program whose shared library is replaced underneath it keeps the old one through dump and restore', async () => {
  const dir = tmpdir('remap-lib');
  const lib = path.join(dir, 'lib');
  fs.mkdirSync(lib);
  fs.writeFileSync(path.join(dir, 'v1.c'), 'int value(void) { return 1; }\n');
  fs.writeFileSync(path.join(dir, 'v2.c'), 'int value(void) { return 2; }\n');
  fs.writeFileSync(
    path.join(dir, 'prog.c'),
    [
      '#include <stdio.h>',
      '#include <stdlib.h>',
      '#include <unistd.h>',
      '#include <fcntl.h>',
      'int value(void);',
      'int main(int argc, char **argv) {',
      '  char b[64]; int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0644);',
      '  FILE *p = fopen(argv[2], "w"); fprintf(p, "%d\\n", getpid()); fclose(p);',
      '  for (int i = 0;; i++) { int n = snprintf(b, sizeof(b), "tick %d value %d\\n", i, value()); write(out, b, n); usleep(50000); }',
      '}',
    ].join('\n'),
  );
  execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(lib, 'libv.so'), path.join(dir, 'v1.c')]);
  execFileSync('gcc', ['-o', path.join(dir, 'prog'), path.join(dir, 'prog.c'), `-L${lib}`, '-lv', `-Wl,-rpath,${lib}`]);
  spawnSync('/bin/bash', ['-c', `setsid ${dir}/prog ${dir}/out ${dir}/pid </dev/null >/dev/null 2>&1 &`]);
  const pid = await until('the program starts', () => {
    const t = fs.existsSync(path.join(dir, 'pid')) ? fs.readFileSync(path.join(dir, 'pid'), 'utf8') : '';
    return t.endsWith('\n') ? Number(t) : undefined;
  });
  pids.push(pid);
  await until('it ticks', () => (ticks(path.join(dir, 'out')).length > 2 ? true : undefined));
  // the upgrade: a new libv.so renamed over the old one, as a package manager does
  execFileSync('gcc', ['-shared', '-fPIC', '-o', path.join(lib, 'libv.so.new'), path.join(dir, 'v2.c')]);
  fs.renameSync(path.join(lib, 'libv.so.new'), path.join(lib, 'libv.so'));
  expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain(`${lib}/libv.so (deleted)`);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img]);
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  await waitGone(pid);
  const last = Math.max(...ticks(path.join(dir, 'out')));
  const r = criu(['restore', '-d', '-D', img]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  await goesOn(dir, last);
  const lines = fs.readFileSync(path.join(dir, 'out'), 'utf8').trim().split('\n');
  expect(lines.every((l) => l.endsWith('value 1'))).toBe(true); // the old library, still
  // libv.so is the new library now: the old one is mapped through a name beside it, as CRIU
  // does (open_path's "<path>.cr_link"), removed again
  expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain(`${lib}/libv.so.cr_link (deleted)`);
  expect(fs.readdirSync(lib)).toEqual(['libv.so']); // no ghost left beside it
  process.kill(pid, 'SIGKILL');
});

test('a file reopened by its name must have its mode (CRIU checks it at restore; --skip-file-rwx-check leaves out the rwx bits)', async () => {
  const dir = tmpdir('remap-mode');
  const pid = await startPy(dir, ["f = os.open(d + '/F', os.O_RDONLY | os.O_CREAT, 0o644)"]);
  const img = path.join(dir, 'img');
  const d = criu(['dump', '-t', String(pid), '-D', img]);
  expect(d.status).toBe(0);
  await waitGone(pid);
  // the rwx bits changed: refused, unless --skip-file-rwx-check
  fs.chmodSync(path.join(dir, 'F'), 0o600);
  const rwx = criu(['restore', '-d', '-D', img]);
  expect(rwx.status).toBe(1);
  expect(rwx.stderr).toContain(`File ${dir}/F has bad mode 0100600 (expect 0100644)`);
  expect(rwx.stderr).toContain('--skip-file-rwx-check');
  expect(alive(pid)).toBe(false);
  const skip = criu(['restore', '-d', '-D', img, '--skip-file-rwx-check']);
  expect(skip.stderr).toBe('');
  expect(skip.status).toBe(0);
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);
  // another kind of file: refused even so
  fs.rmSync(path.join(dir, 'F'));
  fs.mkdirSync(path.join(dir, 'F'));
  const r = criu(['restore', '-d', '-D', img, '--skip-file-rwx-check']);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`File ${dir}/F has bad mode 040755 \\(expect 0100644\\)`));
  expect(alive(pid)).toBe(false);
});

test('a dump that leaves the tree running (-R) removes its link remaps again, as CRIU', async () => {
  const dir = tmpdir('remap-running');
  const pid = await startPy(dir, ["f = os.open(d + '/f', os.O_RDWR | os.O_CREAT, 0o600)", "os.link(d + '/f', d + '/g')", "os.unlink(d + '/f')"]);
  const d = criu(['dump', '-t', String(pid), '-D', path.join(dir, 'img'), '--link-remap', '-R']);
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  expect(alive(pid)).toBe(true);
  expect(fs.readdirSync(dir).filter((n) => n.startsWith('link_remap'))).toEqual([]);
  expect(fs.statSync(path.join(dir, 'g')).nlink).toBe(1);
  process.kill(pid, 'SIGKILL');
});

test('a copy of python3 removed while it runs: over the ghost limit it is refused naming the exe; with a bigger one it comes back running', async () => {
  const dir = tmpdir('remap-python');
  const py = path.join(dir, 'python3');
  fs.copyFileSync(fs.realpathSync('/usr/bin/python3'), py);
  fs.chmodSync(py, 0o755);
  const prog = [
    'import os, time',
    "out = os.open(os.environ['OUT'], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)",
    'i = 0',
    'while True:',
    "    os.write(out, b'tick %d\\n' % i)",
    '    i += 1',
    '    time.sleep(0.05)',
  ].join('\n');
  spawnSync('/bin/bash', ['-c', `OUT=${dir}/out setsid ${py} -c "$0" </dev/null >/dev/null 2>&1 & echo $! > ${dir}/pid`, prog]);
  const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
  pids.push(pid);
  await until('it ticks', () => (ticks(path.join(dir, 'out')).length > 2 ? true : undefined));
  fs.unlinkSync(py);
  expect(fs.readlinkSync(`/proc/${pid}/exe`)).toBe(`${py} (deleted)`);
  const img = path.join(dir, 'img');
  const small = criu(['dump', '-t', String(pid), '-D', img]);
  expect(small.status).toBe(1);
  expect(small.stderr).toMatch(new RegExp(`Can't dump ghost file ${py} of \\d+ size, increase limit \\(--ghost-limit is 1048576\\)`));
  expect(alive(pid)).toBe(true);
  const d = criu(['dump', '-t', String(pid), '-D', img, '--ghost-limit', '64M']);
  expect(d.stderr).toBe('');
  expect(d.status).toBe(0);
  await waitGone(pid);
  const last = Math.max(...ticks(path.join(dir, 'out')));
  const r = criu(['restore', '-d', '-D', img]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  await goesOn(dir, last);
  expect(fs.readlinkSync(`/proc/${pid}/exe`)).toBe(`${py} (deleted)`);
  expect(fs.readFileSync(`/proc/${pid}/maps`, 'utf8')).toContain(`${py} (deleted)`);
  expect(fs.readdirSync(dir).filter((n) => n.includes('python3'))).toEqual([]);
  process.kill(pid, 'SIGKILL');
});
