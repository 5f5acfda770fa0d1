// The end of a restore: the tree let go (masks, detach, stop signals), pidfile and stats; or, on
// a failure, every task killed and reaped.
import * as fs from 'node:fs';
import { seenBy } from '../ns/index.js';
import type { Task } from './task.js';
import type { Launcher } from './launcher.js';
import { affinityMask } from './state.js';
import { pageStats } from './pages.js';
import { SIG } from '../ptrace/consts.js';
import { writeImage } from '../images/index.js';
import { tgkill, schedSetaffinity, close, waitpid, decodeWait, __WALL } from '../sys/libc.js';
import { log } from '../log.js';
import { display, formatRestoreStats } from '../stats.js';
import { postRestore, resumeNote } from './scripts.js';
import { pluginCalls } from '../hooks.js';

export interface ReleaseOptions {
  imagesDir: string;
  detached: boolean;
  pidfile?: string;
  workDir?: string;
  displayStats?: boolean;
  execCmd?: string[];
  /** right before the tree is let go (CRIU's network_unlock, then TCP repair off) */
  beforeRun?: () => void;
}

/** Every task goes free, children first, then the pidfile and stats-restore; gives the exit status. */
export function release(
  tasks: Task[],
  root: { pid: number; transport: number },
  launcher: Launcher,
  savedAffinity: Buffer,
  opts: ReleaseOptions,
  times: { t0: bigint; tForked: bigint },
): number {
  const { pid, transport } = root;
  postRestore();
  opts.beforeRun?.();
  // --exec-cmd: the launcher, the root's parent, becomes the command once we exit 0 (CRIU
  // exec()s in the process that forked the root); else without -d it waits for the root
  if (opts.execCmd) launcher.execAfter(opts.execCmd);
  else if (!opts.detached && launcher.external) launcher.waitRoot(pid);
  // the late trigger for devices, every task still traced, as CRIU's restore_root_task runs it
  log.info('Run late stage hook from criu master for external devices');
  for (const task of tasks) pluginCalls().resumeDevicesLate(task.p.pid);
  resumeNote('pre-resume');
  for (const task of [...tasks].reverse()) {
    // every thread gets its own mask back: the dumped one, or the one criu was started with
    for (const th of task.threads) schedSetaffinity(th.t.tid, affinityMask(th.core, savedAffinity));
    for (const th of task.threads.slice(1)) th.t.detach(0);
    // a stopped task gets its stop signal while still traced: it stops before running anything
    if (task.t.core.tc?.task_state === 3) tgkill(task.p.pid, task.p.pid, task.t.core.tc.stop_signo || SIG.STOP);
    task.p.t.detach(0);
  }
  close(transport);
  tasks.length = 0;
  // only now: whoever waits for the pidfile may signal the tree at once
  if (opts.pidfile) fs.writeFileSync(opts.pidfile, `${pid}\n`);
  const us = (a: bigint, b: bigint): number => Number((b - a) / 1000n);
  const rstats = {
    pages_compared: pageStats.compared,
    pages_skipped_cow: pageStats.skippedCow,
    forking_time: us(times.t0, times.tForked),
    restore_time: us(times.t0, process.hrtime.bigint()),
    pages_restored: pageStats.restored,
  };
  writeImage(opts.workDir ?? opts.imagesDir, 'stats-restore', [{ restore: rstats }]);
  if (opts.displayStats) display(formatRestoreStats(rstats));
  log.info(`Restore finished successfully. Tasks resumed.`);
  resumeNote('post-resume');
  if (!opts.detached && !launcher.external) return waitRootHere(pid);
  return 0;
}

/**
 * A failed restore: children first; each is reaped by its parent puppet right away, so that no
 * zombie waits for PID 1 (which reaps orphans lazily) once the parents are gone too.
 */
export function killAndReap(tasks: Task[], zombies: Task[]): void {
  for (const task of [...tasks, ...zombies].reverse()) {
    if (!zombies.includes(task)) task.p.kill();
    const parent = tasks.find((x) => x.t.pid === task.t.pstree.ppid);
    if (parent) {
      try {
        // late in a restore the parent has its own mask back: a SIGCHLD would stop the call
        parent.p.t.setSigmask(~0n);
        parent.p.inj.call('wait4', seenBy(task.t.pid, parent.t.pid), 0, 0x40000000 /* __WALL */, 0);
      } catch {
        /* parent gone */
      }
    }
  }
}

function waitRootHere(pid: number): number {
  const st = decodeWait(waitpid(pid, __WALL).status);
  if (st.kind === 'exited') return st.code;
  if (st.kind === 'signaled') return 128 + st.sig;
  return 1;
}
