// Process and thread state: signal actions, itimers, rlimits, pending signals, per-thread
// state, POSIX timers, seccomp filters, credentials; last, rseq, masks and registers.
import * as fs from 'node:fs';
import { ownPid } from '../ns/index.js';
import type { Puppet } from './puppet.js';
import { PAGE, GADGET_PAGES } from './puppet.js';
import type { TaskImages } from './images.js';
import type { Task, Thread } from './task.js';
import { drainSigchld } from './tree.js';
import { Injector, findSyscallInsn, InjectError, type BatchCall } from '../ptrace/inject.js';
import { PTRACE_O, SIG } from '../ptrace/consts.js';
import { regsFromImage, xsaveFromImage, restartFixup, tlsFromImage } from '../arch/x86_64.js';
import { setThreadState as setAarch64State } from '../arch/aarch64.js';
import { Regs, type Tracee } from '../ptrace/tracee.js';
import type { FileCtx } from '../files/restore-ctx.js';
import type { CoreEntry, MmEntry, TaskCoreEntry, ThreadCoreEntry, SeccompFilter, SeccompEntry } from '../images/index.js';
import { errnoName, cpuItimerTickUs, SysError, syscall } from '../sys/libc.js';
import { ids as userIds } from '../proc/idmap.js';
import { CriuError } from '../errors.js';
import { VMA } from '../images/consts.js';
import { log } from '../log.js';

/** One call of a batch, what it sets, and what its failure means. */
interface Step {
  call: BatchCall;
  why: string;
  onFail: 'throw' | 'warn' | 'ignore';
}

/** The steps' results: a failed 'throw' step fails the restore, a 'warn' one is logged. */
function checkSteps(inj: Injector, who: string, steps: Step[], rs: bigint[]): void {
  rs.forEach((r, k) => {
    if (r >= 0n || r <= -4096n) return;
    const st = steps[k];
    if (st.onFail === 'throw') throw new InjectError(inj.tid, `${st.call.name} (${st.why})`, r);
    if (st.onFail === 'warn') log.warn(`${who}: cannot set ${st.why}: ${errnoName(Number(-r))}`);
  });
}

/** Runs the steps in one batch (see checkSteps); returns their results. */
function runSteps(inj: Injector, who: string, steps: Step[]): bigint[] {
  const rs = inj.batch(steps.map((x) => x.call));
  checkSteps(inj, who, steps, rs);
  return rs;
}

export function restoreProcessState(p: Puppet, t: TaskImages): void {
  const inj = p.inj,
    s = p.scratch;
  const tc: Partial<TaskCoreEntry> = t.core.tc ?? {};
  const who = `task ${t.pid}`;
  // one write of every argument into the scratch pages, then one batch of calls:
  // sigactions (the image skips SIGKILL and SIGSTOP), itimers, rlimits, personality, subreaper
  const args = Buffer.alloc(32 * 64 + 32 * 3 + 16 * 32);
  const steps: Step[] = [];
  let sig = 1;
  for (const sa of tc.sigactions ?? []) {
    while (sig === SIG.KILL || sig === SIG.STOP) sig++;
    const o = 32 * (sig - 1);
    args.writeBigUInt64LE(BigInt(sa.sigaction), o);
    args.writeBigUInt64LE(BigInt(sa.flags), o + 8);
    args.writeBigUInt64LE(BigInt(sa.restorer), o + 16);
    args.writeBigUInt64LE(BigInt(sa.mask), o + 24);
    steps.push({ call: { name: 'rt_sigaction', args: [sig, s + BigInt(o), 0, 8] }, why: `sigaction of signal ${sig}`, onFail: 'throw' });
    sig++;
  }
  const timers = tc.timers;
  if (timers) {
    (['real', 'virt', 'prof'] as const).forEach((k, which) => {
      const it = timers[k];
      if (!it) return;
      const o = 32 * 64 + 32 * which;
      // the kernel arms a CPU itimer one tick late: ask a tick less, so that it runs out when
      // the dumped one would have (else each restore adds a tick)
      let v = BigInt(it.vsec) * 1_000_000n + BigInt(it.vusec);
      const tick = which ? BigInt(cpuItimerTickUs()) : 0n;
      if (v > tick) v -= tick;
      args.writeBigUInt64LE(BigInt(it.isec), o);
      args.writeBigUInt64LE(BigInt(it.iusec), o + 8);
      args.writeBigUInt64LE(v / 1_000_000n, o + 16);
      args.writeBigUInt64LE(v % 1_000_000n, o + 24);
      steps.push({ call: { name: 'setitimer', args: [which, s + BigInt(o), 0] }, why: `itimer ${k}`, onFail: 'throw' });
    });
  }
  // rlimits: a hard limit above ours cannot be set without CAP_SYS_RESOURCE (DESIGN rule 16)
  (tc.rlimits?.rlimits ?? []).slice(0, 32).forEach((rl, res) => {
    const o = 32 * 64 + 32 * 3 + 16 * res;
    args.writeBigUInt64LE(BigInt(rl.cur), o);
    args.writeBigUInt64LE(BigInt(rl.max), o + 8);
    steps.push({ call: { name: 'prlimit64', args: [0, res, s + BigInt(o), 0] }, why: `rlimit ${res} (${rl.cur}/${rl.max})`, onFail: 'warn' });
  });
  if (tc.personality !== undefined) steps.push({ call: { name: 'personality', args: [tc.personality] }, why: 'personality', onFail: 'warn' });
  if (tc.child_subreaper) steps.push({ call: { name: 'prctl', args: [36 /* PR_SET_CHILD_SUBREAPER */, 1] }, why: 'child subreaper', onFail: 'throw' });
  inj.write(s, args);
  runSteps(inj, who, steps);
  if (tc.oom_score_adj !== undefined) {
    try {
      fs.writeFileSync(`/proc/${p.pid}/oom_score_adj`, String(tc.oom_score_adj));
    } catch (e) {
      log.warn(`${who}: cannot set oom_score_adj ${tc.oom_score_adj}: ${(e as Error).message}`);
    }
  }
  drainSigchld(p, t);
  // shared pending signals: the task queues them to itself, so any si_code is allowed
  for (const e of tc.signals_s?.signals ?? []) {
    const info = e.siginfo;
    inj.write(s, info);
    inj.must('rt_sigqueueinfo', ownPid(t.pid), info.readInt32LE(0), s); // its pid in its own pid namespace
  }
}

