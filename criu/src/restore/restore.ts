// `criu restore`: bring a dumped process back on its PID. A puppet with that PID is created by
// the launcher, seized, and turned into the dumped task by injected syscalls: its own memory
// goes, the dumped VMAs are mapped and filled straight from the pages file, fds are passed in
// over its transport socket, then signal state, creds and finally registers are set and it is
// let go. A failure kills the puppet: nothing half-restored is left.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Launcher } from './launcher.js';
import { planClocks, enterClocks } from './timens.js';
import { Puppet, PAGE, GADGET_PAGES, MAX_FDS_AT_ONCE } from './puppet.js';
import { loadImages, checkSupported, type DumpImages, type TaskImages } from './images.js';
import { readMaps, readSmaps, type SmapsVma } from '../proc/index.js';
import { Pagemap, privateDumpQuery, mergeRegions } from '../proc/pagemap.js';
import { Injector, findSyscallInsn, InjectError, type BatchCall } from '../ptrace/inject.js';
import { PTRACE_O, SIG } from '../ptrace/consts.js';
import { regsFromImage, xsaveFromImage, restartFixup, tlsFromImage } from '../arch/x86_64.js';
import { Regs, Tracee, waitStop } from '../ptrace/tracee.js';
import { O } from '../files/reg.js';
import { FileCtx } from '../files/restore-ctx.js';
import type { AnyKind as FileKind } from '../files/kind.js';
import type { FileEntry } from '../images/gen/types.js';
import { readImage, writeImage } from '../images/index.js';
import { VMA, MAP, PE, madvBits } from '../images/consts.js';
import { tgkill, errnoName, schedGetaffinity, schedSetaffinity, sched_getcpu, close, cpuItimerTickUs, waitpid, decodeWait, __WALL, SysError } from '../sys/libc.js';
import { SYS, arch } from '../sys/arch.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import { progress } from '../progress.js';
import { display, formatRestoreStats } from '../stats.js';

type M = Record<string, any>;

export interface RestoreOptions {
  imagesDir: string;
  detached: boolean;
  sibling: boolean;
  pidfile?: string;
  /** where stats-restore goes (-W), the images dir by default */
  workDir?: string;
  /** --display-stats: print stats-restore once the tree runs, as CRIU does */
  displayStats?: boolean;
}

const TASK_TOP = 0x7ffffffff000n;
const MMAP_MIN = 0x10000n;
const PROT = { READ: 1, WRITE: 2, EXEC: 4 };

interface Range { s: bigint; e: bigint }

/** The lowest gap of `size` bytes (with a guard page each side) outside every range. */
export function findHole(ranges: Range[], size: bigint, lo = MMAP_MIN): bigint {
  const rs = [...ranges].sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
  let cur = lo;
  for (const r of rs) {
    if (r.e + PAGE <= cur) continue;
    if (r.s >= cur + size + 2n * PAGE) break;
    if (r.e + PAGE > cur) cur = r.e + PAGE;
  }
  if (cur + size + PAGE > TASK_TOP) throw new CriuError('no free address range for the restore gadget');
  return cur + PAGE;
}

function isSpecial(v: M): boolean { return (v.status & (VMA.VDSO | VMA.VVAR | VMA.VSYSCALL)) !== 0; }

/** One task being restored: its puppet, its images, its threads once cloned. */
interface Task { p: Puppet; t: TaskImages; threads: Thread[]; afterInstall: (() => void)[] }

let pagesRestored = 0n, pagesCompared = 0n, pagesSkippedCow = 0n;

export function restore(opts: RestoreOptions): number {
  const t0 = process.hrtime.bigint();
  pagesRestored = pagesCompared = pagesSkippedCow = 0n;
  const img = loadImages(opts.imagesDir);
  checkSupported(img);
  const root = img.tasks[0];
  if (root.pstree.sid !== root.pid) throw new NotSupportedError(`task ${root.pid}: session ${root.pstree.sid} is not its own`, 'a shell job needs -j/--shell-job, which is not supported yet');
  for (const t of img.tasks) {
    for (const id of [t.pid, ...t.threads.map((x) => x.tid)]) {
      if (fs.existsSync(`/proc/${id}`)) {
        throw new CriuError(`task ${t.pid}: PID ${id} is taken by a running process`, 'stop that process, or wait until the dumped tree is fully gone');
      }
    }
    const parent = img.tasks.find((x) => x.pid === t.pstree.ppid);
    if (t !== root && t.pstree.sid !== t.pid && t.pstree.sid !== parent?.pstree.sid) {
      throw new NotSupportedError(`task ${t.pid}: session ${t.pstree.sid}, neither its own nor its parent's`);
    }
  }
  const clocks = planClocks(img);
  const launcher = new Launcher();
  const savedAffinity = schedGetaffinity(0);
  const tasks: Task[] = [];
  const zombies: Task[] = [];
  const files = new FileCtx(img);
  try {
    // one CPU for tracer and puppets: every injection is then a local wake-up (DESIGN rule 12)
    const cpu = Buffer.alloc(savedAffinity.length);
    const c = sched_getcpu();
    cpu[c >> 3] |= 1 << (c & 7);
    schedSetaffinity(0, cpu);

    faultPoint(101, 'spawn');
    enterClocks(clocks, launcher);
    const maxFd = Math.max(2, ...img.tasks.flatMap((t) => t.fdinfo.map((f) => f.fd as number)));
    const transportFd = Math.max(maxFd + 1, 1000);
    const { pid, transport } = launcher.spawnPuppet({ pid: root.pid, sibling: opts.sibling, transportFd });
    log.info(`Forked puppet for task ${pid}`);
    const rootPuppet = Puppet.spawned(pid, transport, transportFd, !launcher.external);
    tasks.push({ p: rootPuppet, t: root, threads: [], afterInstall: [] });

    // the tree: each task gets its memory, then forks its children, which inherit it
    prepareRoot(rootPuppet, root, img);
    const grow = (task: Task): void => {
      setSession(task);
      buildMemory(task.p, task.t, img, files);
      for (const child of img.tasks.filter((x) => x.pstree.ppid === task.t.pid)) {
        // a child sharing its parent's fd table (CLONE_FILES) is made sharing it again
        const sharesFiles = !child.zombie && child.ids.files_id !== undefined && child.ids.files_id === task.t.ids.files_id;
        const cp = forkChild(task.p, child.pid, sharesFiles ? CLONE_FILES : 0n);
        log.debug(`task ${child.pid}: forked from ${task.t.pid}`);
        const ct: Task = { p: cp, t: child, threads: [], afterInstall: [] };
        if (child.zombie) {
          setSession(ct);
          die(ct);
          zombies.push(ct);
          continue;
        }
        tasks.push(ct);
        grow(ct);
      }
    };
    grow(tasks[0]);
    const tForked = process.hrtime.bigint();

    // each task's own state, then process groups, then creds, then registers
    tasks.forEach((task, i) => {
      progress.show(`criu: restoring task ${i + 1} of ${tasks.length} (${task.t.pid})`, true);
      finishTask(task, img, files);
    });
    progress.done();
    for (const task of tasks) setGroup(task, tasks);
    for (const task of tasks) {
      for (const th of task.threads.slice(1)) restoreCreds(th, task.t.pid, task.p.scratch, task.t.mm);
      restoreCreds(task.threads[0], task.t.pid, task.p.scratch, task.t.mm);
    }
    faultPoint(109, 'registers');
    for (const task of tasks) finalRegisters(task, files);

    faultPoint(110, 'release');
    if (!opts.detached && launcher.external) launcher.waitRoot(pid);
    for (const task of [...tasks].reverse()) {
      // every thread gets its own mask back: the dumped one, or the one criu was started with
      for (const th of task.threads) schedSetaffinity(th.tid, affinityMask(th.core, savedAffinity));
      for (const th of task.threads.slice(1)) th.t.detach(0);
      // a stopped task gets its stop signal while still traced: it stops before running anything
      if (task.t.core.tc?.task_state === 3) tgkill(task.t.pid, task.t.pid, task.t.core.tc.stop_signo || SIG.STOP);
      task.p.t.detach(0);
    }
    close(transport);
    tasks.length = 0;
    // only now: whoever waits for the pidfile may signal the tree at once
    if (opts.pidfile) fs.writeFileSync(opts.pidfile, `${pid}\n`);
    const us = (a: bigint, b: bigint): number => Number((b - a) / 1000n);
    const rstats = {
      pages_compared: pagesCompared, pages_skipped_cow: pagesSkippedCow, forking_time: us(t0, tForked), restore_time: us(t0, process.hrtime.bigint()),
      pages_restored: pagesRestored,
    };
    writeImage(opts.workDir ?? opts.imagesDir, 'stats-restore', [{ restore: rstats }]);
    if (opts.displayStats) display(formatRestoreStats(rstats));
    log.info(`Restore finished successfully. Tasks resumed.`);
    if (!opts.detached && !launcher.external) return waitRootHere(pid);
    return 0;
  } catch (e) {
    // children first; each is reaped by its parent puppet right away, so that no zombie waits
    // for PID 1 (which reaps orphans lazily) once the parents are gone too
    for (const task of [...tasks, ...zombies].reverse()) {
      if (!zombies.includes(task)) task.p.kill();
      const parent = tasks.find((x) => x.t.pid === task.t.pstree.ppid);
      if (parent) {
        try {
          // late in a restore the parent has its own mask back: a SIGCHLD would stop the call
          parent.p.t.setSigmask(~0n);
          parent.p.inj.call('wait4', task.t.pid, 0, 0x40000000 /* __WALL */, 0);
        } catch { /* parent gone */ }
      }
    }
    files.markFailed();
    throw e;
  } finally {
    files.close();
    schedSetaffinity(0, savedAffinity);
    launcher.close();
  }
}

