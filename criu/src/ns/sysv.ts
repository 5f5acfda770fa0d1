// The System V IPC calls and the namespace switch the namespace kinds need, as raw syscalls made
// by this (main) thread: setns(2) of a UTS or IPC namespace moves only the calling thread, so
// the tool steps into the tree's namespace, reads or makes its objects, and steps back.
// Layouts: struct ipc64_perm, shmid64_ds and msqid64_ds are the same on x86_64 and aarch64;
// semid64_ds has two padding words on x86_64 that the generic layout has not.
import * as fs from 'node:fs';
import { libc, koffi, SysError, vmRead, vmWrite, big, errnoName } from '../sys/libc.js';
import { arch, SYS } from '../sys/arch.js';
import { CriuError } from '../errors.js';
import { ids as userIds } from '../proc/idmap.js';

type Fn = (...a: unknown[]) => unknown;
/** a syscall prototype; the call pads the arguments to six (koffi wants every one) */
const proto = (args: string[]): ((...a: unknown[]) => unknown) => {
  const fn = libc.func('syscall', 'long', args) as Fn;
  return (...a: unknown[]) => fn(...a, ...new Array<number>(args.length - a.length).fill(0));
};
const sc = {
  ints: proto(['long', 'long', 'long', 'long', 'long', 'long']),
  /** the n-th argument a pointer */
  p1: proto(['long', 'void *', 'long', 'long', 'long', 'long']),
  p2: proto(['long', 'long', 'void *', 'long', 'long', 'long']),
  p3: proto(['long', 'long', 'long', 'void *', 'long', 'long']),
  p4: proto(['long', 'long', 'long', 'long', 'void *', 'long']),
};

function ret(r: unknown, call: string, args: unknown[]): bigint {
  const v = big(r as number | bigint);
  if (v < 0n) throw new SysError(call, koffi.errno(), args);
  return v;
}

export const IPC = { CREAT: 0o1000, EXCL: 0o2000, NOWAIT: 0o4000, RMID: 0, SET: 1, STAT: 2 } as const;
const SHM_STAT = 13,
  SHM_INFO = 14,
  SEM_STAT = 18,
  SEM_INFO = 19,
  MSG_STAT = 11,
  MSG_INFO = 12,
  GETALL = 13,
  SETALL = 17,
  SHM_RDONLY = 0o10000,
  MSG_COPY = 0o40000;
export const CLONE_NEWUTS = 0x04000000n,
  CLONE_NEWIPC = 0x08000000n,
  CLONE_NEWNET = 0x40000000n,
  CLONE_NEWCGROUP = 0x02000000n;

export interface Perm {
  key: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  mode: number;
}
// owners as the tree's user namespace sees them (the kernel gives the tool's ids; ns/user.ts)
const perm = (b: Buffer): Perm => ({
  key: b.readInt32LE(0),
  uid: userIds.toNs('uid', b.readUInt32LE(4)),
  gid: userIds.toNs('gid', b.readUInt32LE(8)),
  cuid: userIds.toNs('uid', b.readUInt32LE(12)),
  cgid: userIds.toNs('gid', b.readUInt32LE(16)),
  mode: b.readUInt32LE(20) & 0o777,
});

/** where sem_nsems is in struct semid64_ds */
const SEM_NSEMS = arch.name === 'x86_64' ? 80 : 64;

export interface ShmSeg extends Perm {
  id: number;
  size: bigint;
  nattch: bigint;
}
export interface SemSet extends Perm {
  id: number;
  nsems: number;
}
export interface MsgQueue extends Perm {
  id: number;
  qbytes: number;
  qnum: number;
}

/** every object of one kind in the current IPC namespace: the slots up to the INFO call's max index, STATed */
function each<T>(info: number, stat: number, call: (slot: number, cmd: number, buf: Buffer) => bigint, parse: (id: number, b: Buffer) => T): T[] {
  const b = Buffer.alloc(256);
  const maxIdx = Number(call(0, info, b));
  const out: T[] = [];
  for (let i = 0; i <= maxIdx; i++) {
    b.fill(0);
    let id: bigint;
    try {
      id = call(i, stat, b);
    } catch (e) {
      if (e instanceof SysError && e.code === 'EINVAL') continue;
      throw e;
    }
    out.push(parse(Number(id), b));
  }
  return out;
}