/** What each thread has of its own: name, altstack, robust list, clear_child_tid, scheduling, private signals. */
export function restoreThreadState(th: Thread, pid: number, s: bigint): void {
  const inj = th.inj;
  const core = th.core,
    tc: Partial<TaskCoreEntry> = core.tc ?? {},
    tcore: Partial<ThreadCoreEntry> = core.thread_core ?? {};
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
    args.writeBigUInt64LE(BigInt(tcore.sas.ss_sp), 64);
    args.writeInt32LE(tcore.sas.ss_flags, 72);
    args.writeBigUInt64LE(BigInt(tcore.sas.ss_size), 80);
    steps.push({ call: { name: 'sigaltstack', args: [s + 64n, 0] }, why: 'signal altstack', onFail: 'throw' });
  }
  if (BigInt(tcore.futex_rla ?? 0))
    steps.push({ call: { name: 'set_robust_list', args: [BigInt(tcore.futex_rla ?? 0), tcore.futex_rla_len ?? 0] }, why: 'robust list', onFail: 'throw' });
  const clearTid = BigInt((core.thread_info ?? core.ti_aarch64)?.clear_tid_addr ?? 0);
  if (clearTid) steps.push({ call: { name: 'set_tid_address', args: [clearTid] }, why: 'clear_child_tid', onFail: 'throw' });
  if (tcore.sched_policy !== undefined) {
    args.writeInt32LE(tcore.sched_prio ?? 0, 96);
    steps.push({
      call: { name: 'sched_setscheduler', args: [0, tcore.sched_policy, s + 96n] },
      why: `scheduling policy ${tcore.sched_policy}`,
      onFail: 'warn',
    });
  }
  if (tcore.sched_nice !== undefined)
    steps.push({
      call: { name: 'setpriority', args: [0 /* PRIO_PROCESS */, ownPid(th.tid), tcore.sched_nice] },
      why: `nice ${tcore.sched_nice}`,
      onFail: 'ignore',
    });
  inj.write(s, args);
  runSteps(inj, who, steps);
  // a task of a user namespace cannot lower its nice (can_nice wants CAP_SYS_NICE of the host): the tool does it
  if (userIds.active() && (tcore.sched_nice ?? 0) < 0) niceFromTool(who, th.tid, tcore.sched_nice ?? 0);
  for (const e of tcore.signals_p?.signals ?? []) {
    const info = e.siginfo;
    inj.write(s, info);
    inj.must('rt_tgsigqueueinfo', ownPid(pid), ownPid(th.tid), info.readInt32LE(0), s);
  }
}

