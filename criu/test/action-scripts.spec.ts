// --action-script, as CRIU 4.2 runs them (action-scripts.c, cr-dump.c, cr-restore.c): the actions
// at CRIU's moments and in CRIU's order, CRTOOLS_SCRIPT_ACTION / CRTOOLS_IMAGE_DIR /
// CRTOOLS_INIT_PID, and what a failing script does to the dump or the restore.
import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { criu, criuBin, memFixture, waitGone, alive, verdict, waitFile, sleep } from './lib.js';

/**
 * An action script that appends "ACTION IMAGE_DIR INIT_PID CWD" to DIR/actions (and what
 * `extra` prints, indented), and exits 1 at the action `failAt`.
 */
function script(dir: string, name: string, opts: { failAt?: string; extra?: string } = {}): string {
  const f = path.join(dir, name);
  const log = path.join(dir, 'actions');
  fs.writeFileSync(
    f,
    `#!/bin/sh
echo "$CRTOOLS_SCRIPT_ACTION \${CRTOOLS_IMAGE_DIR:--} \${CRTOOLS_INIT_PID:--} $(pwd)" >> ${log}
${opts.extra ? `{ ${opts.extra}; } 2>&1 | sed 's/^/  /' >> ${log}` : ''}
[ "$CRTOOLS_SCRIPT_ACTION" = "${opts.failAt ?? 'none'}" ] && exit 1
exit 0
`,
    { mode: 0o755 },
  );
  return f;
}