export function listShm(): ShmSeg[] {
  return each(
    SHM_INFO,
    SHM_STAT,
    (s, c, b) => ret(sc.p3(SYS.shmctl, s, c, b), 'shmctl', [s, c]),
    (id, b) => ({ ...perm(b), id, size: b.readBigUInt64LE(48), nattch: b.readBigUInt64LE(88) }),
  );
}
export function listSem(): SemSet[] {
  return each(
    SEM_INFO,
    SEM_STAT,
    (s, c, b) => ret(sc.p4(SYS.semctl, s, 0, c, b), 'semctl', [s, 0, c]),
    (id, b) => ({ ...perm(b), id, nsems: Number(b.readBigUInt64LE(SEM_NSEMS)) }),
  );
}
export function listMsg(): MsgQueue[] {
  return each(
    MSG_INFO,
    MSG_STAT,
    (s, c, b) => ret(sc.p3(SYS.msgctl, s, c, b), 'msgctl', [s, c]),
    (id, b) => ({
      ...perm(b),
      id,
      qnum: Number(b.readBigUInt64LE(80)),
      qbytes: Number(b.readBigUInt64LE(88)),
    }),
  );
}

/** the mode of segment id of this thread's IPC namespace (SHM_DEST, SHM_LOCKED included), or undefined when there is none */
export function shmMode(id: number): number | undefined {
  const b = Buffer.alloc(256);
  const r = big(sc.p3(SYS.shmctl, id, IPC.STAT, b) as number | bigint);
  return r < 0n ? undefined : b.readUInt32LE(20);
}

/** the contents of a segment, attached read-only for the copy */
export function shmRead(id: number, size: number): Buffer {
  const addr = ret(sc.ints(SYS.shmat, id, 0, SHM_RDONLY, 0, 0), 'shmat', [id, 0, 'SHM_RDONLY']);
  try {
    const b = Buffer.alloc(size);
    if (size) vmRead(process.pid, addr, b);
    return b;
  } finally {
    sc.ints(SYS.shmdt, addr, 0, 0, 0, 0);
  }
}
export function shmWrite(id: number, data: Buffer): void {
  const addr = ret(sc.ints(SYS.shmat, id, 0, 0, 0, 0), 'shmat', [id, 0, 0]);
  try {
    if (data.length) vmWrite(process.pid, addr, data);
  } finally {
    sc.ints(SYS.shmdt, addr, 0, 0, 0, 0);
  }
}

export function semValues(id: number, nsems: number): number[] {
  const b = Buffer.alloc(2 * nsems + 8);
  ret(sc.p4(SYS.semctl, id, 0, GETALL, b), 'semctl', [id, 0, 'GETALL']);
  return Array.from({ length: nsems }, (_, i) => b.readUInt16LE(2 * i));
}
export function semSetAll(id: number, values: number[]): void {
  const b = Buffer.alloc(2 * values.length + 8);
  values.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
  ret(sc.p4(SYS.semctl, id, 0, SETALL, b), 'semctl', [id, 0, 'SETALL']);
}

/** the messages of a queue in order, copied (MSG_COPY) so that the queue keeps them */
export function msgCopyAll(id: number, qnum: number, msgmax: number): { mtype: bigint; text: Buffer }[] {
  const b = Buffer.alloc(8 + msgmax);
  const out: { mtype: bigint; text: Buffer }[] = [];
  for (let i = 0; i < qnum; i++) {
    const n = Number(ret(sc.p2(SYS.msgrcv, id, b, msgmax, i, IPC.NOWAIT | MSG_COPY), 'msgrcv', [id, msgmax, i, 'IPC_NOWAIT|MSG_COPY']));
    out.push({ mtype: b.readBigInt64LE(0), text: Buffer.from(b.subarray(8, 8 + n)) });
  }
  return out;
}
export function msgSend(id: number, mtype: bigint, text: Buffer): void {
  const b = Buffer.alloc(8 + text.length);
  b.writeBigInt64LE(mtype, 0);
  text.copy(b, 8);
  ret(sc.p2(SYS.msgsnd, id, b, text.length, IPC.NOWAIT, 0), 'msgsnd', [id, text.length]);
}

