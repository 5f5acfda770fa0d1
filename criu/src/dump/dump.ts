// `criu dump`: freeze the tree, collect every task, write the images, then kill the tree (or
// let it run with --leave-running). Any failure releases every task exactly as it was.
// The steps live in their own modules: freeze.ts (holding and letting go of the tree),
// collect.ts (each task's state), task-files.ts (what it has open and shares), memory.ts (its
// pages), entries.ts and write.ts (the images).
import { useExternals, type Externals } from '../files/external.js';
import * as fs from 'node:fs';
import { freezeTree, release, finish, checkpointDevices } from './freeze.js';
import { pluginCalls } from '../hooks.js';
import { collectTask, Injections, type TaskState } from './collect.js';
import { collectFiles } from './task-files.js';
import { FILES } from '../files/registry.js';
import { configureRegDump } from '../files/external-file.js';
import { dumpPages, type MemStats } from './memory.js';
import { ImageDir, writeImages, uuid4 } from './write.js';
import { buildDumpStats, buildInventory, type NsIds } from './entries.js';
import { noteTree } from '../ns/index.js';
import { collectCgroups, endCgroupDump } from '../cgroup/dump.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import { preDump, queryExtFiles, postDump, releaseEarly } from './scripts.js';
import { progress } from '../progress.js';
import { display, formatDumpStats } from '../stats.js';
import type { DumpHookArgs } from '../files/kind.js';
import type { Frozen } from './freeze.js';
import { defaultLock, lockMethodValue, recordedLock, type LockMethod } from '../net/lock.js';
import { dumpLockUsed } from '../files/tcp.js';
import { setDumpEmptyNet } from '../ns/index.js';
import { writeImage, type DumpStatsEntry } from '../images/index.js';

export interface DumpOptions {
  pid: number;
  imagesDir: string;
  /** -W: where stats-dump goes (CRIU's work dir), the images dir by default */
  workDir?: string;
  leaveRunning: boolean;
  leaveStopped: boolean;
  /** how long freezing the tree may take (--timeout) */
  timeoutMs?: number;
  /** a freezer cgroup holding the tree (--freeze-cgroup): frozen first, so nothing moves while tasks are seized */
  freezeCgroup?: string;
  ghostLimit?: number;
  /** --tcp-established, --tcp-close, --skip-in-flight and --network-lock */
  tcpEstablished?: boolean;
  tcpClose?: boolean;
  skipInFlight?: boolean;
  networkLock?: LockMethod;
  /** --file-locks: dump the locks held through the tree's fds (without it they are refused) */
  fileLocks?: boolean;
  /** --external unix[INO] and -x/--ext-unix-sk (files/external.ts) */
  externals?: Externals;
  /** --display-stats: print stats-dump at the end, as CRIU does */
  displayStats?: boolean;
  /** -j/--shell-job: the root may be a shell's job (files/tty.ts finishTtyDump) */
  shellJob?: boolean;
  /** --link-remap, --evasive-devices, --external (files/reg-opts.ts) */
  linkRemap?: boolean;
  evasiveDevices?: boolean;
  external?: string[];
  /** --empty-ns net: the tree's network namespace is dumped without its contents (ns/net.ts) */
  emptyNs?: string[];
}

const now = (): bigint => process.hrtime.bigint();
const usSince = (t: bigint, until = now()): number => Number((until - t) / 1000n);

