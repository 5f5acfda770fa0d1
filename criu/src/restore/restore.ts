// `criu restore`: bring a dumped process back on its PID. A puppet with that PID is created by
// the launcher, seized, and turned into the dumped task by injected syscalls: its own memory
// goes, the dumped VMAs are mapped and filled straight from the pages file, fds are passed in
// over its transport socket, then signal state, creds and finally registers are set and it is
// let go. A failure kills the puppet: nothing half-restored is left.
import { useExternals, type Externals } from '../files/external.js';
import * as fs from 'node:fs';
import { Launcher } from './launcher.js';
import { planClocks, enterClocks, enterChildClocks, type ClockPlan } from './timens.js';
import {
  prepareCgroups,
  enterTaskCgroups,
  enterThreadCgroups,
  restoreCgroupProps,
  restoreFreezerState,
  endCgroupRestore,
  setOfCore,
} from '../cgroup/restore.js';
import { planNamespaces, restoreNamespaces, endNamespaces, rootSpawn, pidMade, startNamespaces, type NsOptions } from '../ns/index.js';
import { treePids } from '../proc/nspid.js';
import { readStat } from '../proc/stat.js';
import { joinNamespaces } from './join-ns.js';
import { Puppet } from './puppet.js';
import { loadImages, checkSupported, type DumpImages, type TaskImages } from './images.js';
import { planRestore, type RestorePlan } from './plan.js';
import type { Task } from './task.js';
import { prepareRoot, forkChild, CLONE_FILES, setSession, setGroup, die, cloneThread } from './tree.js';
import { buildMemory, setMm } from './memory.js';
import { pageStats } from './pages.js';
import { installFds, restoreFs } from './fds.js';
import { restoreProcessState, restoreThreadState, restorePosixTimers, restoreSeccomp, restoreCreds, finalRegisters } from './state.js';
import { release, killAndReap } from './finish.js';
import { DeadPidHelpers } from './proc-helpers.js';
import { preRestore, rootMade, namespacesRestored } from './scripts.js';
import { adoptCallerSession, takeTerminal, foregroundGroups, leaveTerminal } from './ctty.js';
import { FileCtx } from '../files/restore-ctx.js';
import { schedGetaffinity, schedSetaffinity, sched_getcpu } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import { progress } from '../progress.js';
import { pluginCalls } from '../hooks.js';
import { Inherited, type InheritSpec } from '../files/inherit.js';
import { setRegRestoreOptions } from '../files/reg-opts.js';

export { findHole } from './task.js';
export { splitRuns, pagemapRuns } from './pages.js';

export interface RestoreOptions {
  imagesDir: string;
  detached: boolean;
  sibling: boolean;
  pidfile?: string;
  /** where stats-restore goes (-W), the images dir by default */
  workDir?: string;
  /** --display-stats: print stats-restore once the tree runs, as CRIU does */
  displayStats?: boolean;
  /** --exec-cmd: the criu launcher exec()s it once the tree runs, as the root's parent */
  execCmd?: string[];
  /** --file-locks: the dumped file locks are taken again (without it filelocks.img is ignored, as in CRIU) */
  fileLocks?: boolean;
  /** --tcp-established / --tcp-close: connections in the images are repaired / restored closed */
  tcpEstablished?: boolean;
  tcpClose?: boolean;
  /** -j/--shell-job: a shell's job joins criu's session and terminal (restore/ctty.ts) */
  shellJob?: boolean;
  /** --skip-file-rwx-check: files reopened by path are checked without their rwx bits */
  skipFileRwxCheck?: boolean;
  /** --inherit-fd: the caller's fds that stand for objects of the images (files/inherit.ts) */
  inheritFds?: InheritSpec[];
  /** --external unix[INO] and -x/--ext-unix-sk (files/external.ts) */
  externals?: Externals;
  /** --empty-ns, --join-ns (ns/index.ts) */
  ns?: NsOptions;
}