/** The sched_setaffinity mask of a thread: its dumped CPUs, else `dflt` (it was not pinned). */
function affinityMask(core: M, dflt: Buffer): Buffer {
  const a = core.thread_core?.allowed_cpus;
  if (!a?.has_cpumask) return dflt;
  // the image holds the mask as the kernel's 64-bit words already
  const words: (bigint | number | string)[] = a.cpumask ?? [];
  const m = Buffer.alloc(Math.max(dflt.length, 8 * words.length));
  words.forEach((w, i) => m.writeBigUInt64LE(BigInt(w), 8 * i));
  return m;
}

function waitRootHere(pid: number): number {
  const st = decodeWait(waitpid(pid, __WALL).status);
  if (st.kind === 'exited') return st.code;
  if (st.kind === 'signaled') return 128 + st.sig;
  return 1;
}

/** Unregister the root puppet's rseq and place the gadget where no task of the image has anything. */
function prepareRoot(p: Puppet, t: TaskImages, img: DumpImages): void {
  const prs = p.t.rseqConf();
  if (prs && prs.rseq_abi_pointer) p.inj.must('rseq', prs.rseq_abi_pointer, prs.rseq_abi_size, 1, prs.signature);
  faultPoint(102, 'gadget');
  const own = readMaps(p.pid);
  const taken: Range[] = [...own.filter((v) => v.kind !== 'vsyscall').map((v) => ({ s: v.start, e: v.end })),
    ...img.tasks.flatMap((x) => ((x.mm.vmas ?? []) as M[]).filter((v) => !(v.status & VMA.VSYSCALL)).map((v) => ({ s: BigInt(v.start), e: BigInt(v.end) })))];
  p.placeGadget(findHole(taken, GADGET_PAGES * PAGE));
  void t;
}

/**
 * A zombie: the forked puppet ends the way the task did (exit code, or killed by its signal),
 * and stays unreaped for its parent.
 */
function die(task: Task): void {
  const { p, t } = task;
  const status: number = t.core.tc.exit_code ?? 0;
  const sig = status & 0x7f, code = (status >> 8) & 0xff;
  const regs = p.inj.savedRegs.clone();
  regs.set(arch.abi.pc, p.inj.gadget);
  if (arch.name === 'x86_64') regs.set('orig_ax', -1n);
  if (sig) {
    const dfl = Buffer.alloc(32);
    p.inj.write(p.scratch, dfl);
    if (sig !== SIG.KILL && sig !== SIG.STOP) p.inj.must('rt_sigaction', sig, p.scratch, 0, 8);
    p.t.setSigmask(0n);
    regs.set(arch.abi.nr, SYS.kill);
    regs.set(arch.abi.args[0], t.pid);
    regs.set(arch.abi.args[1], sig);
  } else {
    regs.set(arch.abi.nr, SYS.exit_group);
    regs.set(arch.abi.args[0], code);
  }
  p.t.setRegs(regs);
  p.t.cont(0);
  for (;;) {
    const st = decodeWait(waitpid(t.pid, __WALL).status);
    if (st.kind === 'exited' || st.kind === 'signaled') break;
    if (st.kind === 'stopped') p.t.cont(st.event ? 0 : st.sig);
  }
  log.debug(`task ${t.pid}: zombie with status 0x${status.toString(16)}`);
}

/** setsid for a session leader, right at birth: its children must be born in its session. */
function setSession(task: Task): void {
  const { p, t } = task;
  if (t.pstree.sid === t.pid) p.inj.must('setsid');
  else if (t.pstree.pgid === t.pid) p.inj.must('setpgid', 0, 0);
}

/** Join a process group led by another task, once every task exists. */
function setGroup(task: Task, tasks: Task[]): void {
  const { p, t } = task;
  const parent = tasks.find((x) => x.t.pid === t.pstree.ppid);
  const inherited = parent ? parent.t.pstree.pgid : -1;
  if (t.pstree.pgid === t.pid || t.pstree.pgid === inherited || t.pstree.sid === t.pid) return;
  const pgid = t.pstree.pgid;
  if (tasks.some((x) => x.t.pid === pgid) || fs.existsSync(`/proc/${pgid}`)) {
    p.inj.must('setpgid', 0, pgid);
    return;
  }
  // the group's leader is gone: a helper on its PID makes the group, the task joins it, and
  // the helper exits and is reaped by the task, as CRIU's helper tasks do
  const helper = forkChild(p, pgid);
  helper.inj.must('setpgid', 0, 0);
  p.inj.must('setpgid', 0, pgid);
  die({ p: helper, t: { pid: pgid, core: { tc: { exit_code: 0 } } } as unknown as TaskImages, threads: [], afterInstall: [] });
  const r = p.inj.call('wait4', pgid, 0, 0x40000000 /* __WALL */, 0);
  if (Number(r) !== pgid) throw new CriuError(`task ${t.pid}: cannot reap the helper of process group ${pgid}: ${r < 0n ? errnoName(Number(-r)) : r}`);
  drainSigchld(p, t);
}

/** Take back the SIGCHLD that helpers' and zombies' deaths queued, unless it was pending at dump time. */
function drainSigchld(p: Puppet, t: TaskImages): void {
  const pending: M[] = t.core.tc?.signals_s?.signals ?? [];
  if (pending.some((e) => (e.siginfo as Buffer).readInt32LE(0) === SIG.CHLD)) return;
  const s = p.scratch;
  const set = Buffer.alloc(8); set.writeBigUInt64LE(1n << BigInt(SIG.CHLD - 1));
  p.inj.write(s, set); p.inj.write(s + 16n, Buffer.alloc(16));
  while (p.inj.call('rt_sigtimedwait', s, 0, s + 16n, 8) > 0n);
}

/** An injected fork (clone3 with set_tid) in the parent puppet; the child starts stopped, traced. */
const CLONE_FILES = 0x400n;

function forkChild(parent: Puppet, pid: number, flags = 0n): Puppet {
  const inj = parent.inj, s = parent.scratch;
  const args = Buffer.alloc(96);
  args.writeBigUInt64LE(flags, 0);
  args.writeBigUInt64LE(17n, 32); // exit_signal SIGCHLD
  args.writeBigUInt64LE(s + 88n, 64); // set_tid
  args.writeBigUInt64LE(1n, 72);
  args.writeInt32LE(pid, 88);
  inj.write(s, args);
  const r = inj.call('clone3', s, 88);
  if (r < 0n) throw new CriuError(`task ${pid}: cannot fork it from ${parent.pid}: clone3 failed: ${errnoName(Number(-r))}`, r === -17n ? `PID ${pid} is taken` : undefined);
  if (Number(r) !== pid) throw new CriuError(`task ${pid}: came up as ${r}`);
  return Puppet.forked(parent, pid);
}

