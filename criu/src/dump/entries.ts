// Collected task state → image entries, field for field as CRIU 4.2 writes them.
import { arch } from '../sys/arch.js';
import { regsToImage, xsaveToImage, restartFixup, type UserX86Regs } from '../arch/x86_64.js';
import { toImage as aarch64Image } from '../arch/aarch64.js';
import type { TaskState, ThreadState } from './collect.js';
import type { VmaRec } from './vmas.js';
import { aioEntries } from '../mem/aio.js';
import type { PagemapRec } from './memory.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { pluginCalls } from '../hooks.js';
import { onlineCpus, cpuListToWords, timensOffsets } from '../proc/index.js';
import { clockNs, CLOCK } from '../sys/libc.js';
import { treePids } from '../proc/nspid.js';
import type {
  CoreEntry,
  CredsEntry,
  DumpStatsEntry,
  FsEntry,
  InventoryEntry,
  MmEntry,
  PagemapEntry,
  PosixTimerEntry,
  PstreeEntry,
  SeccompFilter,
  SignalQueueEntry,
  TaskCoreEntry,
  TaskKobjIdsEntry,
  ThreadCoreEntry,
  ThreadInfoX86,
  TimensEntry,
  Timespec,
  UserX86RegsEntry,
} from '../images/index.js';

// the numbering of namespaces lives in ns/ (ns/ids.ts); its callers keep importing it from here
export { Namespaces, type NsIds } from '../ns/index.js';
import type { NsIds } from '../ns/index.js';
import { ids as userIds } from '../proc/idmap.js';
import { cgSetOf } from '../cgroup/dump.js';

export function buildIds(ns: NsIds, objId = 2): TaskKobjIdsEntry {
  return {
    vm_id: objId,
    files_id: objId,
    fs_id: objId,
    sighand_id: objId,
    pid_ns_id: ns.pid,
    net_ns_id: ns.net,
    ipc_ns_id: ns.ipc,
    uts_ns_id: ns.uts,
    mnt_ns_id: ns.mnt,
    user_ns_id: ns.user,
    cgroup_ns_id: ns.cgroup,
    time_ns_id: ns.time,
  };
}

export function buildInventory(
  ns: NsIds,
  runId: string,
  net: { networkLockMethod: number; tcpClose: boolean } = { networkLockMethod: 0, tcpClose: false },
): InventoryEntry {
  return {
    ...(net.tcpClose ? { tcp_close: true } : {}),
    img_version: 2,
    fdinfo_per_id: true,
    root_ids: buildIds(ns, 1),
    ns_per_id: true,
    root_cg_set: 1,
    lsmtype: 0,
    network_lock_method: net.networkLockMethod,
    plugins_entry: { plugins: pluginCalls().inventoryPlugins() },
    dump_criu_run_id: runId,
  };
}

const caps = (v: bigint): number[] => [Number(v & 0xffffffffn), Number(v >> 32n)];

function creds(th: ThreadState): CredsEntry {
  // /proc/PID/status shows the tool's ids: the image has them as the task sees them (getresuid
  // in the task, as CRIU's parasite reads them; unmapped ones read as the overflow id)
  const s = nsView(th.status);
  return {
    uid: s.uid[0],
    gid: s.gid[0],
    euid: s.uid[1],
    egid: s.gid[1],
    suid: s.uid[2],
    sgid: s.gid[2],
    fsuid: s.uid[3],
    fsgid: s.gid[3],
    cap_inh: caps(s.capInh),
    cap_prm: caps(s.capPrm),
    cap_eff: caps(s.capEff),
    cap_bnd: caps(s.capBnd),
    secbits: th.secbits,
    groups: s.groups,
    ...(s.noNewPrivs ? { no_new_privs: 1 } : {}),
    cap_amb: caps(s.capAmb),
  };
}

function nsView(st: ThreadState['status']): ThreadState['status'] {
  if (!userIds.active()) return st;
  const u = (id: number): number => userIds.toNs('uid', id, userIds.overflow('uid'));
  const g = (id: number): number => userIds.toNs('gid', id, userIds.overflow('gid'));
  const q = (v: typeof st.uid, f: (id: number) => number): typeof st.uid => [f(v[0]), f(v[1]), f(v[2]), f(v[3])];
  return { ...st, uid: q(st.uid, u), gid: q(st.gid, g), groups: st.groups.map(g) };
}

function sigqueue(infos: Buffer[]): SignalQueueEntry {
  return { signals: infos.map((b) => ({ siginfo: b })) };
}

/** arch/'s general registers hold every register of user_x86_regs_entry, as bigints */
function isRegsEntry(r: UserX86Regs): r is UserX86Regs & UserX86RegsEntry {
  return arch.regNames.every((n) => typeof r[n] === 'bigint');
}

