// The tree: the root puppet's preparation, forks of children (CLONE_FILES when they share the
// fd table), sessions and process groups, zombies, and threads.
import * as fs from 'node:fs';
import { Puppet, PAGE, GADGET_PAGES } from './puppet.js';
import type { TaskImages } from './images.js';
import type { RestorePlan, PlanTask } from './plan.js';
import { findHole, type Range, type Task, type Thread } from './task.js';
import { readMaps } from '../proc/index.js';
import { Injector } from '../ptrace/inject.js';
import { SIG, PTRACE_EVENT } from '../ptrace/consts.js';
import { Tracee, waitStop } from '../ptrace/tracee.js';
import type { CoreEntry } from '../images/index.js';
import { errnoName, waitpid, decodeWait, __WALL } from '../sys/libc.js';
import { SYS, arch } from '../sys/arch.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
import { treePids } from '../proc/nspid.js';
import { setTidOf, seenBy, ownPid, isNestedInit, pidMade, wantedHost, CLONE_NEWPID } from '../ns/index.js';
import { ids as userIds } from '../proc/idmap.js';

/** Unregister the root puppet's rseq and place the gadget where no task of the image has anything. */
export function prepareRoot(p: Puppet, plan: RestorePlan): void {
  const prs = p.t.rseqConf();
  if (prs && prs.rseq_abi_pointer) p.inj.must('rseq', prs.rseq_abi_pointer, prs.rseq_abi_size, 1, prs.signature);
  faultPoint(102, 'gadget');
  const own = readMaps(p.pid);
  const taken: Range[] = [...own.filter((v) => v.kind !== 'vsyscall').map((v) => ({ s: v.start, e: v.end })), ...plan.gadget.taken];
  p.placeGadget(findHole(taken, GADGET_PAGES * PAGE));
}

/**
 * A zombie: the forked puppet ends the way the task did (exit code, or killed by its signal),
 * and stays unreaped for its parent.
 */
export function die(task: { p: Puppet; t: { pid: number; core: CoreEntry } }): void {
  const { p, t } = task;
  const status: number = t.core.tc?.exit_code ?? 0;
  const sig = status & 0x7f,
    code = (status >> 8) & 0xff;
  const regs = p.inj.savedRegs.clone();
  regs.set(arch.abi.pc, p.inj.gadget);
  if (arch.name === 'x86_64') regs.set('orig_ax', -1n);
  if (sig) {
    const dfl = Buffer.alloc(32);
    p.inj.write(p.scratch, dfl);
    if (sig !== SIG.KILL && sig !== SIG.STOP) p.inj.must('rt_sigaction', sig, p.scratch, 0, 8);
    p.t.setSigmask(0n);
    regs.set(arch.abi.nr, SYS.kill);
    regs.set(arch.abi.args[0], ownPid(t.pid)); // its pid in its own pid namespace
    regs.set(arch.abi.args[1], sig);
  } else {
    regs.set(arch.abi.nr, SYS.exit_group);
    regs.set(arch.abi.args[0], code);
  }
  p.t.setRegs(regs);
  p.t.cont(0);
  for (;;) {
    const st = decodeWait(waitpid(p.pid, __WALL).status);
    if (st.kind === 'exited' || st.kind === 'signaled') break;
    if (st.kind === 'stopped') p.t.cont(st.event ? 0 : st.sig);
  }
  log.debug(`task ${t.pid}: zombie with status 0x${status.toString(16)}`);
}

/** setsid for a session leader, right at birth: its children must be born in its session. */
export function setSession(task: Task, pt: PlanTask): void {
  const { p } = task;
  if (pt.session === 'setsid') p.inj.must('setsid');
  else if (pt.session === 'setpgid') p.inj.must('setpgid', 0, 0);
}

/** Join a process group led by another task, once every task exists. */
export function setGroup(task: Task, pt: PlanTask): void {
  const { p, t } = task;
  if (!pt.joinGroup) return;
  const pgid = pt.joinGroup.pgid;
  // (a tree in its own pid namespace has nothing outside it there: ns/pid.ts)
  if (pt.joinGroup.leaderInTree || (!treePids.own && fs.existsSync(`/proc/${pgid}`))) {
    p.inj.must('setpgid', 0, seenBy(pgid, t.pid));
    return;
  }
  // the group's leader is gone: a helper on its PID makes the group, the task joins it, and
  // the helper exits and is reaped by the task, as CRIU's helper tasks do
  const helper = forkChild(p, pgid, 0n, t.pid);
  helper.inj.must('setpgid', 0, 0);
  p.inj.must('setpgid', 0, pgid);
  die({ p: helper, t: { pid: pgid, core: { mtype: 1, tc: HELPER_TC } } });
  const r = p.inj.call('wait4', pgid, 0, 0x40000000 /* __WALL */, 0);
  if (Number(r) !== pgid) throw new CriuError(`task ${t.pid}: cannot reap the helper of process group ${pgid}: ${r < 0n ? errnoName(Number(-r)) : r}`);
  drainSigchld(p, t);
}