export function restore(opts: RestoreOptions): number {
  const t0 = process.hrtime.bigint();
  pageStats.restored = pageStats.compared = pageStats.skippedCow = 0n;
  const img = loadImages(opts.imagesDir);
  checkSupported(img);
  if (opts.shellJob) adoptCallerSession(img);
  const plan = planRestore(img);
  const nsPlan = planNamespaces(img, opts.ns); // before checkTree: a tree in its own pid namespace takes its host pids where free
  checkTree(img, plan, opts.shellJob);
  const root = img.tasks[0];
  const clocks = planClocks(img);
  // the caller's fds checked and put aside before anything is made (CRIU's fdstore)
  const inherit = opts.inheritFds?.length ? new Inherited(opts.inheritFds) : undefined;
  preRestore(opts);
  const launcher = new Launcher();
  const savedAffinity = schedGetaffinity(0);
  const tasks: Task[] = [];
  const zombies: Task[] = [];
  const files = fileCtxOf(img, opts, inherit);
  useExternals(opts.externals);
  let helpers: DeadPidHelpers | undefined;
  try {
    prepareCgroups(opts.imagesDir, img.inventory.root_cg_set);
    pinToOneCpu(savedAffinity);
    faultPoint(101, 'spawn');
    enterClocks(clocks, launcher);
    const { pid, transport } = launcher.spawnPuppet({
      ...rootSpawn(root.pid),
      sibling: opts.sibling,
      transportFd: plan.transportFd,
      cloneFlags: nsPlan.cloneFlags,
    });
    pidMade(root.pid, pid);
    log.info(`Forked puppet for task ${pid}`);
    startNamespaces(nsPlan, pid, transport, !launcher.external);
    const rootPuppet = Puppet.spawned(pid, transport, plan.transportFd, !launcher.external);
    tasks.push({ p: rootPuppet, t: root, threads: [], afterInstall: [] });
    joinNamespaces(rootPuppet, nsPlan.join ?? []);
    const ownNs = rootMade(pid, img, nsPlan);
    restoreNamespaces(nsPlan, pid, (flags) => void rootPuppet.inj.must('unshare', flags));
    namespacesRestored(ownNs);
    enterTaskCgroups(pid, root.pid, setOfCore(root.core), undefined); // into its cgroups, before it forks

    // the tree: each task gets its memory, then forks its children, which inherit it
    prepareRoot(rootPuppet, plan);
    forkTree(tasks, zombies, plan, img, files, clocks);
    helpers = DeadPidHelpers.fork(tasks[0], img, files);
    pluginCalls().postForking();
    const tForked = process.hrtime.bigint();

    // each task's own state, then process groups, then creds, then registers
    const planOf = new Map(plan.order.map((t) => [t.pid, t]));
    tasks.forEach((task, i) => {
      const report = { kind: 'task', index: i + 1, of: tasks.length, pid: task.t.pid } as const;
      progress.show(`criu: restoring task ${i + 1} of ${tasks.length} (${task.t.pid})`, true, report);
      finishTask(task, plan, img, files);
    });
    progress.done();
    helpers.end();
    for (const task of tasks) setGroup(task, planOf.get(task.t.pid)!);
    foregroundGroups(tasks, files, img);
    for (const task of tasks) taskCreds(task);
    faultPoint(109, 'registers');
    for (const task of tasks) finalRegisters(task, files);
    restoreCgroupProps();

    faultPoint(110, 'release');
    const beforeRun = (): void => (files.beforeRun(), restoreFreezerState()); // the freezer's state last
    const status = release(tasks, { pid, transport }, launcher, savedAffinity, { ...opts, beforeRun }, { t0, tForked });
    leaveTerminal(files);
    return status;
  } catch (e) {
    files.markFailed();
    helpers?.kill();
    killAndReap(tasks, zombies);
    endCgroupRestore(true); // the cgroups it made go, once their tasks are gone
    throw e;
  } finally {
    files.close();
    endCgroupRestore(false);
    endNamespaces(nsPlan);
    schedSetaffinity(0, savedAffinity);
    launcher.close();
  }
}

/** Each thread's credentials, the leader's last. */
function taskCreds(task: Task): void {
  for (const th of task.threads.slice(1)) restoreCreds(th, task.t.pid, task.p.scratch, task.t.mm);
  restoreCreds(task.threads[0], task.t.pid, task.p.scratch, task.t.mm);
}

/** The fds' context, with the options that concern them. */
function fileCtxOf(img: DumpImages, opts: RestoreOptions, inherit: Inherited | undefined): FileCtx {
  const files = new FileCtx(img);
  files.fileLocks = opts.fileLocks ?? false;
  files.tcp = { established: opts.tcpEstablished ?? false, close: opts.tcpClose ?? false };
  files.shellJob = opts.shellJob ?? false;
  setRegRestoreOptions({ skipFileRwxCheck: opts.skipFileRwxCheck ?? false });
  files.inherit = inherit;
  return files;
}

function zombie(pid: number): boolean {
  try {
    return readStat(pid).state === 'Z';
  } catch {
    return false; // gone meanwhile
  }
}

