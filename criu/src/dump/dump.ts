// `criu dump`: freeze the tree, collect every task, write the images, then kill the tree (or
// let it run with --leave-running). Any failure releases every task exactly as it was.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tracee, TaskGoneError, waitStop } from '../ptrace/tracee.js';
import { PTRACE_O, SIG } from '../ptrace/consts.js';
import { Injector, findSyscallInsn } from '../ptrace/inject.js';
import { listTids, collectTree, readStat, timensOffsets, type SmapsVma, type TaskNode } from '../proc/index.js';
import { collectThread, collectProcessInside, collectProcessOutside, type TaskState } from './collect.js';
import { toVmaRecs, VMA, type VmaRec } from './vmas.js';
import { dumpMemory, dumpShmem, VmspliceMover, type MemStats, type PagemapRec, type ShmemObject } from './memory.js';
import { FileTable } from '../files/table.js';
import { ExtraImages } from '../files/kind.js';
import { dumpFds } from '../files/dump-fds.js';
import { writeExtraImages } from '../files/extra.js';
import { FILES } from '../files/registry.js';
import { buildCore, buildMm, buildIds, buildInventory, Namespaces, SeccompImage, type NsIds } from './entries.js';
import { writeImage } from '../images/index.js';
import { arch } from '../sys/arch.js';
import { tryKill, kcmp, KCMP, SysError, E, clockNs, CLOCK } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import { progress } from '../progress.js';
import { display, formatDumpStats, type DumpStats } from '../stats.js';

export interface DumpOptions {
  pid: number;
  imagesDir: string;
  leaveRunning: boolean;
  leaveStopped: boolean;
  /** how long freezing the tree may take (--timeout) */
  timeoutMs?: number;
  /** a freezer cgroup holding the tree (--freeze-cgroup): frozen first, so nothing moves while tasks are seized */
  freezeCgroup?: string;
  ghostLimit?: number;
  /** --display-stats: print stats-dump at the end, as CRIU does */
  displayStats?: boolean;
}

interface Frozen { pid: number; ppid: number; tracees: Tracee[]; stopSig?: number; zombie?: { exitCode: number; comm: string; pgid: number; sid: number } }

/** Seize and stop every thread of every task of the tree, parents first, until no new task shows up. */
function freeze(rootPid: number, timeoutMs: number): Frozen[] {
  const deadline = Date.now() + timeoutMs;
  const frozen: Frozen[] = [];
  const byPid = new Map<number, Frozen>();
  const forget = (f: Frozen): void => { frozen.splice(frozen.indexOf(f), 1); byPid.delete(f.pid); };
  try {
    for (let round = 0; ; round++) {
      if (Date.now() > deadline || round > 64) {
        throw new CriuError(`task ${rootPid}: the tree did not hold still within ${timeoutMs / 1000} s (${frozen.length} tasks frozen so far)`, 'raise --timeout, or stop what keeps forking');
      }
      const tree = walkTree(rootPid);
      const fresh = tree.all.filter((n: TaskNode) => !byPid.has(n.pid));
      const tidsOf = (pid: number): number[] => { try { return listTids(pid); } catch { return []; } };
      const moreThreads = frozen.some((f) => !f.zombie && tidsOf(f.pid).some((t) => !f.tracees.some((x) => x.tid === t)));
      if (!fresh.length && !moreThreads) break;
      for (const node of fresh) {
        const f: Frozen = { pid: node.pid, ppid: node.ppid, tracees: [] };
        if (!markZombie(f, rootPid)) {
          try { readStat(node.pid); } catch { continue; } // ended since the listing: not part of the tree
        }
        frozen.push(f);
        byPid.set(node.pid, f);
      }
      for (const f of [...frozen]) {
        if (f.zombie) continue;
        let tids: number[];
        try { tids = listTids(f.pid); } catch { tids = []; }
        for (const tid of tids) {
          if (f.tracees.some((x) => x.tid === tid)) continue;
          let t: Tracee;
          try {
            t = Tracee.seize(tid, PTRACE_O.SUSPEND_SECCOMP);
            log.debug(`\tSeizing ${f.pid}'s ${tid} thread`);
            const s = t.stop();
            if (s.kind === 'group-stop') {
              // a stopped task (SIGSTOP and friends): a traced task in group stop re-enters it
              // on every resume, so the stop is ended with SIGCONT (whose delivery is
              // suppressed), the task is dumped as TASK_STOPPED and stopped again on release
              if (!f.stopSig) f.stopSig = s.sig;
              tryKill(f.pid, SIG.CONT);
              t.interrupt();
              t.cont(0);
              for (;;) {
                const n = waitStop(tid);
                if (n.kind === 'interrupt') break;
                t.cont(n.kind === 'signal' && n.sig !== SIG.CONT ? n.sig : 0);
              }
            }
          } catch (e) {
            // it ended between the listing and here: a thread is simply gone, a task is a
            // zombie now (the seize then fails with EPERM) or gone
            if (!(e instanceof TaskGoneError || (e instanceof SysError && e.errno === E.EPERM))) throw e;
            if (tid === f.pid && !f.tracees.length && !markZombie(f, rootPid)) forget(f);
            if (f.zombie || !byPid.has(f.pid)) break;
            continue;
          }
          f.tracees.push(t);
        }
        f.tracees.sort((a, b) => (a.tid === f.pid ? -1 : b.tid === f.pid ? 1 : a.tid - b.tid));
      }
      // a task reaped by its parent before the parent was frozen is not part of the tree; nor a
      // zombie its parent reaped before it was frozen (once the parent is frozen none can go)
      for (const f of [...frozen]) {
        if (f.zombie) {
          let st;
          try { st = readStat(f.pid); } catch { st = null; }
          if (st?.state !== 'Z') forget(f);
          continue;
        }
        if (f.tracees.length) continue;
        if (f.pid === rootPid) throw new CriuError(`task ${rootPid}: gone before it could be seized`);
        forget(f);
      }
    }
    return frozen;
  } catch (e) {
    release(frozen, false);
    if (e instanceof TaskGoneError || (e as { code?: string }).code === 'ESRCH') {
      throw new CriuError(`task ${rootPid}: cannot freeze the tree: ${(e as Error).message}`, 'is the PID right and the process alive?');
    }
    throw e;
  }
}