/** A helper's core: exit status 0, nothing else. */
const HELPER_TC = { task_state: 2, exit_code: 0, personality: 0, flags: 0, blk_sigset: 0n, comm: '' };

/** Take back the SIGCHLD that helpers' and zombies' deaths queued, unless it was pending at dump time. */
export function drainSigchld(p: Puppet, t: TaskImages): void {
  const pending = t.core.tc?.signals_s?.signals ?? [];
  if (pending.some((e) => e.siginfo.readInt32LE(0) === SIG.CHLD)) return;
  const s = p.scratch;
  const set = Buffer.alloc(8);
  set.writeBigUInt64LE(1n << BigInt(SIG.CHLD - 1));
  p.inj.write(s, set);
  p.inj.write(s + 16n, Buffer.alloc(16));
  while (p.inj.call('rt_sigtimedwait', s, 0, s + 16n, 8) > 0n);
}

/** An injected fork (clone3 with set_tid) in the parent puppet; the child starts stopped, traced. */
export const CLONE_FILES = 0x400n;

/**
 * `pid` is the images' pid, `parentPid` the parent's (ns/pid.ts: set_tid for every pid
 * namespace level, CLONE_NEWPID for a nested init); the puppet returned has the host pid.
 */
export function forkChild(parent: Puppet, pid: number, flags = 0n, parentPid?: number): Puppet {
  // through ns_last_pid (a user namespace of its own in the host's pid namespace) another process
  // of the host may take the pid between the cursor's write and the clone: the child that came
  // up on another pid is killed, reaped by its parent, and the fork tried again
  for (let attempt = 1; ; attempt++) {
    const child = forkOnce(parent, pid, flags, parentPid, attempt < 5);
    if (child) return child;
    log.debug(`task ${pid}: its pid was taken while chosen through ns_last_pid: attempt ${attempt + 1}`);
  }
}

function forkOnce(parent: Puppet, pid: number, flags: bigint, parentPid: number | undefined, mayRetry: boolean): Puppet | undefined {
  const nested = isNestedInit(pid);
  let tids = setTidOf(pid);
  let r = cloneWithTids(parent, flags | (nested ? CLONE_NEWPID : 0n), tids);
  if (r === -17n && treePids.own) r = cloneWithTids(parent, flags | (nested ? CLONE_NEWPID : 0n), (tids = setTidOf(pid, false))); // its host pid was taken meanwhile
  if (r === -1n && userIds.active()) r = cloneFromUserns(parent, flags | (nested ? CLONE_NEWPID : 0n), tids, pid);
  if (r < 0n)
    throw new CriuError(
      `task ${pid}: cannot fork it from ${parent.pid}: clone3 failed: ${errnoName(Number(-r))}`,
      r === -17n
        ? tids.length > 1
          ? `a pid of set_tid [${tids.join(', ')}] (innermost first) is taken${treePids.own ? ' in the new pid namespaces' : ''}`
          : `PID ${pid} is taken`
        : undefined,
    );
  const want = parentPid === undefined ? pid : seenBy(pid, parentPid);
  const host = hostOfNew(parent.inj, pid);
  const child = Puppet.forked(parent, host);
  if (Number(r) !== want) {
    child.kill(); // not left traced: a pid namespace's init waits for its children as it dies
    if (mayRetry && userIds.active() && !treePids.own) {
      parent.inj.call('wait4', Number(r), 0, 0x40000000 /* __WALL */, 0);
      return undefined;
    }
    throw new CriuError(
      `task ${pid}: came up as ${r}, not ${want}`,
      userIds.active() && !treePids.own ? 'another process took that pid while it was chosen through ns_last_pid: try again' : undefined,
    );
  }
  // a pid namespace of the tree's own made from a user namespace: the host's level came through
  // ns_last_pid, and a short-lived process of the host may have taken it meanwhile; tried again
  // a moment later, then taken as it comes ("where free")
  const asked = wantedHost(pid);
  if (mayRetry && asked && host !== asked && userIds.active()) {
    child.kill();
    parent.inj.call('wait4', Number(r), 0, 0x40000000 /* __WALL */, 0);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    return undefined;
  }
  pidMade(pid, host);
  return child;
}