/** Replace the puppet's memory with the task's: unmap, move the vdso, map every VMA, fill pages. */
function buildMemory(p: Puppet, t: TaskImages, img: DumpImages, files: FileCtx): void {
  const inj = p.inj;
  const vmas: M[] = t.mm.vmas;
  const who = `task ${t.pid}`;
  faultPoint(103, 'unmap');
  const own = p.forkedChild ? readSmaps(p.pid) : readMaps(p.pid);
  const special = own.filter((v) => v.kind === 'vdso' || v.kind === 'vvar' || v.kind === 'vvar_vclock');
  // a forked child keeps the private VMAs it shares with its parent, so that their pages stay
  // shared copy-on-write as they were in the dumped tree
  const kept = p.forkedChild ? inheritedVmas(own as SmapsVma[], vmas, img) : new Set<number>();
  const keep: Range[] = [{ s: p.gadgetArea, e: p.gadgetArea + GADGET_PAGES * PAGE }, ...special.map((v) => ({ s: v.start, e: v.end })),
    ...[...kept].map((i) => ({ s: BigInt(vmas[i].start), e: BigInt(vmas[i].end) }))]
    .sort((a, b) => (a.s < b.s ? -1 : 1));
  let cur = MMAP_MIN;
  for (const k of [...keep, { s: TASK_TOP, e: TASK_TOP }]) {
    if (k.s > cur) inj.must('munmap', cur, k.s - cur);
    if (k.e > cur) cur = k.e;
  }
  moveVdso(p, special, vmas);

  faultPoint(104, 'mmap');
  const pagesPerVma = pageCoverage(vmas, t.pagemap.slice(1));
  // plain anonymous VMAs are mapped in batches (one resume for many mmap and madvise calls);
  // anything else first runs what is pending, in order
  const pending: BatchCall[] = [];
  const checks: { k: number; start: bigint; end: bigint }[] = [];
  const flushMaps = (): void => {
    if (!pending.length) return;
    const rs = inj.batch(pending);
    for (const c of checks) {
      const r = rs[c.k];
      if (r !== c.start) throw mapError(who, c.start, c.end, r);
    }
    pending.length = 0;
    checks.length = 0;
  };
  for (let i = 0; i < vmas.length; i++) {
    const v = vmas[i];
    if (isSpecial(v) || kept.has(i)) continue;
    const start = BigInt(v.start), len = BigInt(v.end) - start;
    const prot = v.prot | (pagesPerVma[i] ? PROT.READ | PROT.WRITE : 0);
    const prevV = vmas[i - 1];
    if (v.status & VMA.ANON_PRIVATE && !(v.status & (VMA.MEMFD | VMA.FILE_PRIVATE | VMA.FILE_SHARED | VMA.ANON_SHARED))
      && !(prevV && BigInt(prevV.end) === start && prevV.status & VMA.ANON_PRIVATE && !isSpecial(prevV))) {
      const flags = MAP.PRIVATE | MAP.ANON | (v.flags & (MAP.GROWSDOWN | MAP.NORESERVE));
      checks.push({ k: pending.length, start, end: BigInt(v.end) });
      pending.push({ name: 'mmap', args: [start, len, prot, MAP.FIXED | flags, -1, 0] });
      const madv: bigint = BigInt(v.madv ?? 0);
      for (let a = 0; a < 32; a++) if (madv & (1n << BigInt(a))) pending.push({ name: 'madvise', args: [start, len, a] });
      log.debug(`${who}: mapped VMA ${start.toString(16)}-${BigInt(v.end).toString(16)} prot ${v.prot} status 0x${v.status.toString(16)}`);
      continue;
    }
    flushMaps();
    let r: bigint;
    // a file-backed VMA: the tool's fd on the object goes into the task and is mapped there
    const mapOurs = (ours: number, keepOurs: boolean, mprot: number, flags: number): bigint => {
      const fd = p.receiveFd(ours);
      if (!keepOurs) close(ours);
      const m = inj.call('mmap', start, len, mprot, MAP.FIXED | flags, fd, BigInt(v.pgoff));
      inj.must('close', fd);
      return m;
    };
    const fileFlags = v.flags & (MAP.SHARED | MAP.PRIVATE | MAP.GROWSDOWN);
    if (v.status & VMA.MEMFD) {
      const f = files.file(Number(v.shmid));
      if (!f?.memfd) throw new CriuError(`${who}: VMA ${start.toString(16)}: memfd id ${v.shmid} is not in files.img`);
      r = mapOurs(files.openMapped(Number(v.shmid), who, v.fdflags ?? 0), false, prot, fileFlags);
    } else if (v.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) {
      const f = img.files.get(Number(v.shmid));
      if (!f?.reg) throw new CriuError(`${who}: VMA ${start.toString(16)}: file id ${v.shmid} is not in files.img`);
      const ours = files.openMapped(Number(v.shmid), who, v.fdflags ?? (v.status & VMA.FILE_SHARED && v.prot & PROT.WRITE ? O.RDWR : 0));
      r = mapOurs(ours, false, prot, fileFlags);
    } else if (v.status & VMA.ANON_SHARED) {
      // the object's fd stays with the tool for the other mappings of it
      r = mapOurs(shmemObject(p, Number(v.shmid), img, files), true, v.prot, MAP.SHARED);
    } else if (v.status & VMA.ANON_PRIVATE) {
      const flags = MAP.PRIVATE | MAP.ANON | (v.flags & (MAP.GROWSDOWN | MAP.NORESERVE));
      const prev = vmas[i - 1];
      if (prev && BigInt(prev.end) === start && prev.status & VMA.ANON_PRIVATE && !isSpecial(prev)) {
        // two separate anonymous VMAs side by side: mapped in place the kernel would merge
        // them into one; one made elsewhere and moved here keeps its own page offset, and so
        // its boundary, as in the dumped task
        // (a VMA never faulted takes its new place's offset on a move, so one page is touched first)
        const tmp = inj.call('mmap', 0, len, prot, flags, -1, 0);
        if (tmp >= 0n) touchPage(p.pid, v.flags & MAP.GROWSDOWN ? tmp + len - PAGE : tmp);
        r = tmp < 0n ? tmp : inj.call('mremap', tmp, len, len, 3 /* MREMAP_MAYMOVE | MREMAP_FIXED */, start);
      } else {
        r = inj.call('mmap', start, len, prot, MAP.FIXED | flags, -1, 0);
      }
    } else {
      throw new NotSupportedError(`${who}: VMA ${start.toString(16)}-${BigInt(v.end).toString(16)} with status 0x${v.status.toString(16)}`);
    }
    log.debug(`${who}: mapped VMA ${start.toString(16)}-${BigInt(v.end).toString(16)} prot ${v.prot} status 0x${v.status.toString(16)}`);
    if (r !== start) throw mapError(who, start, BigInt(v.end), r);
    const madv: bigint = BigInt(v.madv ?? 0);
    for (let a = 0; a < 32; a++) if (madv & (1n << BigInt(a))) inj.call('madvise', start, len, a);
  }
  flushMaps();

  faultPoint(105, 'pages');
  fillPages(p, t, img, vmas, kept);
  const prots: BatchCall[] = [];
  for (let i = 0; i < vmas.length; i++) {
    const v = vmas[i];
    if (!isSpecial(v) && !kept.has(i) && pagesPerVma[i] && (v.prot & 3) !== 3) prots.push({ name: 'mprotect', args: [BigInt(v.start), BigInt(v.end) - BigInt(v.start), v.prot] });
  }
  inj.mustBatch(prots);
}