/** A freezer cgroup, v1 (freezer.state) or v2 (cgroup.freeze). */
class Freezer {
  readonly v2: boolean;
  constructor(readonly dir: string) {
    this.v2 = fs.existsSync(path.join(dir, 'cgroup.freeze'));
    if (!this.v2 && !fs.existsSync(path.join(dir, 'freezer.state'))) {
      throw new CriuError(`--freeze-cgroup ${dir}: not a freezer cgroup (no freezer.state nor cgroup.freeze)`);
    }
  }
  private frozen(): boolean {
    if (this.v2) return /^frozen 1$/m.test(fs.readFileSync(path.join(this.dir, 'cgroup.events'), 'utf8'));
    return fs.readFileSync(path.join(this.dir, 'freezer.state'), 'utf8').trim() === 'FROZEN';
  }
  freeze(deadline: number): void {
    fs.writeFileSync(path.join(this.dir, this.v2 ? 'cgroup.freeze' : 'freezer.state'), this.v2 ? '1' : 'FROZEN');
    while (!this.frozen()) {
      if (Date.now() > deadline) { this.thaw(); throw new CriuError(`--freeze-cgroup ${this.dir}: did not freeze in time`, 'raise --timeout'); }
      nap(5);
    }
  }
  thaw(): void {
    fs.writeFileSync(path.join(this.dir, this.v2 ? 'cgroup.freeze' : 'freezer.state'), this.v2 ? '0' : 'THAWED');
  }
  pids(): Set<number> {
    return new Set(fs.readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number));
  }
}

/**
 * --freeze-cgroup: freeze the cgroup, seize and interrupt every thread of the tree while nothing
 * can fork or exit, thaw it, and collect the interrupt stops.
 */