function threadInfo(th: ThreadState): ThreadInfoX86 {
  if (arch.name !== 'x86_64') throw new NotSupportedError(`core images on ${arch.name}`);
  const gpregs = regsToImage(restartFixup(th.regs.buf));
  const fpregs = xsaveToImage(th.fpu);
  if (!isRegsEntry(gpregs)) {
    throw new CriuError(`thread ${th.tid}: its registers do not fit user_x86_regs_entry`, 'a bug in arch/x86_64.ts: report it');
  }
  return {
    clear_tid_addr: th.clearTid,
    gpregs,
    fpregs,
    tls: th.tls.map((d) => ({
      entry_number: d.entry_number,
      base_addr: d.base_addr,
      limit: d.limit,
      seg_32bit: !!(d.flags & 1),
      contents_h: !!(d.flags & 4),
      contents_l: !!(d.flags & 2),
      read_exec_only: !!(d.flags & 8),
      limit_in_pages: !!(d.flags & 16),
      seg_not_present: !!(d.flags & 32),
      usable: !!(d.flags & 64),
    })),
  };
}

/**
 * seccomp.img as CRIU lays it out: per thread its filters newest first; each older filter's
 * `prev` points at the entry before it, and the thread points at its oldest one, so following
 * `prev` from there gives the install order.
 */
export class SeccompImage {
  readonly filters: SeccompFilter[] = [];
  add(th: ThreadState): number | undefined {
    if (!th.seccomp.length) return undefined;
    th.seccomp.forEach((f, i) => {
      this.filters.push({ filter: f.insns, ...(i ? { prev: this.filters.length - 1 } : {}), flags: Number(f.flags) });
    });
    return this.filters.length - 1;
  }
}

function threadCore(th: ThreadState, isLeader: boolean, seccompPos?: number): ThreadCoreEntry {
  return {
    futex_rla: th.robust.head,
    futex_rla_len: th.robust.len,
    sched_nice: th.nice,
    sched_policy: th.schedPolicy,
    ...(th.schedPolicy === 1 || th.schedPolicy === 2 ? { sched_prio: th.schedPrio } : {}),
    ...(isLeader ? {} : { blk_sigset: th.sigmask }),
    sas: { ss_sp: th.sas.sp, ss_size: th.sas.size, ss_flags: th.sas.flags },
    ...(th.pdeathSig ? { pdeath_sig: th.pdeathSig } : {}),
    signals_p: sigqueue(th.pending),
    creds: creds(th),
    ...(seccompPos !== undefined ? { seccomp_mode: 2, seccomp_filter: seccompPos } : {}),
    comm: th.comm,
    ...(th.rseq ? { rseq_entry: { rseq_abi_pointer: th.rseq.ptr, rseq_abi_size: th.rseq.size, signature: th.rseq.sig } } : {}),
    cg_set: cgSetOf(th.tid),
    ...(pinned(th.status.cpusAllowed) ? { allowed_cpus: { has_cpumask: true, cpumask: cpuListToWords(th.status.cpusAllowed) } } : {}),
  };
}

/** A thread is pinned when it may not run on every online CPU. */
function pinned(cpus: number[]): boolean {
  const online = onlineCpus();
  return online.length > 0 && !online.every((c) => cpus.includes(c));
}

function taskCore(t: TaskState, th: ThreadState): TaskCoreEntry {
  const itimer = (i: number) => t.itimers[i];
  return {
    task_state: t.stopSig ? 3 /* TASK_STOPPED */ : 1 /* TASK_ALIVE */,
    exit_code: 0,
    personality: t.personality,
    flags: t.stat.flags,
    blk_sigset: th.sigmask,
    comm: t.stat.comm,
    timers: { real: itimer(0), virt: itimer(1), prof: itimer(2), posix: t.posixTimers.map(posixTimerImage) },
    rlimits: { rlimits: t.rlimits.map((r) => ({ cur: r.cur, max: r.max })) },
    signals_s: sigqueue(t.sharedPending),
    loginuid: userIds.toNs('uid', t.loginuid),
    oom_score_adj: t.oomScoreAdj,
    sigactions: t.sigactions.flatMap((a, i) =>
      i + 1 === 9 || i + 1 === 19
        ? []
        : [
            {
              sigaction: a.handler,
              flags: a.flags,
              restorer: a.restorer,
              mask: a.mask,
              compat_sigaction: false,
            },
          ],
    ),
    child_subreaper: t.childSubreaper,
    ...(t.stopSig ? { stop_signo: t.stopSig } : {}),
  };
}

/** a POSIX timer's notified thread as the tree's root sees it (proc/nspid.ts) */
function posixTimerImage(e: PosixTimerEntry): PosixTimerEntry {
  return e.notify_thread_id ? { ...e, notify_thread_id: treePids.image(e.notify_thread_id) } : e;
}

export function buildCore(t: TaskState, th: ThreadState, isLeader: boolean, seccompPos?: number): CoreEntry {
  const core: CoreEntry = { mtype: arch.criuMtype, ...(arch.name === 'aarch64' ? { ti_aarch64: aarch64Image(th) } : { thread_info: threadInfo(th) }) };
  if (isLeader) core.tc = taskCore(t, th);
  core.thread_core = threadCore(th, isLeader, seccompPos);
  return core;
}

