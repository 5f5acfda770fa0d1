// What a frozen task is made of, read from outside (/proc, ptrace) and from inside (injected
// syscalls). Everything here runs while the tree is frozen; nothing is written yet.
import * as fs from 'node:fs';
import { readExtra as readAarch64Extra, type Aarch64Extra } from '../arch/aarch64.js';
import { Tracee, Regs } from '../ptrace/tracee.js';
import { Injector, findSyscallInsn, type BatchCall } from '../ptrace/inject.js';
import { PTRACE, SIG, SIGMAX } from '../ptrace/consts.js';
import { ptraceRaw, big, clockNs, CLOCK } from '../sys/libc.js';
import { arch } from '../sys/arch.js';
import {
  readStat,
  readStatus,
  readLimits,
  readSmaps,
  readAuxv,
  readTimers,
  type ProcStat,
  type ProcStatus,
  type SmapsVma,
  type Rlimit,
} from '../proc/index.js';
import { NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import type { Frozen } from './freeze.js';
import type { ItimerEntry, PosixTimerEntry } from '../images/index.js';

export interface SigactionRec {
  handler: bigint;
  flags: bigint;
  restorer: bigint;
  mask: bigint;
}
export interface UserDesc {
  entry_number: number;
  base_addr: number;
  limit: number;
  flags: number;
}

export interface ThreadState {
  tid: number;
  regs: Regs;
  fpu: Buffer;
  sigmask: bigint;
  pending: Buffer[];
  rseq: { ptr: bigint; size: number; sig: number } | null;
  robust: { head: bigint; len: number };
  clearTid: bigint;
  sas: { sp: bigint; flags: number; size: bigint };
  tls: UserDesc[];
  /** aarch64: tpidr_el0 and the pointer authentication keys */
  arm?: Aarch64Extra;
  pdeathSig: number;
  status: ProcStatus;
  stat: ProcStat;
  secbits: number;
  schedPolicy: number;
  schedPrio: number;
  nice: number;
  comm: string;
  /** classic-BPF seccomp filters of the thread, newest first */
  seccomp: { insns: Buffer; flags: bigint }[];
}

export interface TaskState {
  pid: number;
  stat: ProcStat;
  status: ProcStatus;
  threads: ThreadState[];
  sigactions: SigactionRec[]; // index sig-1, SIGKILL/SIGSTOP included as zeros
  itimers: ItimerEntry[]; // real, virt, prof
  posixTimers: PosixTimerEntry[];
  rlimits: Rlimit[];
  sharedPending: Buffer[];
  personality: number;
  oomScoreAdj: number;
  loginuid: number;
  childSubreaper: boolean;
  dumpable: number;
  thpDisabled: boolean;
  brk: bigint;
  auxv: Buffer;
  exe: string;
  cwd: string;
  root: string;
  vmas: SmapsVma[];
  gadget: bigint;
  /** the signal that stopped the task, when it was stopped (group stop) at dump time */
  stopSig?: number;
  /** in a time namespace other than the tool's: its clocks' offsets to the host's, as measured from inside */
  timeOffsets?: { monotonic: bigint; boottime: bigint };
}

/**
 * The offsets of the task's time namespace, measured: CLOCK_MONOTONIC and CLOCK_BOOTTIME read
 * by an injected clock_gettime (the syscall applies the namespace's offsets) against the host's
 * read around it (an error of the injection's few microseconds). /proc/PID/timens_offsets
 * shows only the namespace the task's children get, which is another one after an unshare.
 */
function measureTimeOffsets(pid: number, inj: Injector, scratch: bigint): TaskState['timeOffsets'] {
  try {
    if (fs.readlinkSync(`/proc/${pid}/ns/time`) === fs.readlinkSync('/proc/self/ns/time')) return undefined;
  } catch {
    return undefined; // no time namespaces in this kernel
  }
  const before = [clockNs(CLOCK.MONOTONIC), clockNs(CLOCK.BOOTTIME)];
  inj.mustBatch([
    { name: 'clock_gettime', args: [CLOCK.MONOTONIC, scratch] },
    { name: 'clock_gettime', args: [CLOCK.BOOTTIME, scratch + 16n] },
  ]);
  const after = [clockNs(CLOCK.MONOTONIC), clockNs(CLOCK.BOOTTIME)];
  const b = inj.read(scratch, 32);
  const ns = (o: number): bigint => b.readBigInt64LE(o) * 1_000_000_000n + b.readBigInt64LE(o + 8);
  return { monotonic: ns(0) - (before[0] + after[0]) / 2n, boottime: ns(16) - (before[1] + after[1]) / 2n };
}

const PR = { GET_PDEATHSIG: 2, GET_DUMPABLE: 3, GET_SECUREBITS: 27, GET_TID_ADDRESS: 40, GET_CHILD_SUBREAPER: 37, GET_THP_DISABLE: 42 };

function readInt(path: string, dflt: number): number {
  try {
    return parseInt(fs.readFileSync(path, 'utf8').trim(), 10);
  } catch {
    return dflt;
  }
}

/** The GDT TLS slots of an x86_64 thread (PTRACE_GET_THREAD_AREA), as CRIU stores them. */
function readTls(tid: number): UserDesc[] {
  if (arch.name !== 'x86_64') return [];
  const out: UserDesc[] = [];
  for (let idx = 12; idx <= 14; idx++) {
    const b = Buffer.alloc(16);
    const r = ptraceRaw(25 /* PTRACE_GET_THREAD_AREA */, tid, idx, b);
    if (big(r) < 0n) {
      out.push({ entry_number: idx, base_addr: 0, limit: 0, flags: 0x28 });
      continue;
    }
    out.push({ entry_number: b.readUInt32LE(0), base_addr: b.readUInt32LE(4), limit: b.readUInt32LE(8), flags: b.readUInt32LE(12) });
  }
  return out;
}

/** Thread-level state; `inj` is an injector already begun on this very thread. */
export function collectThread(pid: number, t: Tracee, inj: Injector, scratch: bigint): ThreadState {
  const tid = t.tid;
  const regs = inj.savedRegs.clone();
  const fpu = t.getFpState();
  const status = readStatus(pid, tid);
  const stat = readStat(pid, tid);
  if (status.seccomp === 1) throw new NotSupportedError(`task ${tid}: strict seccomp mode`, 'strict mode allows no syscall to restore with');
  const seccomp = status.seccomp === 2 ? t.seccompFilters() : [];
  const rc = t.rseqConf();

  // inside the thread, in one batch: robust list, clear_child_tid, altstack, pdeath signal,
  // securebits, scheduling policy and priority
  const r = inj.mustBatch([
    { name: 'get_robust_list', args: [0, scratch, scratch + 8n] },
    { name: 'prctl', args: [PR.GET_TID_ADDRESS, scratch + 16n] },
    { name: 'sigaltstack', args: [0, scratch + 24n] },
    { name: 'prctl', args: [PR.GET_PDEATHSIG, scratch + 48n] },
    { name: 'prctl', args: [PR.GET_SECUREBITS] },
    { name: 'sched_getscheduler', args: [0] },
    { name: 'sched_getparam', args: [0, scratch + 56n] },
  ]);
  const out = inj.read(scratch, 64);
  const rl = out.subarray(0, 16);
  const clearTid = out.readBigUInt64LE(16);
  const ss = out.subarray(24, 48);
  const pdeathSig = out.readInt32LE(48);
  const secbits = Number(r[4]);
  const policy = Number(r[5]);
  const prio = out.readInt32LE(56);

  return {
    tid,
    regs,
    fpu,
    status,
    stat,
    pdeathSig,
    secbits,
    comm: stat.comm,
    seccomp,
    sigmask: inj.savedMask,
    pending: t.peekSiginfo(false),
    rseq: rc && rc.rseq_abi_pointer ? { ptr: rc.rseq_abi_pointer, size: rc.rseq_abi_size, sig: rc.signature } : null,
    robust: { head: rl.readBigUInt64LE(0), len: Number(rl.readBigUInt64LE(8)) },
    clearTid,
    sas: { sp: ss.readBigUInt64LE(0), flags: ss.readInt32LE(8), size: ss.readBigUInt64LE(16) },
    tls: readTls(tid),
    ...(arch.name === 'aarch64' ? { arm: readAarch64Extra(t, inj.savedSve, `task ${pid} thread ${t.tid}`) } : {}),
    schedPolicy: policy & 0xff,
    schedPrio: prio,
    nice: stat.nice,
  };
}

/** Process-level state read by injection into the main thread (inj is begun on it). */
export function collectProcessInside(
  inj: Injector,
  scratch: bigint,
): Pick<TaskState, 'sigactions' | 'itimers' | 'posixTimers' | 'brk' | 'childSubreaper' | 'dumpable' | 'thpDisabled'> {
  // one batch: every sigaction (32 bytes each at scratch + 32 * (sig - 1)), the three itimers
  // after them, brk, child subreaper, dumpable, THP
  const calls: BatchCall[] = [];
  for (let s = 1; s <= SIGMAX; s++) {
    if (s !== SIG.KILL && s !== SIG.STOP) calls.push({ name: 'rt_sigaction', args: [s, 0, scratch + BigInt(32 * (s - 1)), 8] });
  }
  const itOff = 32 * SIGMAX;
  for (let which = 0; which < 3; which++) calls.push({ name: 'getitimer', args: [which, scratch + BigInt(itOff + 32 * which)] });
  const subOff = itOff + 96;
  calls.push(
    { name: 'brk', args: [0] },
    { name: 'prctl', args: [PR.GET_CHILD_SUBREAPER, scratch + BigInt(subOff)] },
    { name: 'prctl', args: [PR.GET_DUMPABLE] },
    { name: 'prctl', args: [PR.GET_THP_DISABLE] },
  );
  const res = inj.mustBatch(calls);
  const buf = inj.read(scratch, subOff + 8);
  const sigactions: SigactionRec[] = [];
  for (let s = 1; s <= SIGMAX; s++) {
    if (s === SIG.KILL || s === SIG.STOP) {
      sigactions.push({ handler: 0n, flags: 0n, restorer: 0n, mask: 0n });
      continue;
    }
    const o = 32 * (s - 1);
    sigactions.push({
      handler: buf.readBigUInt64LE(o),
      flags: buf.readBigUInt64LE(o + 8),
      restorer: buf.readBigUInt64LE(o + 16),
      mask: buf.readBigUInt64LE(o + 24),
    });
  }
  const itimers: ItimerEntry[] = [];
  for (let which = 0; which < 3; which++) {
    const o = itOff + 32 * which;
    itimers.push({ isec: buf.readBigUInt64LE(o), iusec: buf.readBigUInt64LE(o + 8), vsec: buf.readBigUInt64LE(o + 16), vusec: buf.readBigUInt64LE(o + 24) });
  }
  const [brk, , dumpableR, thpR] = res.slice(-4);
  const childSubreaper = buf.readInt32LE(subOff) !== 0;
  const dumpable = Number(dumpableR);
  const thpDisabled = Number(thpR) !== 0;
  // POSIX timers: ids, clocks and notification from /proc, times and overruns from inside
  const posixTimers: PosixTimerEntry[] = readTimers(inj.tid).map((t) => {
    inj.must('timer_gettime', t.id, scratch);
    const b = inj.read(scratch, 32);
    const overrun = Number(inj.must('timer_getoverrun', t.id));
    return {
      it_id: t.id,
      clock_id: t.clockId,
      si_signo: t.signo,
      it_sigev_notify: t.sigevNotify,
      sival_ptr: t.sigval,
      overrun,
      isec: b.readBigInt64LE(0),
      insec: b.readBigInt64LE(8),
      vsec: b.readBigInt64LE(16),
      vnsec: b.readBigInt64LE(24),
      ...(t.threadId ? { notify_thread_id: t.notifyPid } : {}),
    };
  });
  return { sigactions, itimers, posixTimers, brk, childSubreaper, dumpable, thpDisabled };
}

/** cwd or root of a task, with " (deleted)" when it was removed (a ghost directory then). */
function liveDir(pid: number, which: 'cwd' | 'root'): string {
  const p = fs.readlinkSync(`/proc/${pid}/${which}`);
  if (p.endsWith(' (deleted)') && which === 'root') throw new NotSupportedError(`task ${pid}: root ${p}`, 'a removed root directory is not dumped yet');
  return p;
}

/** Everything of one process that /proc shows from outside. */
export function collectProcessOutside(
  pid: number,
): Omit<
  TaskState,
  'stopSig' | 'threads' | 'sigactions' | 'itimers' | 'posixTimers' | 'brk' | 'childSubreaper' | 'dumpable' | 'thpDisabled' | 'sharedPending' | 'gadget'
> {
  const stat = readStat(pid);
  const status = readStatus(pid);
  return {
    pid,
    stat,
    status,
    rlimits: readLimits(pid),
    personality: parseInt(fs.readFileSync(`/proc/${pid}/personality`, 'utf8'), 16),
    oomScoreAdj: readInt(`/proc/${pid}/oom_score_adj`, 0),
    loginuid: readInt(`/proc/${pid}/loginuid`, -1) >>> 0,
    auxv: readAuxv(pid).raw,
    exe: fs.readlinkSync(`/proc/${pid}/exe`),
    cwd: liveDir(pid, 'cwd'),
    root: liveDir(pid, 'root'),
    vmas: readSmaps(pid),
  };
}

/** The injectors begun and not ended yet: a failing dump undoes them, last first. */
export class Injections {
  active: Injector[] = [];
  /** undo what the injections left in the task: the scratch mapping, then registers and mask */
  undo(): void {
    for (const inj of this.active.reverse()) {
      try {
        inj.unmapBatchArea();
      } catch {
        /* the task is gone */
      }
      try {
        inj.unmapScratch();
      } catch {
        /* the task is gone */
      }
      try {
        inj.end();
      } catch {
        /* the task is gone */
      }
    }
  }
}

/** Everything of one live frozen task: from outside, then from inside it, thread by thread. */
export function collectTask(f: Frozen, injections: Injections): TaskState {
  const outside = collectProcessOutside(f.pid);
  log.info(`Collected task ${f.pid} (${outside.stat.comm}): ${outside.vmas.length} VMAs`);
  const gadget = findSyscallInsn(f.pid);
  const inj = new Injector(f.tracees[0], gadget);
  injections.active = [inj];
  inj.begin();
  const scratch = inj.mapScratch();
  const area = inj.mapBatchArea();
  faultPoint(7, 'inject');
  const inside = collectProcessInside(inj, scratch);
  const timeOffsets = measureTimeOffsets(f.pid, inj, scratch);
  const threads = [collectThread(f.pid, f.tracees[0], inj, scratch)];
  for (const t of f.tracees.slice(1)) {
    const ti = new Injector(t, gadget);
    ti.batchArea = area;
    injections.active.push(ti);
    ti.begin();
    threads.push(collectThread(f.pid, t, ti, scratch));
    ti.end();
    ti.batchArea = null;
    injections.active.pop();
  }
  inj.unmapBatchArea();
  inj.unmapScratch();
  inj.end();
  injections.active = [];
  // the SIGCONT this tool sent to end a group stop is not the task's own (in a pid namespace of
  // the tree's own the tool is outside it: the kernel gives it as si_pid 0)
  const sender = otherPidNs(f.pid) ? 0 : process.pid;
  const ours = (si: Buffer): boolean => si.readInt32LE(0) === SIG.CONT && si.readInt32LE(8) === 0 /* SI_USER */ && si.readInt32LE(16) === sender;
  const sharedPending = f.tracees[0].peekSiginfo(true).filter((si) => !(f.stopSig && ours(si)));
  return { ...outside, ...inside, threads, sharedPending, gadget, stopSig: f.stopSig, ...(timeOffsets ? { timeOffsets } : {}) };
}

export { findSyscallInsn, PTRACE };

/** whether task `pid` lives in another pid namespace than the tool (where the tool's pid shows as 0) */
function otherPidNs(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`) !== fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return false;
  }
}