function niceFromTool(who: string, tid: number, nice: number): void {
  try {
    syscall('setpriority', 0 /* PRIO_PROCESS */, tid, nice);
  } catch (e) {
    log.warn(`${who}: cannot set nice ${nice}: ${(e as Error).message}`);
  }
}

let lastCapCache = -1;
function lastCap(): number {
  if (lastCapCache < 0) lastCapCache = Number(fs.readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  return lastCapCache;
}

const cap64 = (a: number[] | undefined): bigint => (a?.length ? BigInt(a[0] >>> 0) | (BigInt((a[1] ?? 0) >>> 0) << 32n) : 0n);

/** capset v3's header {version, pid} and two data words {effective, permitted, inheritable} */
function capsetArgs(c: { cap_eff?: number[]; cap_prm?: number[]; cap_inh?: number[] }): Buffer {
  const b = Buffer.alloc(8 + 24);
  b.writeUInt32LE(0x20080522, 0);
  const eff = cap64(c.cap_eff),
    prm = cap64(c.cap_prm),
    inh = cap64(c.cap_inh);
  for (let w = 0; w < 2; w++) {
    const sh = BigInt(32 * w),
      m = 0xffffffffn;
    b.writeUInt32LE(Number((eff >> sh) & m), 8 + 12 * w);
    b.writeUInt32LE(Number((prm >> sh) & m), 8 + 12 * w + 4);
    b.writeUInt32LE(Number((inh >> sh) & m), 8 + 12 * w + 8);
  }
  return b;
}

/**
 * uids, gids, groups, capabilities, securebits, no_new_privs: after this the task is
 * unprivileged. Two batches: what comes before the groups check, then the rest.
 */
export function restoreCreds(th: Thread, pid: number, s: bigint, mm: MmEntry): void {
  const c = th.core.thread_core?.creds;
  if (!c) return;
  const inj = th.inj,
    who = `task ${pid}: thread ${th.tid}`;
  const bnd = cap64(c.cap_bnd);
  const SECBIT_KEEP_CAPS = 0x10,
    SECBIT_KEEP_CAPS_LOCKED = 0x20;
  // the scratch: the groups, getgroups' answer, capset's arguments
  const groups = c.groups ?? [];
  const gb = Buffer.alloc(Math.max(4, groups.length * 4));
  groups.forEach((g, i) => gb.writeUInt32LE(g >>> 0, i * 4));
  const got = s + BigInt(gb.length) + 8n;
  const capAt = got + BigInt(((groups.length + 1) * 4 + 15) & ~7);
  inj.write(s, gb);
  inj.write(capAt, capsetArgs(c));
  const first: Step[] = [];
  for (let cap = 0; cap <= lastCap(); cap++)
    if (!(bnd & (1n << BigInt(cap))))
      first.push({ call: { name: 'prctl', args: [24 /* PR_CAPBSET_DROP */, cap] }, why: `bounding set without capability ${cap}`, onFail: 'throw' });
  const keep = c.secbits | (c.secbits & SECBIT_KEEP_CAPS_LOCKED ? 0 : SECBIT_KEEP_CAPS);
  first.push({ call: { name: 'prctl', args: [28 /* PR_SET_SECUREBITS */, keep] }, why: `securebits 0x${keep.toString(16)}`, onFail: 'throw' });
  first.push({ call: { name: 'getgroups', args: [groups.length + 1, got] }, why: 'the groups it has', onFail: 'ignore' });
  const n = runSteps(inj, who, first).at(-1)!;
  // in a user namespace with setgroups "deny" the groups cannot change: a list that is already
  // right is left alone (as CRIU's restorer does), another one fails naming it
  const same = Number(n) === groups.length && (n === 0n || inj.read(got, groups.length * 4).equals(gb.subarray(0, groups.length * 4)));
  const rest: Step[] = [];
  const step = (name: BatchCall['name'], why: string, ...args: (number | bigint)[]): number => rest.push({ call: { name, args }, why, onFail: 'throw' }) - 1;
  const setgroups = same ? -1 : step('setgroups', 'groups', groups.length, s);
  step('setresgid', `gids ${c.gid} ${c.egid} ${c.sgid}`, c.gid, c.egid, c.sgid);
  step('setresuid', `uids ${c.uid} ${c.euid} ${c.suid}`, c.uid, c.euid, c.suid);
  rest.push({ call: { name: 'setfsgid', args: [c.fsgid] }, why: 'fsgid', onFail: 'ignore' });
  rest.push({ call: { name: 'setfsuid', args: [c.fsuid] }, why: 'fsuid', onFail: 'ignore' });
  const capset = step('capset', 'capabilities', capAt, capAt + 8n);
  const amb = cap64(c.cap_amb);
  for (let cap = 0; cap <= lastCap(); cap++)
    if (amb & (1n << BigInt(cap))) step('prctl', `ambient capability ${cap}`, 47 /* PR_CAP_AMBIENT */, 2 /* RAISE */, cap, 0, 0);
  if (!(c.secbits & SECBIT_KEEP_CAPS_LOCKED)) step('prctl', 'keep-caps', 8 /* PR_SET_KEEPCAPS */, c.secbits & SECBIT_KEEP_CAPS ? 1 : 0);
  if (c.no_new_privs) step('prctl', 'no_new_privs', 38 /* PR_SET_NO_NEW_PRIVS */, 1, 0, 0, 0);
  // a credential change clears the parent-death signal and resets the dumpable flag: set them now
  const pdeath = th.core.thread_core?.pdeath_sig;
  if (pdeath) step('prctl', `parent-death signal ${pdeath}`, 1 /* PR_SET_PDEATHSIG */, pdeath);
  const d = mm.dumpable;
  if (d !== undefined) rest.push({ call: { name: 'prctl', args: [4 /* PR_SET_DUMPABLE */, d] }, why: 'dumpable', onFail: 'ignore' });
  const rs = inj.batch(rest.map((x) => x.call));
  const failed = (k: number): boolean => k >= 0 && rs[k] < 0n && rs[k] > -4096n;
  if (failed(setgroups))
    throw new CriuError(`${who}: setgroups([${groups.join(', ')}]) failed: ${errnoName(Number(-rs[setgroups]))}`, {
      task: pid,
      object: 'supplementary groups',
      hint: rs[setgroups] === -1n ? 'its user namespace has setgroups "deny": the groups it was made with cannot change' : undefined,
    });
  if (failed(capset))
    throw new CriuError(`${who}: capset failed: ${errnoName(Number(-rs[capset]))}`, {
      task: pid,
      object: 'capabilities',
      hint: rs[capset] === -1n ? 'the saved capabilities include one the tool itself does not have; run it with every capability' : undefined,
    });
  checkSteps(inj, who, rest, rs);
}

/**
 * A thread's seccomp filters, oldest first. The tracee is put in PTRACE_O_SUSPEND_SECCOMP
 * first, so that the filters cannot block the syscalls still to be injected.
 */
export function restoreSeccomp(th: Thread, pid: number, s: bigint, files: FileCtx): void {
  const tcore: Partial<ThreadCoreEntry> = th.core.thread_core ?? {};
  if (tcore.seccomp_mode !== 2) return;
  const all = ((files.image('seccomp.img', 'SECCOMP') ?? [])[0]?.msg as SeccompEntry | undefined)?.seccomp_filters;
  const who = `task ${pid}: thread ${th.tid}`;
  const chain: SeccompFilter[] = [];
  for (let i: number | undefined = tcore.seccomp_filter; i !== undefined; i = all?.[i]?.prev) {
    const f = all?.[i];
    if (!f || chain.length > (all?.length ?? 0)) throw new CriuError(`${who}: seccomp filter ${i} is not in seccomp.img`);
    chain.push(f);
  }
  th.t.setOptions(PTRACE_O.EXITKILL | PTRACE_O.TRACESYSGOOD | PTRACE_O.TRACECLONE | PTRACE_O.TRACEFORK | PTRACE_O.SUSPEND_SECCOMP);
  for (const f of chain) {
    const insns = f.filter;
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
export function restorePosixTimers(p: Puppet, t: TaskImages): void {
  const timers = t.core.tc?.timers?.posix ?? [];
  if (!timers.length) return;
  const inj = p.inj,
    s = p.scratch,
    who = `task ${t.pid}`;
  const PR_TIMER_CREATE_RESTORE_IDS = 77;
  const byId = inj.call('prctl', PR_TIMER_CREATE_RESTORE_IDS, 1, 0, 0, 0) === 0n;
  for (const tm of [...timers].sort((a, b) => a.it_id - b.it_id)) {
    const ev = Buffer.alloc(64);
    ev.writeBigUInt64LE(BigInt(tm.sival_ptr), 0);
    ev.writeInt32LE(tm.si_signo, 8);
    ev.writeInt32LE(tm.it_sigev_notify, 12);
    ev.writeInt32LE(ownPid(tm.notify_thread_id ?? 0), 16);
    const id = Buffer.alloc(4);
    id.writeInt32LE(tm.it_id);
    inj.write(s, ev);
    inj.write(s + 64n, id);
    const r = inj.call('timer_create', tm.clock_id, s, s + 64n);
    if (r < 0n) throw new CriuError(`${who}: cannot create POSIX timer ${tm.it_id} (clock ${tm.clock_id}): ${errnoName(Number(-r))}`);
    const got = inj.read(s + 64n, 4).readInt32LE(0);
    if (got !== tm.it_id) {
      throw new CriuError(
        `${who}: POSIX timer ${tm.it_id} came back as id ${got}`,
        byId ? undefined : 'this kernel lacks PR_TIMER_CREATE_RESTORE_IDS (Linux 6.17+)',
      );
    }
    const spec = Buffer.alloc(32);
    spec.writeBigInt64LE(BigInt(tm.isec), 0);
    spec.writeBigInt64LE(BigInt(tm.insec), 8);
    spec.writeBigInt64LE(BigInt(tm.vsec), 16);
    spec.writeBigInt64LE(BigInt(tm.vnsec), 24);
    if (BigInt(tm.vsec) || BigInt(tm.vnsec)) {
      inj.write(s, spec);
      inj.must('timer_settime', got, 0, s, 0);
    }
  }
  if (byId) inj.call('prctl', PR_TIMER_CREATE_RESTORE_IDS, 0, 0, 0, 0);
}

/** Last: drop the transport, the gadget (by single-step), register rseq, set masks and registers. */
export function finalRegisters(task: Task, files: FileCtx): void {
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
  const vdso = (t.mm.vmas ?? []).filter((v) => v.status & VMA.VDSO && v.prot & 4 /* PROT_EXEC */).map((v) => ({ start: BigInt(v.start), end: BigInt(v.end) }));
  const vdsoSyscall = findSyscallInsn(p.pid, vdso);
  p.inj.gadget = vdsoSyscall;
  for (const th of threads) {
    th.inj.gadget = vdsoSyscall;
    const tcore: Partial<ThreadCoreEntry> = th.core.thread_core ?? {};
    if (tcore.rseq_entry && BigInt(tcore.rseq_entry.rseq_abi_pointer)) {
      const r = th.inj.call('rseq', BigInt(tcore.rseq_entry.rseq_abi_pointer), tcore.rseq_entry.rseq_abi_size, 0, tcore.rseq_entry.signature);
      if (r < 0n) log.warn(`${who}: thread ${th.tid}: rseq registration failed: ${errnoName(Number(-r))}`);
    }
  }
  // the masks go last: queued signals must not be delivered on an injection frame
  const tc: Partial<TaskCoreEntry> = t.core.tc ?? {};
  for (const th of threads) {
    const tcore: Partial<ThreadCoreEntry> = th.core.thread_core ?? {};
    th.t.setSigmask(BigInt(tcore.blk_sigset ?? (th.tid === t.pid ? tc.blk_sigset : 0) ?? 0));
    setRegisters(th.t, th.core);
  }
}

/** xstate, then general registers; a task stopped in a syscall re-runs it (DESIGN rule 6). */
function setRegisters(t: Tracee, core: CoreEntry): void {
  if (core.ti_aarch64) return setAarch64State(t, core.ti_aarch64, `task ${t.tid}`);
  const ti = core.thread_info!;
  t.setFpState(xsaveFromImage(ti.fpregs));
  for (const { idx, desc } of tlsFromImage(ti.tls)) {
    try {
      t.setThreadArea(idx, desc);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      throw new CriuError(
        `bad image: core-${t.tid}.img: entry 0: thread_info.tls: the kernel refuses GDT TLS slot ${idx} (${e.code})`,
        'the images are damaged, or were made on a kernel that allows a TLS descriptor this one does not',
      );
    }
  }
  // images of an interrupted syscall are normally rewound already (CRIU's and ours); older
  // ones of ours still hold -ERESTART*: the same fix-up makes either re-run the call
  const regs = new Regs(restartFixup(regsFromImage(ti.gpregs)));
  regs.set('orig_ax', -1n);
  t.setRegs(regs);
}

/** The sched_setaffinity mask of a thread: its dumped CPUs, else `dflt` (it was not pinned). */
export function affinityMask(core: CoreEntry, dflt: Buffer): Buffer {
  const a = core.thread_core?.allowed_cpus;
  if (!a?.has_cpumask) return dflt;
  // the image holds the mask as the kernel's 64-bit words already
  const words = a.cpumask ?? [];
  const m = Buffer.alloc(Math.max(dflt.length, 8 * words.length));
  words.forEach((w, i) => m.writeBigUInt64LE(BigInt(w), 8 * i));
  return m;
}