/** The error of an mmap that failed (r < 0) or put the VMA elsewhere. */
function mapError(who: string, start: bigint, end: bigint, r: bigint): CriuError {
  return new CriuError(`${who}: cannot map VMA ${start.toString(16)}-${end.toString(16)}: ${r < 0n ? errnoName(Number(-r)) : `landed at ${r.toString(16)}`}`);
}

/** Image VMAs (by index) that the child inherited from its parent exactly: same place, protection, backing, advice. */
function inheritedVmas(own: SmapsVma[], vmas: M[], img: DumpImages): Set<number> {
  const byStart = new Map(own.map((o) => [o.start, o]));
  const out = new Set<number>();
  vmas.forEach((v, i) => {
    const o = byStart.get(BigInt(v.start));
    if (!o || o.end !== BigInt(v.end) || o.prot !== v.prot || o.shared) return;
    if (madvBits(o.vmFlags) !== BigInt(v.madv ?? 0)) return;
    if ((o.vmFlags.includes('gd')) !== !!(v.flags & MAP.GROWSDOWN)) return;
    if (v.status & VMA.ANON_PRIVATE && !isSpecial(v)) {
      if (['anon', 'anon_named', 'heap', 'stack'].includes(o.kind)) out.add(i);
    } else if (v.status & VMA.FILE_PRIVATE) {
      const f = img.files.get(Number(v.shmid));
      if (o.kind === 'file' && f?.reg?.name === o.path && o.offset === BigInt(v.pgoff)) out.add(i);
    }
  });
  return out;
}

/** Split runs of pages into those inside the given ranges and the rest. */
export function splitRuns(runs: Run[], ranges: Range[]): { inside: Run[]; outside: Run[] } {
  const rs = [...ranges].sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : 0));
  const inside: Run[] = [], outside: Run[] = [];
  for (const r of runs) {
    let a = r.a;
    const end = r.a + r.l;
    while (a < end) {
      const hit = rs.find((x) => a >= x.s && a < x.e);
      if (hit) {
        const e = hit.e < end ? hit.e : end;
        inside.push({ a, l: e - a, o: r.o + (a - r.a) });
        a = e;
      } else {
        const next = rs.find((x) => x.s > a && x.s < end);
        const e = next ? next.s : end;
        outside.push({ a, l: e - a, o: r.o + (a - r.a) });
        a = e;
      }
    }
  }
  return { inside, outside };
}

/**
 * Pages of VMAs a child shares with its parent: each page of the image is compared with what
 * the child sees, and written (breaking the sharing of that page only) where it differs. The
 * rest stays shared copy-on-write.
 */
function patchInherited(pid: number, who: string, pagesPath: string, runs: Run[]): { compared: bigint; skipped: bigint } {
  let compared = 0n, skipped = 0n;
  const pages = fs.openSync(pagesPath, 'r');
  const mem = fs.openSync(`/proc/${pid}/mem`, 'r+');
  const CH = 1 << 20;
  const want = Buffer.allocUnsafe(CH), have = Buffer.allocUnsafe(CH);
  try {
    for (const r of runs) {
      for (let done = 0n; done < r.l;) {
        const len = Number(r.l - done < BigInt(CH) ? r.l - done : BigInt(CH));
        if (fs.readSync(pages, want, 0, len, Number(r.o + done)) !== len) throw new CriuError(`${who}: ${pagesPath} is truncated`);
        fs.readSync(mem, have, 0, len, Number(r.a + done));
        for (let off = 0; off < len; off += 4096) {
          compared++;
          if (want.compare(have, off, off + 4096, off, off + 4096) === 0) { skipped++; continue; }
          fs.writeSync(mem, want, off, 4096, Number(r.a + done) + off);
        }
        done += BigInt(len);
      }
    }
  } finally {
    fs.closeSync(pages);
    fs.closeSync(mem);
  }
  return { compared, skipped };
}

/** mm fields, files, cwd, umask, process and thread state (threads are cloned here). */
function finishTask(task: Task, img: DumpImages, files: FileCtx): void {
  const { p, t } = task;
  const inj = p.inj;
  const who = `task ${t.pid}`;
  faultPoint(106, 'mm');
  setMm(p, t, img, files);

  faultPoint(107, 'files');
  // the fd table: installed by the first task that has it, shared (CLONE_FILES) by the others
  const tableDone = files.tables.has(t.ids.files_id);
  files.tables.add(t.ids.files_id);
  // a forked task holds its parent's fds (the transport excepted): it starts from none
  if (t.pstree.ppid && !tableDone) {
    if (p.transportFd > 0) inj.must('close_range', 0, p.transportFd - 1, 0);
    inj.must('close_range', p.transportFd + 1, 0xffffffff, 0);
  }
  const after: { kind: FileKind; e: FileEntry; fd: number }[] = [];
  // fds go in by batches: the kernel gives received fds the lowest free numbers in order, so a
  // run of wanted fd numbers lands in place at once; a small gap is filled with a stand-in fd
  // (closed once all are in) so that the run goes on past it
  const wanted = (tableDone ? [] : [...t.fdinfo]).sort((a, b) => a.fd - b.fd);
  const installed = new Set<number>();
  const holes: number[] = []; // stand-ins keep the gaps filled until every fd is in place
  let lowest = 0;
  const nextFree = (): number => { while (installed.has(lowest) || lowest === p.transportFd) lowest++; return lowest; };
  for (let i = 0; i < wanted.length;) {
    const batch: { fi: M | null; fd: number }[] = [];
    let taken = 0;
    for (let j = i, at = nextFree(); j < wanted.length; j++) {
      const gap = wanted[j].fd - at;
      if (gap < 0 || gap > 8 || batch.length + gap + 1 > MAX_FDS_AT_ONCE || (at <= p.transportFd && wanted[j].fd >= p.transportFd)) break;
      for (let k = 0; k < gap; k++) batch.push({ fi: null, fd: files.standIn() });
      batch.push({ fi: wanted[j], fd: -1 });
      taken++;
      at = wanted[j].fd + 1;
    }
    if (!taken) {
      const fi = wanted[i];
      const o = files.open(fi.id, `${who}: fd ${fi.fd}`);
      if (o.kind.afterInstall) after.push({ kind: o.kind, e: o.e, fd: fi.fd });
      p.installFd(o.fd, fi.fd, (fi.flags & 1) !== 0);
      installed.add(fi.fd);
      i++;
      continue;
    }
    for (const b of batch) {
      if (!b.fi) continue;
      const o = files.open(b.fi.id, `${who}: fd ${b.fi.fd}`);
      b.fd = o.fd;
      if (o.kind.afterInstall) after.push({ kind: o.kind, e: o.e, fd: b.fi.fd });
      log.debug(`${who}: fd ${b.fi.fd} <- ${o.kind.name} file id ${b.fi.id}`);
    }
    const got = p.receiveFds(batch.map((b) => b.fd));
    got.forEach((g, k) => {
      const { fi } = batch[k];
      if (!fi) { holes.push(g); installed.add(g); return; }
      if (g !== fi.fd) throw new CriuError(`${who}: fd ${fi.fd} arrived as ${g}`);
      if (fi.flags & 1) inj.must('fcntl', g, 2 /* F_SETFD */, 1);
      installed.add(fi.fd);
    });
    i += taken;
  }
  for (const h of holes) inj.must('close', h);
  for (const a of after) files.afterInstall(a.kind, a.e, a.fd, p, `${who}: fd ${a.fd}`);
  const fsImg = t.fs;
  const cwd = img.files.get(fsImg.cwd_id)?.reg?.name;
  const rootDir = img.files.get(fsImg.root_id)?.reg?.name;
  if (rootDir && rootDir !== '/') throw new NotSupportedError(`${who}: root directory ${rootDir}`);
  if (cwd) {
    files.openPath(fsImg.cwd_id, who, 'cwd');
    const r = inj.call('chdir', inj.str(cwd));
    if (r < 0n) throw new CriuError(`${who}: cannot chdir to ${cwd}: ${errnoName(Number(-r))}`, 'the directory must exist as at dump time');
  }
  if (fsImg.umask !== undefined) inj.must('umask', fsImg.umask);

  faultPoint(108, 'task');
  restoreProcessState(p, t);
  task.threads = [{ t: p.t, inj, core: t.core, tid: t.pid }];
  restoreThreadState(task.threads[0], t.pid, p.scratch);
  for (const th of t.threads) {
    const nt = cloneThread(p, th.tid, th.core);
    log.debug(`${who}: thread ${th.tid} created`);
    task.threads.push(nt);
    restoreThreadState(nt, t.pid, p.scratch);
  }
  restorePosixTimers(p, t);
  for (const th of task.threads) restoreSeccomp(th, t.pid, p.scratch, files);
}