export const shmGet = (key: number, size: bigint, flags: number): number =>
  Number(ret(sc.ints(SYS.shmget, key, size, flags, 0, 0), 'shmget', [key, size, flags]));
export const semGet = (key: number, nsems: number, flags: number): number =>
  Number(ret(sc.ints(SYS.semget, key, nsems, flags, 0, 0), 'semget', [key, nsems, flags]));
export const msgGet = (key: number, flags: number): number => Number(ret(sc.ints(SYS.msgget, key, flags, 0, 0, 0), 'msgget', [key, flags]));

/** IPC_SET of owner and mode (and a queue's qbytes); the creator's ids stay the tool's, as with CRIU */
export function ipcSet(kind: 'shm' | 'sem' | 'msg', id: number, p: Perm, qbytes?: number): void {
  const b = Buffer.alloc(256);
  if (kind === 'msg') ret(sc.p3(SYS.msgctl, id, IPC.STAT, b), 'msgctl', [id, 'IPC_STAT']);
  b.writeUInt32LE(userIds.toHost('uid', p.uid), 4);
  b.writeUInt32LE(userIds.toHost('gid', p.gid), 8);
  b.writeUInt32LE(p.mode, 20);
  if (kind === 'shm') ret(sc.p3(SYS.shmctl, id, IPC.SET, b), 'shmctl', [id, 'IPC_SET']);
  else if (kind === 'sem') ret(sc.p4(SYS.semctl, id, 0, IPC.SET, b), 'semctl', [id, 0, 'IPC_SET']);
  else {
    if (qbytes !== undefined) b.writeBigUInt64LE(BigInt(qbytes), 88);
    ret(sc.p3(SYS.msgctl, id, IPC.SET, b), 'msgctl', [id, 'IPC_SET']);
  }
}

export function setHostname(kind: 'sethostname' | 'setdomainname', name: string): void {
  const b = Buffer.from(name);
  ret(sc.p1(SYS[kind], b, b.length, 0, 0, 0), kind, [name]);
}

/**
 * Run fn with this thread in the namespaces (`uts`, `ipc`) of task pid, and come back to ours
 * whatever happens; failing to come back is fatal, as nothing the tool does after it would be
 * where it thinks.
 */
export function inNamespaces<T>(pid: number, kinds: ('uts' | 'ipc' | 'net' | 'cgroup')[], fn: () => T): T {
  const flag = { uts: CLONE_NEWUTS, ipc: CLONE_NEWIPC, net: CLONE_NEWNET, cgroup: CLONE_NEWCGROUP };
  const mine = kinds.map((k) => fs.openSync(`/proc/thread-self/ns/${k}`, 'r'));
  const theirs: number[] = [];
  try {
    for (const k of kinds) theirs.push(fs.openSync(`/proc/${pid}/ns/${k}`, 'r'));
    kinds.forEach((k, i) => ret(sc.ints(SYS.setns, theirs[i], flag[k], 0, 0, 0), 'setns', [`/proc/${pid}/ns/${k}`, k]));
    return fn();
  } finally {
    kinds.forEach((k, i) => {
      const r = big(sc.ints(SYS.setns, mine[i], flag[k], 0, 0, 0) as number | bigint);
      if (r < 0n) {
        process.stderr.write(`Error (criu): cannot return to the tool's own ${k} namespace (${errnoName(koffi.errno())}): stopping\n`);
        process.exit(1);
      }
    });
    for (const fd of [...mine, ...theirs]) fs.closeSync(fd);
  }
}

/** A sysctl of the current namespace as text (trimmed), or undefined when this kernel has none. */
export function sysctlRead(name: string): string | undefined {
  try {
    return fs.readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
export function sysctlWrite(name: string, value: string): void {
  try {
    fs.writeFileSync(`/proc/sys/${name}`, value);
  } catch (e) {
    throw new CriuError(
      `cannot write ${value} to /proc/sys/${name} in the restored IPC namespace: ${(e as Error).message}`,
      "the tool needs CAP_SYS_ADMIN; a value over this host's limit is refused by the kernel",
    );
  }
}