/** What the tree needs before anything is made: the root leads its session, every PID is free, sessions are inherited. */
function checkTree(img: DumpImages, plan: RestorePlan, shellJob = false): void {
  const root = img.tasks[0];
  if (root.pstree.sid !== root.pid && !shellJob)
    throw new CriuError(`task ${root.pid}: session ${root.pstree.sid} is not its own`, 'a shell job is restored with -j/--shell-job');
  const sessionOk = new Map(plan.order.map((t) => [t.pid, t.sessionOk]));
  for (const t of img.tasks) {
    for (const id of [t.pid, ...t.threads.map((x) => x.tid)]) {
      if (!treePids.own && fs.existsSync(`/proc/${id}`)) {
        if (zombie(id))
          throw new CriuError(
            `task ${t.pid}: PID ${id} is held by a zombie its parent has not reaped yet`,
            'wait until it is reaped (its parent must wait for it)',
          );
        throw new CriuError(`task ${t.pid}: PID ${id} is taken by a running process`, 'stop that process, or wait until the dumped tree is fully gone');
      }
    }
    if (sessionOk.get(t.pid) === false || (!sessionOk.has(t.pid) && !sessionInherited(img, t))) {
      throw new NotSupportedError(`task ${t.pid}: session ${t.pstree.sid}, neither its own nor its parent's`);
    }
  }
}

/** For a task the fork order does not reach: whether its session is its own or its parent's. */
function sessionInherited(img: DumpImages, t: TaskImages): boolean {
  const parent = img.tasks.find((x) => x.pid === t.pstree.ppid);
  return t === img.tasks[0] || t.pstree.sid === t.pid || t.pstree.sid === parent?.pstree.sid;
}

/** One CPU for tracer and puppets: every injection is then a local wake-up (DESIGN rule 12). */
function pinToOneCpu(savedAffinity: Buffer): void {
  const cpu = Buffer.alloc(savedAffinity.length);
  const c = sched_getcpu();
  cpu[c >> 3] |= 1 << (c & 7);
  schedSetaffinity(0, cpu);
}

/** The tasks in the plan's fork order: each is forked from its parent once the parent's memory is in place. */
function forkTree(tasks: Task[], zombies: Task[], plan: RestorePlan, img: DumpImages, files: FileCtx, clocks: ClockPlan): void {
  const byPid = new Map<number, Task>([[tasks[0].t.pid, tasks[0]]]);
  const images = new Map(img.tasks.map((t) => [t.pid, t]));
  for (const pt of plan.order) {
    let task = tasks[0];
    if (pt.parent !== null) {
      const parent = byPid.get(pt.parent)!;
      enterChildClocks(clocks, parent.p);
      // a child sharing its parent's fd table (CLONE_FILES) is made sharing it again
      const cp = forkChild(parent.p, pt.pid, pt.sharesFiles ? CLONE_FILES : 0n, parent.t.pid);
      log.debug(`task ${pt.pid}: forked from ${pt.parent}`);
      task = { p: cp, t: images.get(pt.pid)!, threads: [], afterInstall: [] };
      enterTaskCgroups(cp.pid, pt.pid, setOfCore(task.t.core), setOfCore(parent.t.core));
      if (pt.zombie) {
        setSession(task, pt);
        die(task);
        zombies.push(task);
        continue;
      }
      tasks.push(task);
      byPid.set(pt.pid, task);
    }
    setSession(task, pt);
    takeTerminal(task, pt, files);
    buildMemory(task.p, task.t, pt, img, files);
  }
}

/** mm fields, files, cwd, umask, process and thread state (threads are cloned here). */
function finishTask(task: Task, plan: RestorePlan, img: DumpImages, files: FileCtx): void {
  const { p, t } = task;
  faultPoint(106, 'mm');
  setMm(p, t, img, files);

  faultPoint(107, 'files');
  installFds(p, t, plan, files);
  restoreFs(p, t, img, files);

  faultPoint(108, 'task');
  restoreProcessState(p, t);
  task.threads = [{ t: p.t, inj: p.inj, core: t.core, tid: t.pid }];
  restoreThreadState(task.threads[0], t.pid, p.scratch);
  for (const th of t.threads) {
    const nt = cloneThread(p, th.tid, th.core);
    log.debug(`task ${t.pid}: thread ${th.tid} created`);
    enterThreadCgroups(nt.t.tid, th.tid, setOfCore(th.core), setOfCore(t.core));
    task.threads.push(nt);
    restoreThreadState(nt, t.pid, p.scratch);
  }
  restorePosixTimers(p, t);
  for (const th of task.threads) restoreSeccomp(th, t.pid, p.scratch, files);
}