export function buildMm(t: TaskState, vmas: VmaRec[], exeId: number): MmEntry {
  const s = t.stat;
  const aios = aioEntries(vmas);
  const auxv: bigint[] = [];
  for (let o = 0; o + 8 <= t.auxv.length; o += 8) auxv.push(t.auxv.readBigUInt64LE(o));
  while (auxv.length >= 2 && auxv[auxv.length - 1] === 0n && auxv[auxv.length - 2] === 0n) auxv.length -= 2;
  return {
    mm_start_code: s.start_code,
    mm_end_code: s.end_code,
    mm_start_data: s.start_data,
    mm_end_data: s.end_data,
    mm_start_stack: s.start_stack,
    mm_start_brk: s.start_brk,
    mm_brk: t.brk,
    mm_arg_start: s.arg_start,
    mm_arg_end: s.arg_end,
    mm_env_start: s.env_start,
    mm_env_end: s.env_end,
    exe_file_id: exeId,
    mm_saved_auxv: auxv,
    vmas: vmas.map((v) => ({
      start: v.start,
      end: v.end,
      pgoff: v.pgoff,
      shmid: BigInt(v.shmid),
      prot: v.prot,
      flags: v.flags,
      status: v.status,
      fd: -1n,
      madv: v.madv,
      ...(v.fdflags !== undefined ? { fdflags: v.fdflags } : {}),
    })),
    dumpable: t.dumpable,
    ...(aios.length ? { aios } : {}),
    thp_disabled: t.thpDisabled,
  };
}

/** pagemap-N.img's runs of pages */
export function buildPagemap(runs: PagemapRec[]): PagemapEntry[] {
  return runs.map((p) => ({ vaddr: p.vaddr, compat_nr_pages: 0, flags: p.flags, nr_pages: p.nr_pages }));
}

export function buildFs(t: TaskState, cwdId: number, rootId: number): FsEntry {
  return { cwd_id: cwdId, root_id: rootId, umask: t.status.umask ?? 0o22 };
}

/** What is left of a zombie: its exit status, comm and session */
export interface ZombieRec {
  exitCode: number;
  comm: string;
  pgid: number;
  sid: number;
}

/** A zombie's core: the exit status and nothing else, as CRIU writes it. */
export function buildZombieCore(z: ZombieRec): CoreEntry {
  return {
    mtype: arch.criuMtype,
    tc: {
      task_state: 2 /* TASK_DEAD */,
      exit_code: z.exitCode,
      personality: 0,
      flags: 0,
      blk_sigset: 0n,
      comm: z.comm,
    },
  };
}

/** One task of pstree.img: a live one (`t`) or a zombie (`z`); the root has no parent. */
export function buildPstreeEntry(pid: number, ppid: number, t: TaskState | undefined, z: ZombieRec | undefined): PstreeEntry {
  return {
    pid,
    ppid,
    pgid: t ? t.stat.pgrp : z!.pgid,
    sid: t ? t.stat.session : z!.sid,
    threads: t ? t.threads.map((x) => x.tid) : [pid],
  };
}

/**
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME now, as CRIU records them in timens-ID.img: the host's, or
 * (given a task of the tree's own time namespace) as that namespace reads them, which is the
 * host's plus its offsets.
 */
export function buildTimens(
  inNs?: number | { monotonic: bigint; boottime: bigint },
  now = { monotonic: clockNs(CLOCK.MONOTONIC), boottime: clockNs(CLOCK.BOOTTIME) },
): TimensEntry {
  const off = typeof inNs === 'number' ? timensOffsets(inNs) : (inNs ?? { monotonic: 0n, boottime: 0n });
  const ts = (v: bigint): Timespec => ({ tv_sec: v / 1_000_000_000n, tv_nsec: v % 1_000_000_000n });
  return { monotonic: ts(now.monotonic + off.monotonic), boottime: ts(now.boottime + off.boottime) };
}

/** stats-dump's numbers (times in microseconds); what this tool does not do is 0 */
export interface DumpTimes {
  freezing: number;
  frozen: number;
  memdump: number;
}
export function buildDumpStats(us: DumpTimes, pages: { scanned: bigint; written: bigint }): DumpStatsEntry {
  return {
    freezing_time: us.freezing,
    frozen_time: us.frozen,
    memdump_time: us.memdump,
    memwrite_time: us.memdump,
    pages_scanned: pages.scanned,
    pages_skipped_parent: 0n,
    pages_written: pages.written,
    irmap_resolve: 0,
    pages_lazy: 0n,
    page_pipes: 0n,
    page_pipe_bufs: 0n,
    shpages_scanned: 0n,
    shpages_skipped_parent: 0n,
    shpages_written: 0n,
  };
}
