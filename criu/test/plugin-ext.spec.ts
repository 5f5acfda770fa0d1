// The plugin hooks for mounts and links (CRIU's DUMP_EXT_MOUNT, RESTORE_EXT_MOUNT, DUMP_EXT_LINK)
// through real dumps and restores, with progs/ext-plugin.c in a plugin folder (-L):
// - a tree in a mount namespace of its own whose bind mount's filesystem neither it nor the tool
//   has any more (its tmpfs unmounted lazily): refused without the plugin; the plugin takes it at
//   the dump (with_plugin in the image) and mounts it at the restore, where the tree sees it at
//   the same place; a restore without the plugin fails and leaves nothing;
// - a tree in a network namespace of its own with an ifb link (a kind the tool does not dump):
//   refused without the plugin; the plugin takes it (an EXTLINK entry), a setup-namespaces script
//   makes it again at the restore (CRIU runs that before the namespaces' contents), and the
//   restore gives it its MTU and state; without the script the restore fails naming it.
import { test, expect } from '@playwright/test';
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repo, criu, crit, tmpdir, waitFile, waitGone, alive } from './lib.js';

let pluginDir = '';
test.beforeAll(() => {
  pluginDir = tmpdir('extplug');
  execFileSync('gcc', [
    '-Wall',
    '-Werror',
    '-shared',
    '-fPIC',
    `-I${path.join(repo, 'include', 'criu')}`,
    '-o',
    path.join(pluginDir, 'extplug.so'),
    path.join(repo, 'criu', 'test', 'progs', 'ext-plugin.c'),
  ]);
});

const kill = async (pid: number): Promise<void> => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
  await waitGone(pid);
};
const decode = (img: string, name: string): Record<string, unknown>[] => JSON.parse(crit(['decode', '-i', path.join(img, name)]).stdout).entries;
const imageOf = (img: string, prefix: string): string => fs.readdirSync(img).find((f) => f.startsWith(prefix) && f.endsWith('.img'))!;

/** `sh -c SCRIPT` under unshare ARGS, detached; its pid from DIR/pid */
async function startIn(dir: string, args: string[], script: string): Promise<number> {
  const child = spawn('unshare', [...args, 'sh', '-c', `${script} && echo $$ > ${dir}/pid && exec sleep 1000`], { stdio: 'ignore', detached: true });
  child.unref();
  return Number((await waitFile(path.join(dir, 'pid'))).trim());
}

test('DUMP_EXT_MOUNT / RESTORE_EXT_MOUNT: a bind mount of a filesystem no one else has is dumped and made again by a plugin', async () => {
  test.setTimeout(60_000);
  const dir = tmpdir('extplug-mnt');
  const target = path.join(dir, 't');
  const pid = await startIn(
    dir,
    ['-m', '--propagation', 'private'],
    `mkdir ${dir}/src ${target} && mount -t tmpfs extsrc ${dir}/src && mkdir ${dir}/src/sub && echo old > ${dir}/src/sub/f && mount --bind ${dir}/src/sub ${target} && umount -l ${dir}/src`,
  );
  try {
    expect(fs.readFileSync(`/proc/${pid}/root${target}/f`, 'utf8')).toBe('old\n');
    const env = { ...process.env, EXTPLUG_MNT: target };
    const img = path.join(dir, 'img');
    const no = criu(['dump', '-t', String(pid), '-D', img, '--ext-mount-map', 'auto'], env);
    expect(no.code).not.toBe(0);
    expect(no.stderr).toMatch(
      new RegExp(`not supported yet: task ${pid}: mount \\d+ at ${target} \\(tmpfs extsrc, root /sub\\): a bind mount that is not the tree's own`),
    );
    expect(alive(pid)).toBe(true);
    const d = criu(['dump', '-t', String(pid), '-D', img, '--ext-mount-map', 'auto', '-L', pluginDir, '-v4', '-o', 'dump.log'], env);
    expect(d.code, d.stderr).toBe(0);
    expect(fs.readFileSync(path.join(img, 'dump.log'), 'utf8')).toMatch(new RegExp(`extplug: dump_ext_mount ${target} \\d+`));
    const m = decode(img, imageOf(img, 'mountpoints-')).find((e) => e.mountpoint === target)!;
    expect(m).toMatchObject({ with_plugin: true, root: '/sub' });
    await waitGone(pid);

    // without the plugin: refused, nothing left
    const bare = criu(['restore', '-D', img, '-d', '--ext-mount-map', 'auto', '-L', tmpdir('extplug-none')]);
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toMatch(new RegExp(`Can't restore ext mount ${m.mnt_id} .*no plugin restores it`));
    expect(alive(pid)).toBe(false);

    const r = criu(['restore', '-D', img, '-d', '--ext-mount-map', 'auto', '-L', pluginDir, '-v4', '-o', 'restore.log'], env);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
    expect(fs.readFileSync(`/proc/${pid}/root${target}/f`, 'utf8')).toBe(`made by the plugin for mount ${m.mnt_id}\n`);
    // the plugin's mount in the tool's namespace is gone again
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(' - tmpfs extplug ');
  } finally {
    await kill(pid);
  }
});