/** an injected clone3 with set_tid `tids` (innermost first) */
function cloneWithTids(parent: Puppet, flags: bigint, tids: number[]): bigint {
  const inj = parent.inj,
    s = parent.scratch;
  const args = Buffer.alloc(88 + 4 * tids.length);
  args.writeBigUInt64LE(flags, 0);
  if (!(flags & 0x10000n)) args.writeBigUInt64LE(17n, 32); // exit_signal SIGCHLD (none for a CLONE_THREAD)
  if (tids.length) args.writeBigUInt64LE(s + 88n, 64); // set_tid (none: the kernel's next pid)
  args.writeBigUInt64LE(BigInt(tids.length), 72);
  tids.forEach((v, i) => args.writeInt32LE(v, 88 + 4 * i));
  inj.write(s, args);
  inj.events.length = 0;
  return inj.call('clone3', s, 88);
}

/**
 * A puppet in a user namespace of its own lacks CAP_CHECKPOINT_RESTORE in the user namespace
 * that owns the host's pid namespace, so set_tid at the host's level fails (EPERM). In a pid
 * namespace of the tree's own only the levels inside are set (its host pid is any); in the
 * host's pid namespace the tool, which may, writes /proc/sys/kernel/ns_last_pid and the puppet
 * clones without set_tid (CRIU's way before clone3); the cursor then goes back where it was
 * (left at the tree's pids, the host's next processes would take those still to come).
 */
function cloneFromUserns(p: Puppet, flags: bigint, tids: number[], pid: number): bigint {
  if (treePids.own) {
    // the levels inside by set_tid; the host's, when wanted, through the host's ns_last_pid
    const inner = setTidOf(pid, false);
    if (inner.length >= tids.length) return -1n;
    return viaLastPid(p, tids[tids.length - 1], () => cloneWithTids(p, flags, inner));
  }
  if (tids.length !== 1 || !sharesToolPidns(p.pid)) return -1n;
  return viaLastPid(p, tids[0], () => cloneWithTids(p, flags, []));
}

/** clone() with the host's pid cursor set so that the next host pid is `host` (taken meanwhile: another one) */
function viaLastPid(p: Puppet, host: number, clone: () => bigint): bigint {
  const LAST = '/proc/sys/kernel/ns_last_pid';
  const was = Number(fs.readFileSync(LAST, 'utf8'));
  fs.writeFileSync(LAST, String(host - 1));
  let got: bigint;
  try {
    got = clone();
  } finally {
    if (was > host) fs.writeFileSync(LAST, String(was));
  }
  log.debug(`task ${p.pid}: in a user namespace of its own: host pid ${host} through ns_last_pid`);
  return got;
}

function sharesToolPidns(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`) === fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return false;
  }
}

/** The host pid of the task or thread the last injected clone3 made (its ptrace event's message). */
function hostOfNew(inj: Injector, pid: number): number {
  if (!treePids.own && !isNestedInit(pid) && !inj.events.length) return pid;
  const ev = inj.events.find((e) => e.event === PTRACE_EVENT.FORK || e.event === PTRACE_EVENT.CLONE);
  if (!ev) throw new CriuError(`task ${pid}: its clone3 reported no ptrace event with its host pid`);
  return Number(ev.msg);
}

const CLONE_THREAD_FLAGS = 0x100n | 0x200n | 0x400n | 0x800n | 0x10000n | 0x40000n; // VM FS FILES SIGHAND THREAD SYSVSEM

/** An injected clone3 in the leader makes thread `tid`; it starts stopped, traced by us. */
export function cloneThread(p: Puppet, tid: number, core: CoreEntry): Thread {
  const inj = p.inj,
    s = p.scratch;
  void s;
  let r = cloneWithTids(p, CLONE_THREAD_FLAGS, setTidOf(tid));
  if (r === -17n && treePids.own) r = cloneWithTids(p, CLONE_THREAD_FLAGS, setTidOf(tid, false));
  if (r === -1n && userIds.active()) r = cloneFromUserns(p, CLONE_THREAD_FLAGS, setTidOf(tid), tid);
  if (r < 0n)
    throw new CriuError(`task ${p.pid}: cannot create thread ${tid}: clone3 failed: ${errnoName(Number(-r))}`, {
      task: p.pid,
      object: `thread ${tid}`,
      hint: r === -17n ? `TID ${tid} is taken` : undefined,
    });
  if (Number(r) !== ownPid(tid)) throw new CriuError(`task ${p.pid}: thread came up as ${r}, not ${ownPid(tid)}`);
  const host = hostOfNew(inj, tid);
  pidMade(tid, host);
  const t = new Tracee(host);
  const st = waitStop(host);
  if (st.kind !== 'interrupt' && st.kind !== 'group-stop') throw new CriuError(`thread ${tid}: unexpected first stop ${st.kind}`);
  const ti = new Injector(t, inj.gadget);
  ti.begin();
  ti.scratch = inj.scratch;
  ti.scratchSize = inj.scratchSize;
  ti.batchArea = inj.batchArea;
  return { t, inj: ti, core, tid };
}
