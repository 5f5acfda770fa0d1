// The tree: the root puppet's preparation, forks of children (CLONE_FILES when they share the
// fd table), sessions and process groups, zombies, and threads.
import * as fs from 'node:fs';
import { Puppet, PAGE, GADGET_PAGES } from './puppet.js';
import type { TaskImages } from './images.js';
import type { RestorePlan, PlanTask } from './plan.js';
import { findHole, type Range, type Task, type Thread } from './task.js';
import { readMaps } from '../proc/index.js';
import { Injector } from '../ptrace/inject.js';
import { SIG } from '../ptrace/consts.js';
import { Tracee, waitStop } from '../ptrace/tracee.js';
import type { CoreEntry } from '../images/index.js';
import { errnoName, waitpid, decodeWait, __WALL } from '../sys/libc.js';
import { SYS, arch } from '../sys/arch.js';
import { CriuError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';
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
  if (pt.joinGroup.leaderInTree || fs.existsSync(`/proc/${pgid}`)) {
    p.inj.must('setpgid', 0, pgid);
    return;
  }
  // the group's leader is gone: a helper on its PID makes the group, the task joins it, and
  // the helper exits and is reaped by the task, as CRIU's helper tasks do
  const helper = forkChild(p, pgid);
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

export function forkChild(parent: Puppet, pid: number, flags = 0n): Puppet {
  const r = clonePid(parent, flags, 17n /* SIGCHLD */, pid);
  if (r < 0n)
    throw new CriuError(
      `task ${pid}: cannot fork it from ${parent.pid}: clone3 failed: ${errnoName(Number(-r))}`,
      r === -17n ? `PID ${pid} is taken` : undefined,
    );
  if (Number(r) !== pid) throw wrongPid(`task ${pid}: came up as ${r}`, Number(r), false);
  return Puppet.forked(parent, pid);
}

/**
 * clone3 in the puppet with set_tid. A puppet in a user namespace of its own whose pid
 * namespace is still the tool's cannot choose a pid (set_tid needs CAP_CHECKPOINT_RESTORE in
 * the user namespace that owns the pid namespace): the tool, which may, writes
 * /proc/sys/kernel/ns_last_pid and the puppet clones without set_tid (CRIU's way before clone3).
 */
function clonePid(p: Puppet, flags: bigint, exitSignal: bigint, pid: number): bigint {
  const inj = p.inj,
    s = p.scratch;
  const args = Buffer.alloc(96);
  args.writeBigUInt64LE(flags, 0);
  args.writeBigUInt64LE(exitSignal, 32);
  args.writeBigUInt64LE(s + 88n, 64); // set_tid
  args.writeBigUInt64LE(1n, 72);
  args.writeInt32LE(pid, 88);
  inj.write(s, args);
  const r = inj.call('clone3', s, 88);
  if (r !== -1n /* EPERM */ || !userIds.active() || !sharesToolPidns(p.pid)) return r;
  args.writeBigUInt64LE(0n, 64);
  args.writeBigUInt64LE(0n, 72);
  inj.write(s, args);
  // the cursor goes back where it was: left at our pid, the host's next processes would take
  // the pids of the tree's tasks still to come
  const LAST = '/proc/sys/kernel/ns_last_pid';
  const was = Number(fs.readFileSync(LAST, 'utf8'));
  fs.writeFileSync(LAST, String(pid - 1));
  let got: bigint;
  try {
    got = inj.call('clone3', s, 88);
  } finally {
    if (was > pid) fs.writeFileSync(LAST, String(was));
  }
  log.debug(`task ${p.pid}: in a user namespace of its own: pid ${pid} through ns_last_pid`);
  return got;
}

function sharesToolPidns(pid: number): boolean {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`) === fs.readlinkSync('/proc/self/ns/pid');
  } catch {
    return false;
  }
}

/** a process of the host took the pid between ns_last_pid and the clone: the stray one goes */
function wrongPid(msg: string, got: number, thread: boolean): CriuError {
  if (got > 0 && !thread) {
    try {
      process.kill(got, 'SIGKILL');
      for (;;) {
        const st = decodeWait(waitpid(got, __WALL).status);
        if (st.kind === 'exited' || st.kind === 'signaled') break;
      }
    } catch {
      /* gone */
    }
  }
  return new CriuError(msg, userIds.active() ? 'another process took that pid while it was chosen through ns_last_pid: try again' : undefined);
}

const CLONE_THREAD_FLAGS = 0x100n | 0x200n | 0x400n | 0x800n | 0x10000n | 0x40000n; // VM FS FILES SIGHAND THREAD SYSVSEM

/** An injected clone3 in the leader makes thread `tid`; it starts stopped, traced by us. */
export function cloneThread(p: Puppet, tid: number, core: CoreEntry): Thread {
  const inj = p.inj;
  inj.events.length = 0;
  const r = clonePid(p, CLONE_THREAD_FLAGS, 0n, tid);
  if (r < 0n)
    throw new CriuError(`task ${p.pid}: cannot create thread ${tid}: clone3 failed: ${errnoName(Number(-r))}`, {
      task: p.pid,
      object: `thread ${tid}`,
      hint: r === -17n ? `TID ${tid} is taken` : undefined,
    });
  if (Number(r) !== tid) throw wrongPid(`task ${p.pid}: thread came up as ${r}, not ${tid}`, Number(r), true);
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