test('DUMP_EXT_LINK: a link of a kind the tool does not dump is taken by a plugin; setup-namespaces makes it again, the restore sets its MTU and state', async () => {
  test.setTimeout(60_000);
  const dir = tmpdir('extplug-link');
  const pid = await startIn(dir, ['-n'], 'ip link add ctifb0 mtu 1400 type ifb && ip link set ctifb0 up');
  try {
    const env = { ...process.env, EXTPLUG_LINK_KIND: 'ifb' };
    const img = path.join(dir, 'img');
    const no = criu(['dump', '-t', String(pid), '-D', img], env);
    expect(no.code).not.toBe(0);
    expect(no.stderr).toMatch(new RegExp(`not supported yet: task ${pid}: its network namespace has the link ctifb0 \\(ifb, ifindex \\d+\\)`));
    expect(alive(pid)).toBe(true);
    const d = criu(['dump', '-t', String(pid), '-D', img, '-L', pluginDir, '-v4', '-o', 'dump.log'], env);
    expect(d.code, d.stderr).toBe(0);
    expect(fs.readFileSync(path.join(img, 'dump.log'), 'utf8')).toMatch(/extplug: dump_ext_link \d+ 1 ifb/);
    expect(decode(img, imageOf(img, 'netdev-')).find((l) => l.name === 'ctifb0')).toMatchObject({ type: 'EXTLINK', mtu: 1400 });
    await waitGone(pid);

    // nobody makes it: the restore fails naming it, and nothing is left
    const bare = criu(['restore', '-D', img, '-d']);
    expect(bare.code).not.toBe(0);
    expect(bare.stderr).toMatch(/setting the flags and MTU of link ctifb0 \(ifindex \d+\) in the network namespace: ENODEV/);
    expect(alive(pid)).toBe(false);

    const script = path.join(dir, 'make-ifb.sh');
    fs.writeFileSync(
      script,
      '#!/bin/sh\n[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] || exit 0\nexec nsenter -t "$CRTOOLS_INIT_PID" -n ip link add ctifb0 type ifb\n',
      { mode: 0o755 },
    );
    const r = criu(['restore', '-D', img, '-d', '--action-script', script, '-v4', '-o', 'restore.log']);
    expect(r.code, fs.readFileSync(path.join(img, 'restore.log'), 'utf8').slice(-3000)).toBe(0);
    expect(execFileSync('nsenter', ['-t', String(pid), '-n', 'ip', '-o', 'link', 'show', 'ctifb0'], { encoding: 'utf8' })).toMatch(
      /<[^>]*\bUP\b[^>]*> mtu 1400 /,
    );
  } finally {
    await kill(pid);
  }
});
