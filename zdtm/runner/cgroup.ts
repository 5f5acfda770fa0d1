// Desc flag "cgroup": the program starts in a cgroup v2 of its own, delegated to the tree's root
// user (the host's root, or the user namespace's in flavor uns), where the host mounts cgroup2;
// after each dump the cgroups the program made below it are removed, so that the restore has to
// make them again (zdtm/static/cgroup_props.c).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** where the host has cgroup2 mounted whole (criu/test/cgroups.spec.ts too) */
export function v2Mount(): string {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = l.split(' - ');
    if (post?.startsWith('cgroup2 ') && pre.split(' ')[3] === '/') return pre.split(' ')[4];
  }
  throw new Error('this machine has no cgroup2 mount (the cgroup tests need cgroup v2, mounted anywhere)');
}

/** the cgroups below dir (deepest first) removed, the tasks left in them killed; dir too with `self` */
export function removeBelow(dir: string, self: boolean): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeBelow(path.join(dir, e.name), true);
  if (!self) return;
  for (let i = 0; ; i++) {
    const pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    try {
      fs.rmdirSync(dir);
      return;
    } catch (e) {
      if (i > 100) throw new Error(`cannot remove the test's cgroup ${dir}: ${(e as Error).message}`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** a fresh cgroup for the test, delegated to uid; the command wrapped to start in it */
export function testCgroup(name: string, uid: number, cmd: string[]): { dir: string; cmd: string[] } {
  const dir = path.join(v2Mount(), name);
  removeBelow(dir, true);
  fs.mkdirSync(dir);
  for (const f of ['', 'cgroup.procs', 'cgroup.threads', 'cgroup.subtree_control']) fs.chownSync(path.join(dir, f), uid, uid);
  return { dir, cmd: ['/bin/sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...cmd] };
}