function freezeWithCgroup(rootPid: number, dir: string, timeoutMs: number): Frozen[] {
  const fz = new Freezer(dir);
  const frozen: Frozen[] = [];
  fz.freeze(Date.now() + timeoutMs);
  try {
    const inCg = fz.pids();
    for (const node of walkTree(rootPid).all) {
      if (!inCg.has(node.pid)) throw new CriuError(`task ${node.pid}: not in the freezer cgroup ${dir}`, 'the whole tree must be in the cgroup given to --freeze-cgroup');
      const f: Frozen = { pid: node.pid, ppid: node.ppid, tracees: [] };
      frozen.push(f);
      if (markZombie(f, rootPid)) continue;
      for (const tid of listTids(node.pid)) {
        const t = Tracee.seize(tid, PTRACE_O.SUSPEND_SECCOMP);
        t.interrupt();
        f.tracees.push(t);
      }
    }
  } catch (e) {
    release(frozen, false);
    fz.thaw();
    throw e;
  }
  fz.thaw();
  try {
    for (const f of frozen) {
      for (const t of f.tracees) {
        for (;;) {
          const s = waitStop(t.tid);
          if (s.kind === 'interrupt') break;
          if (s.kind === 'group-stop') throw new NotSupportedError(`task ${t.tid}: stopped (group stop) in a frozen cgroup`);
          t.cont(s.kind === 'signal' ? s.sig : 0);
        }
      }
      f.tracees.sort((a, b) => (a.tid === f.pid ? -1 : b.tid === f.pid ? 1 : a.tid - b.tid));
    }
  } catch (e) {
    release(frozen, false);
    throw e;
  }
  log.info(`Froze cgroup ${dir} and seized ${frozen.length} task(s)`);
  return frozen;
}

/** The tree under rootPid; threads and tasks that end during the walk make it start over. */
function walkTree(rootPid: number): ReturnType<typeof collectTree> {
  for (let i = 0; ; i++) {
    try {
      return collectTree(rootPid);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (i < 20 && (code === 'ENOENT' || code === 'ESRCH') && fs.existsSync(`/proc/${rootPid}`)) continue;
      throw e;
    }
  }
}

/** Sleeps ms milliseconds, holding the (tracer) thread. */
const nap = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); };

/** If the task is a zombie, note its exit status and say so. */
function markZombie(f: Frozen, rootPid: number): boolean {
  let st;
  try { st = readStat(f.pid); } catch { return false; }
  if (st.state !== 'Z') return false;
  // a dead main thread with others still running is a zombie leader, not a zombie task (the
  // threads of a process in exit_group() go within moments: only those that stay count)
  const tidsLeft = (): number[] => { try { return listTids(f.pid).filter((t) => t !== f.pid); } catch { return []; } };
  let others = tidsLeft();
  for (const end = Date.now() + 200; others.length && Date.now() < end; others = tidsLeft()) nap(5);
  if (others.length) {
    throw new NotSupportedError(`task ${f.pid}: its main thread has exited while thread${others.length > 1 ? 's' : ''} ${others.join(', ')} run${others.length > 1 ? '' : 's'} on`,
      'a process whose main thread called pthread_exit() cannot be dumped yet');
  }
  if (f.pid === rootPid) throw new CriuError(`task ${rootPid}: is a zombie`, 'there is nothing left to dump');
  f.zombie = { exitCode: st.exit_code, comm: st.comm, pgid: st.pgrp, sid: st.session };
  return true;
}