/**
 * A thread's seccomp filters, oldest first. The tracee is put in PTRACE_O_SUSPEND_SECCOMP
 * first, so that the filters cannot block the syscalls still to be injected.
 */
function restoreSeccomp(th: Thread, pid: number, s: bigint, files: FileCtx): void {
  const tcore = th.core.thread_core ?? {};
  if (tcore.seccomp_mode !== 2) return;
  const all = (files.image('seccomp.img', 'SECCOMP') ?? [])[0]?.msg.seccomp_filters as M[] | undefined;
  const who = `task ${pid}: thread ${th.tid}`;
  const chain: M[] = [];
  for (let i: number | undefined = tcore.seccomp_filter; i !== undefined; i = all?.[i]?.prev) {
    const f = all?.[i];
    if (!f || chain.length > (all?.length ?? 0)) throw new CriuError(`${who}: seccomp filter ${i} is not in seccomp.img`);
    chain.push(f);
  }
  th.t.setOptions(PTRACE_O.EXITKILL | PTRACE_O.TRACESYSGOOD | PTRACE_O.TRACECLONE | PTRACE_O.TRACEFORK | PTRACE_O.SUSPEND_SECCOMP);
  for (const f of chain) {
    const insns: Buffer = f.filter;
    const prog = Buffer.alloc(16);
    prog.writeUInt16LE(insns.length / 8, 0);
    prog.writeBigUInt64LE(s + 16n, 8);
    th.inj.write(s, prog);
    th.inj.write(s + 16n, insns);
    const TSYNC = 1n;
    const r = th.inj.call('seccomp', 1 /* SECCOMP_SET_MODE_FILTER */, BigInt(f.flags ?? 0) & ~TSYNC, s);
    if (r < 0n) throw new CriuError(`${who}: cannot install a seccomp filter of ${insns.length / 8} instructions: ${errnoName(Number(-r))}`);
  }
}