const actions = (dir: string): string[][] =>
  fs
    .readFileSync(path.join(dir, 'actions'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith(' '))
    .map((l) => l.split(' '));
const extraLines = (dir: string): string[] =>
  fs
    .readFileSync(path.join(dir, 'actions'), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('  '))
    .map((l) => l.trim());
const status = (pid: number): string => fs.readFileSync(`/proc/${pid}/status`, 'utf8');

test("a dump and a restore run CRIU's actions in CRIU's order, with CRIU's variables", async () => {
  const { dir, out, pid, img } = await memFixture('as-order', '1');
  const s = script(dir, 's.sh', { extra: '[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] && cd "$CRTOOLS_IMAGE_DIR" && ls' });
  const d = criu(['dump', '-t', String(pid), '-D', img, '--action-script', s]);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  const dumpSeen = actions(dir);
  expect(dumpSeen.map((a) => a[0])).toEqual(['pre-dump', 'post-dump']);
  for (const [, imageDir, initPid, cwd] of dumpSeen) {
    // CRIU: /proc/<criu pid>/fd/<images dir fd>; the root's pid is known from pre-dump on; cwd is the work dir
    expect(imageDir).toMatch(/^\/proc\/\d+\/fd\/\d+$/);
    expect(initPid).toBe(String(pid));
    expect(cwd).toBe(img);
  }
  // at post-dump the images are all there, and the directory is usable as a directory
  const listed = extraLines(dir);
  expect(listed).toContain('inventory.img');
  expect(listed).toContain(`core-${pid}.img`);
  expect(listed).toContain('pstree.img');

  fs.rmSync(path.join(dir, 'actions'));
  const r = criu(['restore', '-d', '-D', img, '--action-script', s]);
  expect(r.code, r.stderr).toBe(0);
  const restoreSeen = actions(dir);
  // a tree from the host's namespaces: no setup-namespaces (cr-restore.c: only with root_ns_mask)
  expect(restoreSeen.map((a) => a[0])).toEqual(['pre-restore', 'post-restore', 'pre-resume', 'post-resume']);
  expect(restoreSeen[0][1]).toMatch(/^\/proc\/\d+\/fd\/\d+$/);
  expect(restoreSeen[0][2]).toBe('-'); // the root does not exist yet at pre-restore
  for (const a of restoreSeen.slice(1)) expect(a[2]).toBe(String(pid));
  expect(alive(pid)).toBe(true);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('with -R, post-dump sees the tree still held; the last script given runs first', async () => {
  const { dir, out, pid, img } = await memFixture('as-held', '1');
  const a = script(dir, 'a.sh', { extra: 'grep -E "^(State|TracerPid):" /proc/$CRTOOLS_INIT_PID/status' });
  const b = script(dir, 'b.sh');
  const d = criu(['dump', '-R', '-t', String(pid), '-D', img, '--action-script', a, '--action-script', b]);
  expect(d.code, d.stderr).toBe(0);
  const lines = fs.readFileSync(path.join(dir, 'actions'), 'utf8');
  // b.sh's lines carry no extra: the order shows in where a.sh's State lines sit
  const seen = lines.split('\n').filter(Boolean);
  expect(seen[0]).toMatch(/^pre-dump /);
  expect(seen[1]).toMatch(/^pre-dump /);
  expect(seen[2]).toMatch(/^ {2}State:/); // a.sh ran second
  const atPostDump = extraLines(dir).slice(2).join('\n');
  expect(atPostDump).toMatch(/State:\s+t \(tracing stop\)/);
  expect(atPostDump).not.toMatch(/TracerPid:\s+0$/m);
  expect(status(pid)).toMatch(/TracerPid:\s+0/);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('a failing pre-dump script fails the dump before the tree is touched', async () => {
  const { dir, out, pid, img } = await memFixture('as-predump', '1');
  const s = script(dir, 's.sh', { failAt: 'pre-dump' });
  const d = criu(['dump', '-t', String(pid), '-D', img, '--action-script', s]);
  expect(d.code).toBe(1);
  expect(d.stderr).toMatch(/Pre dump script failed/);
  expect(actions(dir).map((x) => x[0])).toEqual(['pre-dump']);
  expect(alive(pid)).toBe(true);
  expect(status(pid)).toMatch(/TracerPid:\s+0/);
  expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(false);
  expect(fs.existsSync(path.join(img, `core-${pid}.img`))).toBe(false);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('a failing post-dump script makes the dump fail with 255 and the tree run on, images kept (as CRIU)', async () => {
  const { dir, out, pid, img } = await memFixture('as-postdump', '1');
  const s = script(dir, 's.sh', { failAt: 'post-dump' });
  const d = criu(['dump', '-t', String(pid), '-D', img, '--action-script', s]);
  expect(d.code, d.stderr).toBe(255);
  expect(actions(dir).map((x) => x[0])).toEqual(['pre-dump', 'post-dump']);
  await sleep(100);
  expect(alive(pid)).toBe(true);
  expect(status(pid)).toMatch(/TracerPid:\s+0/);
  expect(status(pid)).not.toMatch(/State:\s+[tT]/);
  expect(fs.existsSync(path.join(img, 'inventory.img'))).toBe(true);
  expect(await verdict(pid, out)).toBe('PASS');
});

test('a failing post-restore script fails the restore and leaves nothing behind', async () => {
  const { dir, pid, img } = await memFixture('as-postrestore', '1');
  const d = criu(['dump', '-t', String(pid), '-D', img]);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  const s = script(dir, 's.sh', { failAt: 'post-restore' });
  const r = criu(['restore', '-d', '-D', img, '--action-script', s, '--pidfile', 'pid']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/post-restore/);
  expect(actions(dir).map((x) => x[0])).toEqual(['pre-restore', 'post-restore']);
  await waitGone(pid, 5000);
  expect(fs.existsSync(path.join(img, 'pid'))).toBe(false);
  // and the images still restore
  const again = criu(['restore', '-d', '-D', img]);
  expect(again.code, again.stderr).toBe(0);
  process.kill(pid, 'SIGKILL');
});

test('a failing pre-restore script fails the restore before anything is made', async () => {
  const { dir, pid, img } = await memFixture('as-prerestore', '1');
  const d = criu(['dump', '-t', String(pid), '-D', img]);
  expect(d.code, d.stderr).toBe(0);
  await waitGone(pid);
  const s = script(dir, 's.sh', { failAt: 'pre-restore', extra: 'true' });
  const r = criu(['restore', '-d', '-D', img, '--action-script', s]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/pre-restore/);
  expect(actions(dir).map((x) => x[0])).toEqual(['pre-restore']);
  expect(alive(pid)).toBe(false);
});

test('a tree restored before (in a time namespace of its own) gets setup-namespaces and post-setup-namespaces', async () => {
  const { dir, out, pid, img } = await memFixture('as-ns', '1');
  const img2 = path.join(dir, 'img2');
  expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
  await waitGone(pid);
  expect(criu(['restore', '-d', '-D', img]).code).toBe(0);
  expect(criu(['dump', '-t', String(pid), '-D', img2]).code).toBe(0);
  await waitGone(pid);
  const s = script(dir, 's.sh');
  const r = criu(['restore', '-d', '-D', img2, '--action-script', s]);
  expect(r.code, r.stderr).toBe(0);
  const seen = actions(dir);
  expect(seen.map((a) => a[0])).toEqual(['pre-restore', 'setup-namespaces', 'post-setup-namespaces', 'post-restore', 'pre-resume', 'post-resume']);
  expect(seen[1][2]).toBe(String(pid));
  expect(await verdict(pid, out)).toBe('PASS');
});

test('--exec-cmd: the command runs as the parent of the restored root', async () => {
  const { dir, out, pid, img } = await memFixture('as-exec', '1');
  expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
  await waitGone(pid);
  const marker = path.join(dir, 'cmd.pid');
  const c = spawn(criuBin, ['restore', '-D', img, '--exec-cmd', '--', 'sh', '-c', `echo $$ > ${marker}; exec sleep 30`], { stdio: 'ignore' });
  const exited = new Promise<number | null>((res) => c.on('exit', (code) => res(code)));
  const cmdPid = Number((await waitFile(marker)).trim());
  expect(cmdPid).toBe(c.pid); // the criu process itself became the command (execvp)
  const ppid = Number(/PPid:\s+(\d+)/.exec(status(pid))?.[1]);
  expect(ppid).toBe(c.pid);
  expect(await verdict(pid, out)).toBe('PASS');
  c.kill('SIGKILL');
  await exited;
});

test('--exec-cmd that cannot be run: criu says so and exits 1, the tree runs on', async () => {
  const { dir, out, pid, img } = await memFixture('as-exec-bad', '1');
  expect(criu(['dump', '-t', String(pid), '-D', img]).code).toBe(0);
  await waitGone(pid);
  const r = criu(['restore', '-D', img, '--exec-cmd', '--', path.join(dir, 'no-such-command')]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/Failed to exec command/);
  expect(alive(pid)).toBe(true);
  expect(await verdict(pid, out)).toBe('PASS');
});
