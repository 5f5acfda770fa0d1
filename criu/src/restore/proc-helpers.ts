// Helper tasks for /proc files of dead tasks (CRIU's collect_remap_dead_process, TASK_HELPER):
// a PROCFS remap names a pid whose /proc files the tree held after it had exited. A helper is
// forked on that pid from the root, in the root's session and group (as CRIU's helpers), once the
// tree is forked and before any fd is made; the files are opened by their /proc/PID paths while
// it lives (files/procfile.ts, reg.ts), and once every fd table is in place it exits and the root
// reaps it (the SIGCHLD that queued is taken back, unless one was pending at dump time), so that
// the fds name a task that is gone, as at dump time.
import type { Task } from './task.js';
import type { DumpImages } from './images.js';
import type { Puppet } from './puppet.js';
import type { FileCtx } from '../files/restore-ctx.js';
import { forkChild, die, drainSigchld } from './tree.js';
import { deadPids, REMAP_FPATH } from '../files/procfile.js';
import { treePids } from '../proc/nspid.js';
import { errnoName } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { existsInTree, treeRootPid } from '../sys/tree-root.js';

/** A helper's core: exit status 0, nothing else. */
const HELPER_TC = { task_state: 2, exit_code: 0, personality: 0, flags: 0, blk_sigset: 0n, comm: '' };

export class DeadPidHelpers {
  private constructor(
    private readonly root: Task,
    private helpers: { pid: number; p: Puppet }[],
  ) {}

  /** A helper on each dead pid of the images' PROCFS remaps, forked from the root. */
  static fork(root: Task, img: DumpImages, files: FileCtx): DeadPidHelpers {
    const pids = deadPids(files);
    const h = new DeadPidHelpers(root, []);
    if (!pids.length) return h;
    if (treePids.own && treeRootPid() === null)
      throw new NotSupportedError(`task ${root.t.pid}: /proc files of dead tasks (${pids.join(', ')}) in a tree with a pid namespace of its own`, {
        task: root.t.pid,
        object: REMAP_FPATH,
      });
    const ours = new Map<number, number>();
    for (const t of img.tasks) for (const id of [t.pid, ...t.threads.map((x) => x.tid)]) ours.set(id, t.pid);
    for (const pid of pids) {
      const who = `task ${root.t.pid}`;
      const owner = ours.get(pid);
      // CRIU's dead_pid_conflict: the pid of a dead task that a task or thread of the tree has now
      if (owner !== undefined)
        throw new CriuError(`${who}: /proc/${pid} files of a dead task are in the images, and task ${owner} of the tree has PID ${pid}`, {
          task: root.t.pid,
          object: `/proc/${pid}`,
          hint: 'the images are inconsistent (CRIU: Conflict with a dead task with the same PID)',
        });
      if (existsInTree(`/proc/${pid}`))
        throw new CriuError(`${who}: the /proc/${pid} files the tree holds need a helper task on PID ${pid}, which a running process has`, {
          task: root.t.pid,
          object: `/proc/${pid}`,
          hint: 'stop that process, or restore into a new pid namespace',
        });
      h.helpers.push({ pid, p: forkChild(root.p, pid, 0n, root.t.pid) });
      log.debug(`${who}: helper ${pid} forked for the /proc files of a dead task`);
    }
    return h;
  }

  /** Every fd is in place: the helpers exit and the root reaps them. */
  end(): void {
    const { p, t } = this.root;
    for (const h of this.helpers) {
      die({ p: h.p, t: { pid: h.pid, core: { mtype: 1, tc: HELPER_TC } } });
      const r = p.inj.call('wait4', h.pid, 0, 0x40000000 /* __WALL */, 0);
      if (Number(r) !== h.pid) throw new CriuError(`task ${t.pid}: cannot reap the helper on PID ${h.pid}: ${r < 0n ? errnoName(Number(-r)) : r}`);
    }
    if (this.helpers.length) drainSigchld(p, t);
    this.helpers = [];
  }

  /** A failed restore: helpers still alive are killed (the root, killed too, leaves them to be reaped by init). */
  kill(): void {
    for (const h of this.helpers) h.p.kill();
    this.helpers = [];
  }
}