/** A random (version 4) UUID from /dev/urandom: loading node:crypto for it costs ~25 ms. */
export function uuid4(): string {
  const b = Buffer.alloc(16);
  const fd = fs.openSync('/dev/urandom', 'r');
  try { fs.readSync(fd, b, 0, 16, null); } finally { fs.closeSync(fd); }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function release(frozen: Frozen[], kill: boolean): void {
  for (const f of frozen) {
    if (kill) tryKill(f.pid, 9);
    else if (f.stopSig) tryKill(f.pid, f.stopSig);
    for (const t of f.tracees) {
      try { t.detach(0); } catch { /* gone */ }
    }
  }
}

/** CRIU's kernel-object ids: one counter per kind, the tool itself has 1, sharing found by kcmp. */
class ObjIds {
  private seen: Record<string, { pid: number; id: number }[]> = { VM: [], FILES: [], FS: [], SIGHAND: [] };
  private next: Record<string, number> = { VM: 2, FILES: 2, FS: 2, SIGHAND: 2 };
  id(kind: 'VM' | 'FILES' | 'FS' | 'SIGHAND', pid: number): number {
    for (const s of this.seen[kind]) {
      try { if (kcmp(pid, s.pid, KCMP[kind]) === 0) return s.id; } catch { /* not comparable: different */ }
    }
    const id = this.next[kind]++;
    this.seen[kind].push({ pid, id });
    return id;
  }
}

export function dump(opts: DumpOptions): void {
  const t0 = process.hrtime.bigint();
  const dir = opts.imagesDir;
  fs.mkdirSync(dir, { recursive: true });
  log.info(`Dumping processes (pid: ${opts.pid})`);
  FILES.beforeFreeze({ pid: opts.pid, imagesDir: dir });
  faultPoint(1, 'freeze');
  const frozen = opts.freezeCgroup
    ? freezeWithCgroup(opts.pid, opts.freezeCgroup, opts.timeoutMs ?? 10_000)
    : freeze(opts.pid, opts.timeoutMs ?? 10_000);
  const tFrozen = process.hrtime.bigint();
  log.info(`Frozen ${frozen.length} task(s), ${frozen.reduce((n, f) => n + f.tracees.length, 0)} thread(s)`);
  let injectors: Injector[] = [];
  let released = false;
  let dumpStats: DumpStats | null = null;
  const memStats: MemStats = { pagesScanned: 0n, pagesWritten: 0n, pagesLazy: 0n };
  const written: string[] = [];
  const put = (name: string, entries: object[], blobs?: (Buffer | undefined)[]): void => {
    writeImage(dir, name, entries, { blobs });
    written.push(name);
    log.debug(`Wrote ${name} (${entries.length} entries)`);
  };
  let memdumpUs = 0;
  try {
    // everything of every task, while the tree is frozen
    faultPoint(2, 'collect');
    const tasks: TaskState[] = [];
    const live = frozen.filter((f) => !f.zombie);
    for (const f of live) {
      const outside = collectProcessOutside(f.pid);
      log.info(`Collected task ${f.pid} (${outside.stat.comm}): ${outside.vmas.length} VMAs`);
      const gadget = findSyscallInsn(f.pid);
      const inj = new Injector(f.tracees[0], gadget);
      injectors = [inj];
      inj.begin();
      const scratch = inj.mapScratch();
      const area = inj.mapBatchArea();
      faultPoint(7, 'inject');
      const inside = collectProcessInside(inj, scratch);
      const threads = [collectThread(f.pid, f.tracees[0], inj, scratch)];
      for (const t of f.tracees.slice(1)) {
        const ti = new Injector(t, gadget);
        ti.batchArea = area;
        injectors.push(ti);
        ti.begin();
        threads.push(collectThread(f.pid, t, ti, scratch));
        ti.end();
        ti.batchArea = null;
        injectors.pop();
      }
      inj.unmapBatchArea();
      inj.unmapScratch();
      inj.end();
      injectors = [];
      // the SIGCONT this tool sent to end a group stop is not the task's own
      const ours = (si: Buffer): boolean => si.readInt32LE(0) === SIG.CONT && si.readInt32LE(16) === process.pid;
      const sharedPending = f.tracees[0].peekSiginfo(true).filter((si) => !(f.stopSig && ours(si)));
      tasks.push({ ...outside, ...inside, threads, sharedPending, gadget, stopSig: f.stopSig });
    }

    // files: per task the exe, mapped files, fds, cwd and root, ids in CRIU's order
    faultPoint(3, 'files');
    const files = new FileTable();
    const extra = new ExtraImages();
    const objIds = new ObjIds();
    const namespaces = new Namespaces();
    // pages files: one per task first (pages-1..N), then memfd and shared-memory contents
    let lastPagesId = tasks.length;
    const allocPagesId = (): number => ++lastPagesId;
    const perTask = tasks.map((task) => {
      const pid = task.pid;
      const ns = namespaces.of(pid); // the tool's namespaces, or a time namespace of the tree's own
      const exeId = files.dumpPath(task.exe, `/proc/${pid}/exe`);
      const vmas: VmaRec[] = toVmaRecs(pid, task.vmas, (v: SmapsVma) =>
        files.dumpPath(v.path, `/proc/${pid}/map_files/${v.start.toString(16)}-${v.end.toString(16)}`),
      (v: SmapsVma, flags: number) => files.dumpMapped({ extra, allocPagesId }, { pid, start: v.start, end: v.end, name: v.name, flags }));
      const ids = {
        ...buildIds(ns), vm_id: objIds.id('VM', pid), files_id: objIds.id('FILES', pid),
        fs_id: objIds.id('FS', pid), sighand_id: objIds.id('SIGHAND', pid),
      };
      const fdinfos = dumpFds(pid, files, extra, opts.ghostLimit ?? 1 << 20, allocPagesId);
      const cwdId = files.dumpPlace(extra, 'cwd', task.cwd, `/proc/${pid}/cwd`);
      const rootId = files.dumpPlace(extra, 'root', task.root, `/proc/${pid}/root`);
      return { task, exeId, vmas, ids, fdinfos, cwdId, rootId };
    });

    for (const finish of extra.deferred.values()) finish();

    // memory: one pages file per task, in pstree order
    faultPoint(4, 'memory');
    const tm = process.hrtime.bigint();
    const pagemaps: PagemapRec[][] = [];
    perTask.forEach((t, i) => {
      const pagesName = `pages-${i + 1}.img`;
      const pagesFd = fs.openSync(path.join(dir, pagesName), 'w', 0o600);
      written.push(pagesName);
      // Pages go through batched process_vm_readv by default (/proc/PID/mem for what it cannot
      // reach): on this kernel that measured faster than vmsplice into a pipe spliced to the file
      // (0.7-2 GB/s); CRIU_PAGE_MOVER=vmsplice picks the zero-copy path (criu/ARCHITECTURE.md)
      let inj: Injector | undefined;
      let mover: VmspliceMover | undefined;
      if (process.env.CRIU_PAGE_MOVER === 'vmsplice') {
        inj = new Injector(live[i].tracees[0], t.task.gadget);
        injectors = [inj];
        inj.begin();
        inj.mapScratch();
        mover = new VmspliceMover(inj);
      }
      try {
        pagemaps.push(dumpMemory(t.task.pid, t.vmas, pagesFd, memStats, mover));
      } finally {
        mover?.close();
        fs.closeSync(pagesFd);
      }
      if (inj) {
        inj.unmapScratch();
        inj.end();
        injectors = [];
      }
    });
    // shared anonymous objects: once each, after the tasks' own pages
    const shmems = new Map<number, ShmemObject>();
    for (const t of perTask) {
      for (const v of t.vmas) if (v.status & VMA.ANON_SHARED && !shmems.has(v.shmid)) shmems.set(v.shmid, { shmid: v.shmid, pid: t.task.pid, start: v.start, end: v.end });
    }
    let pagesId = lastPagesId;
    const shmemMaps: { shmid: number; pagesId: number; entries: PagemapRec[] }[] = [];
    for (const o of shmems.values()) {
      const id = ++pagesId;
      const pagesName = `pages-${id}.img`;
      const pagesFd = fs.openSync(path.join(dir, pagesName), 'w', 0o600);
      written.push(pagesName);
      try {
        shmemMaps.push({ shmid: o.shmid, pagesId: id, entries: dumpShmem(o, pagesFd, memStats) });
      } finally {
        fs.closeSync(pagesFd);
      }
    }
    memdumpUs = Number((process.hrtime.bigint() - tm) / 1000n);
    progress.done();
    log.info(`Dumped ${memStats.pagesWritten} pages of ${memStats.pagesScanned} scanned (${memdumpUs} us)`);

    // everything is read: a tree that runs on (-R) is let go before the images are encoded
    // and written (a failure from here on leaves it running, as it was); one that is killed or
    // left stopped waits until they are all safe
    let tReleased: bigint | null = null;
    if (opts.leaveRunning) {
      release(frozen, false);
      released = true;
      tReleased = process.hrtime.bigint();
    }

    // images
    faultPoint(5, 'images');
    const fdinfoDone = new Set<number>();
    const seccomp = new SeccompImage();
    perTask.forEach((t, i) => {
      const { task } = t;
      const pid = task.pid;
      for (const th of task.threads) put(`core-${th.tid}.img`, [buildCore(task, th, th.tid === pid, seccomp.add(th))]);
      put(`mm-${pid}.img`, [buildMm(task, t.vmas, t.exeId)]);
      put(`pagemap-${pid}.img`, [{ pages_id: i + 1 }, ...pagemaps[i].map((p) => ({ vaddr: p.vaddr, compat_nr_pages: 0, flags: p.flags, nr_pages: p.nr_pages }))]);
      put(`ids-${pid}.img`, [t.ids]);
      put(`fs-${pid}.img`, [{ cwd_id: t.cwdId, root_id: t.rootId, umask: task.status.umask ?? 0o22 }]);
      if (!fdinfoDone.has(t.ids.files_id)) {
        fdinfoDone.add(t.ids.files_id);
        put(`fdinfo-${t.ids.files_id}.img`, t.fdinfos);
      }
    });
    for (const m of shmemMaps) {
      put(`pagemap-shmem-${m.shmid}.img`, [{ pages_id: m.pagesId }, ...m.entries.map((p) => ({ vaddr: p.vaddr, compat_nr_pages: 0, flags: p.flags, nr_pages: p.nr_pages }))]);
    }
    put('files.img', files.entries);
    for (const name of writeExtraImages(dir, extra)) { written.push(name); log.debug(`Wrote ${name}`); }
    // zombies: a core with the exit status and nothing else, as CRIU writes them
    for (const f of frozen) {
      if (!f.zombie) continue;
      put(`core-${f.pid}.img`, [{ mtype: arch.criuMtype, tc: {
        task_state: 2 /* TASK_DEAD */, exit_code: f.zombie.exitCode, personality: 0, flags: 0, blk_sigset: 0n, comm: f.zombie.comm,
      } }]);
    }
    const taskOf = new Map(tasks.map((t) => [t.pid, t]));
    put('pstree.img', frozen.map((f, i) => {
      const t = taskOf.get(f.pid);
      return {
        pid: f.pid, ppid: i === 0 ? 0 : f.ppid, pgid: t ? t.stat.pgrp : f.zombie!.pgid, sid: t ? t.stat.session : f.zombie!.sid,
        threads: t ? t.threads.map((x) => x.tid) : [f.pid],
      };
    }));
    put('seccomp.img', [{ seccomp_filters: seccomp.filters }]);
    // the clocks of the tree: the host's (timens-0.img), or those of its own time namespace
    const ownTime = namespaces.time;
    put(`timens-${ownTime ? ownTime.id : 0}.img`, [timens(ownTime?.pid)]);
    const frozenUs = Number(((tReleased ?? process.hrtime.bigint()) - tFrozen) / 1000n);
    dumpStats = {
      freezing_time: Number((tFrozen - t0) / 1000n), frozen_time: frozenUs, memdump_time: memdumpUs, memwrite_time: memdumpUs,
      pages_scanned: memStats.pagesScanned, pages_skipped_parent: 0n, pages_written: memStats.pagesWritten,
      irmap_resolve: 0, pages_lazy: 0n, page_pipes: 0n, page_pipe_bufs: 0n,
      shpages_scanned: 0n, shpages_skipped_parent: 0n, shpages_written: 0n,
    };
    put('stats-dump', [{ dump: dumpStats }]);
    faultPoint(6, 'inventory');
    put('inventory.img', [buildInventory(namespaces.tool, uuid4())]);
  } catch (e) {
    // undo what the injections left in the task: the scratch mapping, then registers and mask
    for (const inj of injectors.reverse()) {
      try { inj.unmapBatchArea(); } catch { /* the task is gone */ }
      try { inj.unmapScratch(); } catch { /* the task is gone */ }
      try { inj.end(); } catch { /* the task is gone */ }
    }
    if (!released) release(frozen, false);
    for (const name of written) fs.rmSync(path.join(dir, name), { force: true });
    FILES.afterDump({ imagesDir: dir, ok: false });
    throw e;
  }
  if (opts.leaveStopped) {
    for (const f of frozen) if (!f.zombie && !f.stopSig) f.stopSig = SIG.STOP;
    release(frozen, false);
    log.info('Dumping finished successfully (tree left stopped)');
  } else if (opts.leaveRunning) {
    log.info('Dumping finished successfully (tree left running)');
  } else {
    release(frozen, true);
    log.info('Dumping finished successfully');
  }
  FILES.afterDump({ imagesDir: dir, ok: true });
  if (opts.displayStats && dumpStats) display(formatDumpStats(dumpStats));
}

/**
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME now, as CRIU records them in timens-ID.img: the host's, or
 * (given a task of the tree's own time namespace) as that namespace reads them, which is the
 * host's plus its offsets.
 */
function timens(inNs?: number): object {
  const off = inNs ? timensOffsets(inNs) : { monotonic: 0n, boottime: 0n };
  const ts = (v: bigint) => ({ tv_sec: v / 1_000_000_000n, tv_nsec: v % 1_000_000_000n });
  return { monotonic: ts(clockNs(CLOCK.MONOTONIC) + off.monotonic), boottime: ts(clockNs(CLOCK.BOOTTIME) + off.boottime) };
}

export type { NsIds };