export function dump(opts: DumpOptions): void {
  const t0 = now();
  configureRegDump(opts);
  setDumpEmptyNet(opts.emptyNs?.includes('net') ?? false, opts.external ?? []);
  fs.mkdirSync(opts.imagesDir, { recursive: true });
  log.info(`Dumping processes (pid: ${opts.pid})`);
  preDump(opts.pid, opts.imagesDir);
  useExternals(opts.externals);
  const runId = uuid4();
  const lockMethod = opts.networkLock ?? defaultLock();
  const net = { tcpEstablished: opts.tcpEstablished ?? false, tcpClose: opts.tcpClose ?? false, lockMethod, runId };
  const frozen = freeze(opts, net);
  const tFrozen = now();
  log.info(`Frozen ${frozen.length} task(s), ${frozen.reduce((n, f) => n + f.tracees.length, 0)} thread(s)`);
  const injections = new Injections();
  const out = new ImageDir(opts.imagesDir);
  let released = false;
  let dumpStats: DumpStatsEntry;
  try {
    checkpointDevices(frozen);
    queryExtFiles(opts.pid);
    // everything of every task, while the tree is frozen
    faultPoint(2, 'collect');
    const live = frozen.filter((f) => !f.zombie);
    const tasks: TaskState[] = live.map((f) => collectTask(f, injections));

    // files: per task the exe, mapped files, fds, cwd and root, ids in CRIU's order
    faultPoint(3, 'files');
    const tf = collectFiles(tasks, opts.ghostLimit ?? 1 << 20, {
      tcpEstablished: opts.tcpEstablished ?? false,
      skipInFlight: opts.skipInFlight ?? false,
      fileLocks: opts.fileLocks ?? false,
      tcpClose: net.tcpClose,
      shellJob: opts.shellJob ?? false,
      treeLivesOn: opts.leaveRunning || opts.leaveStopped,
    });

    // every pid as the images hold it, read while the tree is frozen (ns/pid.ts)
    // (and every thread's cgroups with, but with --manage-cgroups=ignore, their directories: cgroup/)
    noteTree(frozen.map((f) => ({ pid: f.pid, tids: f.tracees.map((t) => t.tid), zombie: !!f.zombie })));
    collectCgroups(live.map((f) => ({ pid: f.pid, tids: f.tracees.map((t) => t.tid) })));

    // memory: one pages file per task, in pstree order, then the shared anonymous objects
    faultPoint(4, 'memory');
    const tm = now();
    const mem: MemStats = { pagesScanned: 0n, pagesWritten: 0n, pagesLazy: 0n };
    const pages = dumpPages(
      opts.imagesDir,
      tf.perTask.map((t) => ({ pid: t.task.pid, gadget: t.task.gadget, vmas: t.vmas })),
      live.map((f) => f.tracees[0]),
      tf.lastPagesId,
      mem,
      out.written,
      injections,
    );
    const memdumpUs = usSince(tm);
    progress.done();
    pluginCalls().dumpDevicesLate(opts.pid);
    log.info(`Dumped ${mem.pagesWritten} pages of ${mem.pagesScanned} scanned (${memdumpUs} us)`);

    // everything is read: a tree that runs on (-R) is let go before the images are encoded
    // and written (a failure from here on leaves it running, as it was); one that is killed or
    // left stopped waits until they are all safe
    let tReleased: bigint | undefined;
    if (releaseEarly(opts.leaveRunning)) {
      pluginCalls().finish(0); // the plugins' exit while the tree is held (CRIU's cr_plugin_fini)
      release(frozen, false);
      released = true;
      tReleased = now();
    }

    faultPoint(5, 'images');
    writeImages(out, frozen, tasks, tf, pages);
    const times = { freezing: usSince(t0, tFrozen), frozen: usSince(tFrozen, tReleased), memdump: memdumpUs };
    dumpStats = buildDumpStats(times, { scanned: mem.pagesScanned, written: mem.pagesWritten });
    writeImage(opts.workDir ?? opts.imagesDir, 'stats-dump', [{ dump: dumpStats }]);
    faultPoint(6, 'inventory');
    out.put('inventory.img', 'INVENTORY', [inventoryOf(tf.namespaces.tool, runId, opts.networkLock, lockMethod, net.tcpClose)]);
  } catch (e) {
    injections.undo();
    pluginCalls().finish(-1);
    if (!released) release(frozen, false);
    out.removeAll();
    FILES.afterDump({ imagesDir: opts.imagesDir, ok: false });
    endCgroupDump();
    throw e;
  }
  postDump(frozen, opts, released); // CRIU: post-dump scripts, then cr_plugin_fini
  pluginCalls().finish(0);
  finish(frozen, opts);
  FILES.afterDump({ imagesDir: opts.imagesDir, ok: true });
  if (opts.displayStats) display(formatDumpStats(dumpStats));
}

/** inventory.img's entry; the lock method as recordedLock says (a default that locked nothing is CRIU's iptables). */
function inventoryOf(tool: Parameters<typeof buildInventory>[0], runId: string, given: LockMethod | undefined, used: LockMethod, tcpClose: boolean) {
  return buildInventory(tool, runId, { networkLockMethod: lockMethodValue(recordedLock(given, used, dumpLockUsed())), tcpClose });
}

/** The fd kinds' holds (network lock) first, then the tree; the holds are let go if the freeze fails. */
function freeze(opts: DumpOptions, net: DumpHookArgs['net']): Frozen[] {
  FILES.beforeFreeze({ pid: opts.pid, imagesDir: opts.imagesDir, net });
  try {
    faultPoint(1, 'freeze');
    return freezeTree(opts.pid, opts.timeoutMs ?? 10_000, opts.freezeCgroup);
  } catch (e) {
    FILES.afterDump({ imagesDir: opts.imagesDir, ok: false });
    throw e;
  }
}

export { uuid4 };
export type { NsIds };
