// What the container tests (runc.spec.ts, podman.spec.ts) share: the busybox rootfs and its
// counter over a TCP connection on the container's lo, what they check of it, and the cleanup
// of the cgroups a runtime leaves. Not a spec: no tests here.
import { expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { until as untilMs, sleep } from './lib.js';

/** the lib's until with 20 s: containers start slowly on a loaded machine */
export const until = <T>(what: string, f: () => T | undefined | false, ms = 20_000): Promise<T> => untilMs(what, f, ms);

export const runcBin = ['/usr/sbin/runc', '/usr/bin/runc'].find((f) => fs.existsSync(f));
export const busybox = '/bin/busybox';

/** Whether an ELF file asks for an interpreter (PT_INTERP): a dynamic busybox cannot run in a rootfs of busybox alone. */
export function elfIsDynamic(file: string): boolean {
  const b = fs.readFileSync(file);
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return true;
  return false;
}

/** runc and a static busybox, or a clear failure (never a skip: CI must install them) */
export function needRuncAndBusybox(): string {
  if (!runcBin) throw new Error('runc is not installed (neither /usr/sbin/runc nor /usr/bin/runc): ci/pretest.mjs installs the Debian package runc');
  if (!fs.existsSync(busybox)) throw new Error(`${busybox} is missing: ci/pretest.mjs installs the Debian package busybox-static`);
  if (elfIsDynamic(busybox)) throw new Error(`${busybox} is dynamically linked: install the Debian package busybox-static`);
  return runcBin;
}

/** A busybox root file system in dir: busybox-static and the applets named. */
export function busyboxRootfs(dir: string, applets = ['sh', 'nc', 'sleep', 'cat', 'echo', 'kill', 'tee']): string {
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  fs.chmodSync(path.join(dir, 'tmp'), 0o1777);
  fs.copyFileSync(busybox, path.join(bin, 'busybox'));
  fs.chmodSync(path.join(bin, 'busybox'), 0o755);
  for (const l of applets) fs.symlinkSync('busybox', path.join(bin, l));
  return dir;
}

/** The counter of every container: numbers from a pipe over a TCP connection on lo, echoed back into /tmp/out (or `sink`). */
export const counterScript = (sink = '> /tmp/out') =>
  `nc -ll -p 8080 -e /bin/cat & sleep 0.5; i=0; (while :; do i=$((i+1)); echo $i; sleep 0.2; done) | nc 127.0.0.1 8080 ${sink}`;

/** Every number from 1 on, once and in order: nothing lost or doubled in the pipes and the TCP queues (`file`: where they were read, for the message). */
export function expectContiguous(nums: number[], what: string, file = '/tmp/out'): void {
  const bad = nums.findIndex((v, i) => v !== i + 1);
  expect(
    bad,
    `${what}: line ${bad + 1} of ${file} is ${JSON.stringify(nums[bad])}, not ${bad + 1} (around it: ${nums.slice(Math.max(0, bad - 3), bad + 4).join(' ')})`,
  ).toBe(-1);
}

/** The established TCP connections on port 8080 in the network namespace of pid, "local remote" in /proc's hex (the server, on ::, shows in tcp6). */
export function connections(pid: number): string[] {
  return ['tcp', 'tcp6']
    .flatMap((t) => fs.readFileSync(`/proc/${pid}/net/${t}`, 'utf8').split('\n').slice(1))
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 3 && f[3] === '01' && (f[1].endsWith(':1F90') || f[2].endsWith(':1F90')))
    .map((f) => `${f[1]} ${f[2]}`)
    .sort();
}

/** The state letter of pid in /proc (R, S, Z …), or "gone". */
export function procState(pid: number): string {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `state ${s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3)}`;
  } catch {
    return 'gone';
  }
}

/** Whether pid has exited (gone, or a zombie its parent has not reaped yet). */
export const gone = (pid: number): boolean => ['gone', 'state Z', 'state X'].includes(procState(pid));

export const logTail = (f: string): string => (fs.existsSync(f) ? `${f}:\n${fs.readFileSync(f, 'utf8').slice(-4000)}` : `(no ${f})`);

/** The cgroup directories named `name` anywhere under /sys/fs/cgroup (v1 hierarchies, the unified one, or pure v2). */
export function cgroupDirs(name: string): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    let ents: fs.Dirent[] = [];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (!e.isDirectory()) continue;
      const p = path.join(d, e.name);
      if (e.name === name) found.push(p);
      else if (depth < 5) walk(p, depth + 1);
    }
  };
  walk('/sys/fs/cgroup', 0);
  return found;
}

/** Remove a leftover cgroup of a container: its processes killed, rmdir retried while they die. */
export async function removeCgroup(dir: string): Promise<void> {
  let ents: fs.Dirent[] = [];
  try {
    ents = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of ents) if (e.isDirectory()) await removeCgroup(path.join(dir, e.name));
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
    } catch {
      /* gone */
    }
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (Date.now() > end) throw new Error(`cannot remove the cgroup ${dir}: ${String(e)}`);
    }
    await sleep(50);
  }
}