/** POSIX timers with their ids (PR_TIMER_CREATE_RESTORE_IDS), notification and remaining time. */
function restorePosixTimers(p: Puppet, t: TaskImages): void {
  const timers: M[] = t.core.tc?.timers?.posix ?? [];
  if (!timers.length) return;
  const inj = p.inj, s = p.scratch, who = `task ${t.pid}`;
  const PR_TIMER_CREATE_RESTORE_IDS = 77;
  const byId = inj.call('prctl', PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0) === 0n;
  for (const tm of [...timers].sort((a, b) => a.it_id - b.it_id)) {
    const ev = Buffer.alloc(64);
    ev.writeBigUInt64LE(BigInt(tm.sival_ptr), 0);
    ev.writeInt32LE(tm.si_signo, 8);
    ev.writeInt32LE(tm.it_sigev_notify, 12);
    ev.writeInt32LE(tm.notify_thread_id ?? 0, 16);
    const id = Buffer.alloc(4);
    id.writeInt32LE(tm.it_id);
    inj.write(s, ev);
    inj.write(s + 64n, id);
    const r = inj.call('timer_create', tm.clock_id, s, s + 64n);
    if (r < 0n) throw new CriuError(`${who}: cannot create POSIX timer ${tm.it_id} (clock ${tm.clock_id}): ${errnoName(Number(-r))}`);
    const got = inj.read(s + 64n, 4).readInt32LE(0);
    if (got !== tm.it_id) {
      throw new CriuError(`${who}: POSIX timer ${tm.it_id} came back as id ${got}`, byId ? undefined : 'this kernel lacks PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17+)');
    }
    const spec = Buffer.alloc(32);
    spec.writeBigInt64LE(BigInt(tm.isec), 0); spec.writeBigInt64LE(BigInt(tm.insec), 8);
    spec.writeBigInt64LE(BigInt(tm.vsec), 16); spec.writeBigInt64LE(BigInt(tm.vnsec), 24);
    if (BigInt(tm.vsec) || BigInt(tm.vnsec)) {
      inj.write(s, spec);
      inj.must('timer_settime', got, 0, s, 0);
    }
  }
  if (byId) inj.call('prctl', PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
}

/** Last: drop the transport, the gadget (by single-step), register rseq, set masks and registers. */
function finalRegisters(task: Task, files: FileCtx): void {
  const { p, t, threads } = task;
  const inj = p.inj;
  const who = `task ${t.pid}`;
  // the transport goes once per fd table (tasks sharing one by CLONE_FILES close it once)
  if (!files.transportClosed.has(t.ids.files_id)) inj.must('close', p.transportFd);
  files.transportClosed.add(t.ids.files_id);
  p.inj.batchArea?.close();
  for (const th of threads) th.inj.batchArea = null;
  inj.must('munmap', p.gadgetArea, GADGET_PAGES * PAGE);
  // from here on calls go through a syscall instruction of the restored vdso: the rseq
  // registration, and a failed restore's wait4 that reaps the children it killed
  const vdsoSyscall = findSyscallInsn(p.pid);
  p.inj.gadget = vdsoSyscall;
  for (const th of threads) {
    th.inj.gadget = vdsoSyscall;
    const tcore = th.core.thread_core ?? {};
    if (tcore.rseq_entry && BigInt(tcore.rseq_entry.rseq_abi_pointer)) {
      const r = th.inj.call('rseq', BigInt(tcore.rseq_entry.rseq_abi_pointer), tcore.rseq_entry.rseq_abi_size, 0, tcore.rseq_entry.signature);
      if (r < 0n) log.warn(`${who}: thread ${th.tid}: rseq registration failed: ${errnoName(Number(-r))}`);
    }
  }
  // the masks go last: queued signals must not be delivered on an injection frame
  const tc = t.core.tc ?? {};
  for (const th of threads) {
    const tcore = th.core.thread_core ?? {};
    th.t.setSigmask(BigInt(tcore.blk_sigset ?? (th.tid === t.pid ? tc.blk_sigset : 0) ?? 0));
    setRegisters(th.t, th.core);
  }
}

interface Thread { t: Tracee; inj: Injector; core: M; tid: number }

const CLONE_THREAD_FLAGS = 0x100n | 0x200n | 0x400n | 0x800n | 0x10000n | 0x40000n; // VM FS FILES SIGHAND THREAD SYSVSEM

/** An injected clone3 in the leader makes thread `tid`; it starts stopped, traced by us. */
function cloneThread(p: Puppet, tid: number, core: M): Thread {
  const inj = p.inj, s = p.scratch;
  const args = Buffer.alloc(88 + 8);
  args.writeBigUInt64LE(CLONE_THREAD_FLAGS, 0);
  args.writeBigUInt64LE(s + 88n, 64); // set_tid
  args.writeBigUInt64LE(1n, 72);
  args.writeInt32LE(tid, 88);
  inj.write(s, args);
  inj.events.length = 0;
  const r = inj.call('clone3', s, 88);
  if (r < 0n) throw new CriuError(`task ${p.pid}: cannot create thread ${tid}: clone3 failed: ${errnoName(Number(-r))}`, { task: p.pid, object: `thread ${tid}`, hint: r === -17n ? `TID ${tid} is taken` : undefined });
  if (Number(r) !== tid) throw new CriuError(`task ${p.pid}: thread came up as ${r}, not ${tid}`);
  const t = new Tracee(tid);
  const st = waitStop(tid);
  if (st.kind !== 'interrupt' && st.kind !== 'group-stop') throw new CriuError(`thread ${tid}: unexpected first stop ${st.kind}`);
  const ti = new Injector(t, inj.gadget);
  ti.begin();
  ti.scratch = inj.scratch;
  ti.scratchSize = inj.scratchSize;
  ti.batchArea = inj.batchArea;
  return { t, inj: ti, core, tid };
}
/** Move the puppet's [vvar][vvar_vclock][vdso] block to where the image had it (DESIGN rule 10). */
function moveVdso(p: Puppet, own: { start: bigint; end: bigint }[], vmas: M[]): void {
  const img = vmas.filter((v) => v.status & (VMA.VDSO | VMA.VVAR));
  if (!img.length || !own.length) return;
  const ps = own.reduce((a, v) => (v.start < a ? v.start : a), own[0].start);
  const pe = own.reduce((a, v) => (v.end > a ? v.end : a), own[0].end);
  const ts = img.reduce((a, v) => (BigInt(v.start) < a ? BigInt(v.start) : a), BigInt(img[0].start));
  const te = img.reduce((a, v) => (BigInt(v.end) > a ? BigInt(v.end) : a), BigInt(img[0].end));
  if (pe - ps !== te - ts) {
    throw new NotSupportedError(`task ${p.pid}: vdso/vvar block of ${te - ts} bytes in the image, ${pe - ps} on this kernel`, 'restore on the kernel the dump was made on');
  }
  if (ps === ts) return;
  const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;
  const hops: bigint[] = [];
  if (ts < pe && ps < te) {
    const taken = [...vmas.map((v) => ({ s: BigInt(v.start), e: BigInt(v.end) })), { s: ps, e: pe },
      { s: p.gadgetArea, e: p.gadgetArea + GADGET_PAGES * PAGE }];
    hops.push(findHole(taken, pe - ps));
  }
  hops.push(ts);
  let from = ps;
  const parts = [...own].sort((a, b) => (a.start < b.start ? -1 : 1));
  for (const to of hops) {
    for (const v of parts) {
      const s = v.start - ps + from, l = v.end - v.start;
      p.inj.must('mremap', s, l, l, MREMAP_MAYMOVE | MREMAP_FIXED, s - from + to);
    }
    from = to;
  }
}

/** Fault in one page of a task (through /proc/PID/mem, whatever its protection) by writing a zero byte. */
function touchPage(pid: number, addr: bigint): void {
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r+');
  try { fs.writeSync(fd, Buffer.alloc(1), 0, 1, Number(addr)); } finally { fs.closeSync(fd); }
}

/** Which VMAs receive pages (and so must be writable while they are filled). */
function pageCoverage(vmas: M[], entries: M[]): boolean[] {
  const has = vmas.map(() => false);
  let vi = 0;
  for (const e of entries) {
    if (!(e.flags & PE.PRESENT)) continue;
    const s = BigInt(e.vaddr), end = s + BigInt(e.nr_pages ?? e.compat_nr_pages) * PAGE;
    while (vi < vmas.length && BigInt(vmas[vi].end) <= s) vi++;
    for (let k = vi; k < vmas.length && BigInt(vmas[k].start) < end; k++) has[k] = true;
  }
  return has;
}

interface Run { a: bigint; l: bigint; o: bigint }

/** The runs of present pages of a pagemap image: where each goes, and where it lies in the pages file. */
function pagemapRuns(who: string, entries: M[], base: bigint, skip: Range[]): { runs: Run[]; bytes: bigint } {
  const runs: Run[] = [];
  let off = 0n;
  for (const e of entries) {
    const n = BigInt(e.nr_pages ?? e.compat_nr_pages) * PAGE;
    if (e.flags & PE.PARENT || e.in_parent) throw new NotSupportedError(`${who}: pages in a parent image (incremental dumps)`);
    if (!(e.flags & PE.PRESENT)) continue;
    const a = base + BigInt(e.vaddr);
    if (!skip.some((r) => a >= r.s && a < r.e)) runs.push({ a, l: n, o: off });
    off += n;
  }
  return { runs, bytes: off };
}

/** Injected preadv from a pages file straight into the task's memory, up to 1024 ranges a call. */
function preadvRuns(p: Puppet, who: string, pagesPath: string, runs: Run[], bytes: bigint): void {
  let ours: number;
  try {
    ours = fs.openSync(pagesPath, 'r');
  } catch (e) {
    throw new CriuError(`${who}: cannot open ${pagesPath}: ${(e as Error).message}`, 'the pages file of this dump is missing');
  }
  const size = BigInt(fs.fstatSync(ours).size);
  if (bytes > size) {
    fs.closeSync(ours);
    throw new CriuError(`${who}: ${pagesPath} holds ${size} bytes, the pagemap needs ${bytes}`, 'the pages file is truncated');
  }
  const fd = p.receiveFd(ours);
  fs.closeSync(ours);
  const max = Math.floor(p.inj.scratchSize / 16);
  for (let i = 0; i < runs.length;) {
    const batch = [runs[i]];
    while (i + batch.length < runs.length && batch.length < max) {
      const last = batch[batch.length - 1], next = runs[i + batch.length];
      if (next.o !== last.o + last.l) break;
      batch.push(next);
    }
    const iov = Buffer.alloc(16 * batch.length);
    let want = 0n;
    batch.forEach((r, k) => { iov.writeBigUInt64LE(r.a, 16 * k); iov.writeBigUInt64LE(r.l, 16 * k + 8); want += r.l; });
    p.inj.write(p.scratch, iov);
    const got = p.inj.must('preadv', fd, p.scratch, batch.length, batch[0].o, 0);
    if (got !== want) {
      // a short read (over 2 GiB or a signal): continue where it stopped
      if (got <= 0n) throw new CriuError(`${who}: reading pages at offset ${batch[0].o} gave ${got} of ${want} bytes`);
      let left = got;
      while (left > 0n && left >= runs[i].l) { left -= runs[i].l; i++; }
      if (left > 0n) runs[i] = { a: runs[i].a + left, l: runs[i].l - left, o: runs[i].o + left };
      continue;
    }
    i += batch.length;
  }
  p.inj.must('close', fd);
}

/** The task's private pages, from its pagemap; the vdso's pages are the kernel's own. */
function fillPages(p: Puppet, t: TaskImages, img: DumpImages, vmas: M[], kept: Set<number>): void {
  const who = `task ${t.pid}`;
  const pagesPath = path.join(img.dir, `pages-${t.pagemap[0].pages_id}.img`);
  const special = vmas.filter(isSpecial).map((v) => ({ s: BigInt(v.start), e: BigInt(v.end) }));
  const { runs, bytes } = pagemapRuns(who, t.pagemap.slice(1), 0n, special);
  const keptRanges = [...kept].map((i) => ({ s: BigInt(vmas[i].start), e: BigInt(vmas[i].end), file: !!(vmas[i].status & VMA.FILE_PRIVATE) }));
  const { inside, outside } = splitRuns(runs, keptRanges);
  preadvRuns(p, who, pagesPath, outside, bytes);
  if (keptRanges.length) {
    const { compared, skipped } = patchInherited(p.pid, who, pagesPath, inside);
    pagesCompared += compared;
    pagesSkippedCow += skipped;
    dropExtraPages(p, keptRanges, inside);
    log.info(`${who}: ${compared} pages compared with the parent's, ${skipped} left shared`);
  }
  pagesRestored += bytes / PAGE;
  log.info(`${who}: ${bytes / PAGE} pages restored from ${pagesPath} in ${runs.length} runs`);
}

/** In VMAs shared with the parent: pages the child holds that are not in its image go (MADV_DONTNEED). */
function dropExtraPages(p: Puppet, ranges: { s: bigint; e: bigint; file: boolean }[], runs: Run[]): void {
  const pm = new Pagemap(p.pid);
  try {
    for (const r of ranges) {
      const present = mergeRegions(pm.scan(r.s, r.e, privateDumpQuery(r.file)), undefined, undefined, true);
      for (const reg of present) {
        // the region less the image's runs
        let a = reg.start;
        const cover = runs.filter((x) => x.a < reg.end && x.a + x.l > reg.start).sort((x, y) => (x.a < y.a ? -1 : 1));
        for (const c of [...cover, { a: reg.end, l: 0n, o: 0n }]) {
          if (c.a > a) p.inj.must('madvise', a, c.a - a, 4 /* MADV_DONTNEED */);
          if (c.a + c.l > a) a = c.a + c.l;
        }
      }
    }
  } finally {
    pm.close();
  }
}

/**
 * The tool's fd on shared anonymous object `shmid`: made the first time, in puppet p, as a
 * MAP_SHARED|MAP_ANONYMOUS area filled from pagemap-shmem-SHMID.img; every mapping of it, in
 * any task, then maps that very object.
 */
function shmemObject(p: Puppet, shmid: number, img: DumpImages, files: FileCtx): number {
  const known = files.shmem.get(shmid);
  if (known !== undefined) return known;
  const who = `task ${p.pid}: shared memory ${shmid}`;
  let size = 0n;
  for (const t of img.tasks) {
    for (const v of (t.mm.vmas ?? []) as M[]) {
      if (v.status & VMA.ANON_SHARED && Number(v.shmid) === shmid) {
        const end = BigInt(v.pgoff) + BigInt(v.end) - BigInt(v.start);
        if (end > size) size = end;
      }
    }
  }
  const r = p.inj.call('mmap', 0, size, PROT.READ | PROT.WRITE, MAP.SHARED | MAP.ANON, -1, 0);
  if (r < 0n) throw new CriuError(`${who}: cannot create it (${size} bytes): ${errnoName(Number(-r))}`);
  const pm = path.join(img.dir, `pagemap-shmem-${shmid}.img`);
  if (fs.existsSync(pm)) {
    const entries = readImage(pm).entries.map((e) => e.msg as M);
    const { runs, bytes } = pagemapRuns(who, entries.slice(1), r, []);
    preadvRuns(p, who, path.join(img.dir, `pages-${entries[0].pages_id}.img`), runs, bytes);
  }
  const fd = fs.openSync(`/proc/${p.pid}/map_files/${r.toString(16)}-${(r + size).toString(16)}`, 'r+');
  p.inj.must('munmap', r, size);
  files.shmem.set(shmid, fd);
  return fd;
}

function setMm(p: Puppet, t: TaskImages, img: DumpImages, files: FileCtx): void {
  const mm = t.mm;
  const inj = p.inj;
  const exe = img.files.get(mm.exe_file_id)?.reg;
  let exeFd = -1;
  if (exe) {
    const ours = files.openPath(mm.exe_file_id, `task ${t.pid}: exe`, 'exe');
    exeFd = p.receiveFd(ours);
    close(ours);
  }
  const auxv: bigint[] = (mm.mm_saved_auxv ?? []).map((x: bigint | number) => BigInt(x));
  const auxBuf = Buffer.alloc((auxv.length + 2) * 8);
  auxv.forEach((v, i) => auxBuf.writeBigUInt64LE(BigInt.asUintN(64, v), i * 8));
  const s = p.scratch;
  const map = Buffer.alloc(104);
  const fields = ['mm_start_code', 'mm_end_code', 'mm_start_data', 'mm_end_data', 'mm_start_brk', 'mm_brk', 'mm_start_stack',
    'mm_arg_start', 'mm_arg_end', 'mm_env_start', 'mm_env_end'];
  fields.forEach((f, i) => map.writeBigUInt64LE(BigInt(mm[f]), i * 8));
  map.writeBigUInt64LE(s + 1024n, 88);
  map.writeUInt32LE(auxBuf.length, 96);
  map.writeInt32LE(exeFd, 100);
  inj.write(s + 1024n, auxBuf);
  inj.write(s, map);
  const PR_SET_MM = 35, PR_SET_MM_MAP = 14;
  const r = inj.call('prctl', PR_SET_MM, PR_SET_MM_MAP, s, 104, 0);
  if (r < 0n) throw new CriuError(`task ${t.pid}: prctl(PR_SET_MM_MAP) failed: ${errnoName(Number(-r))}`, { task: t.pid, object: 'mm_struct (PR_SET_MM_MAP)', hint: 'the tool needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN' });
  if (exeFd >= 0) inj.must('close', exeFd);
  if (mm.dumpable !== undefined) inj.call('prctl', 4 /* PR_SET_DUMPABLE */, mm.dumpable);
  if (mm.thp_disabled) inj.must('prctl', 41 /* PR_SET_THP_DISABLE */, 1);
}

/** One call of a batch, what it sets, and what its failure means. */
interface Step { call: BatchCall; why: string; onFail: 'throw' | 'warn' | 'ignore' }

/** Runs the steps in one batch: a failed 'throw' step fails the restore, a 'warn' one is logged. */
function runSteps(inj: Injector, who: string, steps: Step[]): void {
  inj.batch(steps.map((x) => x.call)).forEach((r, k) => {
    if (r >= 0n || r <= -4096n) return;
    const st = steps[k];
    if (st.onFail === 'throw') throw new InjectError(inj.tid, `${st.call.name} (${st.why})`, r);
    if (st.onFail === 'warn') log.warn(`${who}: cannot set ${st.why}: ${errnoName(Number(-r))}`);
  });
}

function restoreProcessState(p: Puppet, t: TaskImages): void {
  const inj = p.inj, s = p.scratch;
  const tc = t.core.tc ?? {};
  const who = `task ${t.pid}`;
  // one write of every argument into the scratch pages, then one batch of calls:
  // sigactions (the image skips SIGKILL and SIGSTOP), itimers, rlimits, personality, subreaper
  const args = Buffer.alloc(32 * 64 + 32 * 3 + 16 * 32);
  const steps: Step[] = [];
  let sig = 1;
  for (const sa of (tc.sigactions ?? []) as M[]) {
    while (sig === SIG.KILL || sig === SIG.STOP) sig++;
    const o = 32 * (sig - 1);
    args.writeBigUInt64LE(BigInt(sa.sigaction), o); args.writeBigUInt64LE(BigInt(sa.flags), o + 8);
    args.writeBigUInt64LE(BigInt(sa.restorer), o + 16); args.writeBigUInt64LE(BigInt(sa.mask), o + 24);
    steps.push({ call: { name: 'rt_sigaction', args: [sig, s + BigInt(o), 0, 8] }, why: `sigaction of signal ${sig}`, onFail: 'throw' });
    sig++;
  }
  const timers = tc.timers;
  if (timers) {
    ['real', 'virt', 'prof'].forEach((k, which) => {
      const it = timers[k];
      if (!it) return;
      const o = 32 * 64 + 32 * which;
      // the kernel arms a CPU itimer one tick late: ask a tick less, so that it runs out when
      // the dumped one would have (else each restore adds a tick)
      let v = BigInt(it.vsec) * 1_000_000n + BigInt(it.vusec);
      const tick = which ? BigInt(cpuItimerTickUs()) : 0n;
      if (v > tick) v -= tick;
      args.writeBigUInt64LE(BigInt(it.isec), o); args.writeBigUInt64LE(BigInt(it.iusec), o + 8);
      args.writeBigUInt64LE(v / 1_000_000n, o + 16); args.writeBigUInt64LE(v % 1_000_000n, o + 24);
      steps.push({ call: { name: 'setitimer', args: [which, s + BigInt(o), 0] }, why: `itimer ${k}`, onFail: 'throw' });
    });
  }
  // rlimits: a hard limit above ours cannot be set without CAP_SYS_RESOURCE (DESIGN rule 16)
  ((tc.rlimits?.rlimits ?? []) as M[]).slice(0, 32).forEach((rl, res) => {
    const o = 32 * 64 + 32 * 3 + 16 * res;
    args.writeBigUInt64LE(BigInt(rl.cur), o); args.writeBigUInt64LE(BigInt(rl.max), o + 8);
    steps.push({ call: { name: 'prlimit64', args: [0, res, s + BigInt(o), 0] }, why: `rlimit ${res} (${rl.cur}/${rl.max})`, onFail: 'warn' });
  });
  if (tc.personality !== undefined) steps.push({ call: { name: 'personality', args: [tc.personality] }, why: 'personality', onFail: 'warn' });
  if (tc.child_subreaper) steps.push({ call: { name: 'prctl', args: [36 /* PR_SET_CHILD_SUBREAPER */, 1] }, why: 'child subreaper', onFail: 'throw' });
  inj.write(s, args);
  runSteps(inj, who, steps);
  if (tc.oom_score_adj !== undefined) {
    try { fs.writeFileSync(`/proc/${p.pid}/oom_score_adj`, String(tc.oom_score_adj)); } catch (e) {
      log.warn(`${who}: cannot set oom_score_adj ${tc.oom_score_adj}: ${(e as Error).message}`);
    }
  }
  drainSigchld(p, t);
  // shared pending signals: the task queues them to itself, so any si_code is allowed
  for (const e of tc.signals_s?.signals ?? []) {
    const info: Buffer = e.siginfo;
    inj.write(s, info);
    inj.must('rt_sigqueueinfo', p.pid, info.readInt32LE(0), s);
  }
}

/** What each thread has of its own: name, altstack, robust list, clear_child_tid, scheduling, private signals. */
function restoreThreadState(th: Thread, pid: number, s: bigint): void {
  const inj = th.inj;
  const core = th.core, tc = core.tc ?? {}, tcore = core.thread_core ?? {};
  const who = `task ${pid}: thread ${th.tid}`;
  // one write of the arguments, one batch: name, altstack, robust list, clear_child_tid, scheduling
  const args = Buffer.alloc(128);
  const steps: Step[] = [];
  const comm = tcore.comm ?? tc.comm;
  if (comm) {
    Buffer.from(String(comm)).subarray(0, 15).copy(args, 0);
    steps.push({ call: { name: 'prctl', args: [15 /* PR_SET_NAME */, s] }, why: `name ${comm}`, onFail: 'throw' });
  }
  if (tcore.sas) {
    args.writeBigUInt64LE(BigInt(tcore.sas.ss_sp), 64); args.writeInt32LE(tcore.sas.ss_flags, 72); args.writeBigUInt64LE(BigInt(tcore.sas.ss_size), 80);
    steps.push({ call: { name: 'sigaltstack', args: [s + 64n, 0] }, why: 'signal altstack', onFail: 'throw' });
  }
  if (BigInt(tcore.futex_rla ?? 0)) steps.push({ call: { name: 'set_robust_list', args: [BigInt(tcore.futex_rla), tcore.futex_rla_len] }, why: 'robust list', onFail: 'throw' });
  const clearTid = BigInt(core.thread_info?.clear_tid_addr ?? 0);
  if (clearTid) steps.push({ call: { name: 'set_tid_address', args: [clearTid] }, why: 'clear_child_tid', onFail: 'throw' });
  if (tcore.sched_policy !== undefined) {
    args.writeInt32LE(tcore.sched_prio ?? 0, 96);
    steps.push({ call: { name: 'sched_setscheduler', args: [0, tcore.sched_policy, s + 96n] }, why: `scheduling policy ${tcore.sched_policy}`, onFail: 'warn' });
  }
  if (tcore.sched_nice !== undefined) steps.push({ call: { name: 'setpriority', args: [0 /* PRIO_PROCESS */, th.tid, tcore.sched_nice] }, why: `nice ${tcore.sched_nice}`, onFail: 'ignore' });
  inj.write(s, args);
  runSteps(inj, who, steps);
  for (const e of tcore.signals_p?.signals ?? []) {
    const info: Buffer = e.siginfo;
    inj.write(s, info);
    inj.must('rt_tgsigqueueinfo', pid, th.tid, info.readInt32LE(0), s);
  }
}

/** uids, gids, groups, capabilities, securebits, no_new_privs: after this the task is unprivileged. */
function restoreCreds(th: Thread, pid: number, s: bigint, mm: M): void {
  const c = th.core.thread_core?.creds;
  if (!c) return;
  const inj = th.inj, who = `task ${pid}: thread ${th.tid}`;
  const cap64 = (a: number[] | undefined): bigint => (a?.length ? BigInt(a[0] >>> 0) | (BigInt((a[1] ?? 0) >>> 0) << 32n) : 0n);
  const bnd = cap64(c.cap_bnd);
  const lastCap = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  for (let cap = 0; cap <= lastCap; cap++) {
    if (!(bnd & (1n << BigInt(cap)))) inj.must('prctl', 24 /* PR_CAPBSET_DROP */, cap);
  }
  const SECBIT_KEEP_CAPS = 0x10, SECBIT_KEEP_CAPS_LOCKED = 0x20;
  inj.must('prctl', 28 /* PR_SET_SECUREBITS */, c.secbits | (c.secbits & SECBIT_KEEP_CAPS_LOCKED ? 0 : SECBIT_KEEP_CAPS));
  const groups: number[] = c.groups ?? [];
  const gb = Buffer.alloc(Math.max(4, groups.length * 4));
  groups.forEach((g, i) => gb.writeUInt32LE(g >>> 0, i * 4));
  inj.write(s, gb);
  inj.must('setgroups', groups.length, s);
  inj.must('setresgid', c.gid, c.egid, c.sgid);
  inj.must('setresuid', c.uid, c.euid, c.suid);
  inj.call('setfsgid', c.fsgid);
  inj.call('setfsuid', c.fsuid);
  // capset v3: header {version, pid}, two data words {effective, permitted, inheritable}
  const hdr = Buffer.alloc(8); hdr.writeUInt32LE(0x20080522, 0);
  const data = Buffer.alloc(24);
  const eff = cap64(c.cap_eff), prm = cap64(c.cap_prm), inh = cap64(c.cap_inh);
  for (let w = 0; w < 2; w++) {
    const sh = BigInt(32 * w), m = 0xffffffffn;
    data.writeUInt32LE(Number((eff >> sh) & m), 12 * w);
    data.writeUInt32LE(Number((prm >> sh) & m), 12 * w + 4);
    data.writeUInt32LE(Number((inh >> sh) & m), 12 * w + 8);
  }
  inj.write(s, hdr); inj.write(s + 8n, data);
  const r = inj.call('capset', s, s + 8n);
  if (r < 0n) throw new CriuError(`${who}: capset failed: ${errnoName(Number(-r))}`, { task: pid, object: 'capabilities', hint: r === -1n ? 'the saved capabilities include one the tool itself does not have; run it with every capability' : undefined });
  const amb = cap64(c.cap_amb);
  for (let cap = 0; cap <= lastCap; cap++) {
    if (amb & (1n << BigInt(cap))) inj.must('prctl', 47 /* PR_CAP_AMBIENT */, 2 /* RAISE */, cap, 0, 0);
  }
  if (!(c.secbits & SECBIT_KEEP_CAPS_LOCKED)) inj.must('prctl', 8 /* PR_SET_KEEPCAPS */, (c.secbits & SECBIT_KEEP_CAPS) ? 1 : 0);
  if (c.no_new_privs) inj.must('prctl', 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0);
  // a credential change clears the parent-death signal and resets the dumpable flag: set them now
  const pdeath = th.core.thread_core?.pdeath_sig;
  if (pdeath) inj.must('prctl', 1 /* PR_SET_PDEATHSIG */, pdeath);
  const d = mm.dumpable;
  if (d !== undefined) inj.call('prctl', 4 /* PR_SET_DUMPABLE */, d);
}

/** xstate, then general registers; a task stopped in a syscall re-runs it (DESIGN rule 6). */
function setRegisters(t: Tracee, core: M): void {
  const ti = core.thread_info;
  t.setFpState(xsaveFromImage(ti.fpregs));
  for (const { idx, desc } of tlsFromImage(ti.tls)) {
    try {
      t.setThreadArea(idx, desc);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      throw new CriuError(`bad image: core-${t.tid}.img: entry 0: thread_info.tls: the kernel refuses GDT TLS slot ${idx} (${e.code})`,
        'the images are damaged, or were made on a kernel that allows a TLS descriptor this one does not');
    }
  }
  // images of an interrupted syscall are normally rewound already (CRIU's and ours); older
  // ones of ours still hold -ERESTART*: the same fix-up makes either re-run the call
  const regs = new Regs(restartFixup(regsFromImage(ti.gpregs)));
  regs.set('orig_ax', -1n);
  t.setRegs(regs);
}
