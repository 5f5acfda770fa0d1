// The kernel boundary: koffi bindings to libc and raw syscalls, with errno turned into SysError.
// Rule: read koffi.errno() right after the call (errno is thread state and any later call may
// change it). 64-bit results come back as number or BigInt; `big()` normalises them.
import koffi from './koffi.js';
import * as os from 'node:os';
import { SYS } from './arch.js';
import { CriuError, type ErrorDetails } from './errors.js';
import { SCM_RIGHTS, SOL_SOCKET } from './socket-consts.js';

export { koffi };
export const libc = koffi.load('libc.so.6');

const errnoNames: Record<number, string> = Object.fromEntries(Object.entries(os.constants.errno).map(([k, v]) => [v, k]));
export const errnoName = (e: number): string => errnoNames[e] ?? `errno ${e}`;
export const E = os.constants.errno;

const strerror_ = libc.func('const char *strerror(int e)');

/** A failed system call: names the call, its arguments and the errno. */
export class SysError extends CriuError {
  readonly code: string;
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly args: unknown[] = [],
    where?: ErrorDetails,
  ) {
    super(`${call}(${args.map(fmtArg).join(', ')}): ${errnoName(errno)} (${strerror_(errno)})`, where);
    this.code = errnoName(errno);
  }
}
function fmtArg(a: unknown): string {
  if (typeof a === 'bigint') return a > 0xffffn ? `0x${a.toString(16)}` : a.toString();
  if (Buffer.isBuffer(a)) return `<buf ${a.length}>`;
  if (typeof a === 'string') return JSON.stringify(a);
  return String(a);
}

export type Ptr = Buffer | bigint | number | null;
export const big = (v: number | bigint): bigint => (typeof v === 'bigint' ? v : BigInt(v));
export const addrOf = (b: Buffer): bigint => big(koffi.address(b) as number | bigint);

// Fixed-arity prototypes: the variadic libc wrappers take integer args in the same registers.
const f = {
  ptrace: libc.func('long ptrace(int req, int pid, void *addr, void *data)'),
  waitpid: libc.func('int waitpid(int pid, _Out_ int *status, int options)'),
  syscall6: libc.func('long syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)'),
  syscallP: libc.func('long syscall(long nr, long a1, void *a2, long a3, long a4, long a5, long a6)'),
  ioctl: libc.func('int ioctl(int fd, unsigned long req, void *arg)'),
  kill: libc.func('int kill(int pid, int sig)'),
  close: libc.func('int close(int fd)'),
  read: libc.func('long read(int fd, void *buf, unsigned long n)'),
  pread: libc.func('long pread(int fd, void *buf, unsigned long n, long off)'),
  pwrite: libc.func('long pwrite(int fd, void *buf, unsigned long n, long off)'),
  write: libc.func('long write(int fd, void *buf, unsigned long n)'),
  process_vm_readv: libc.func('long process_vm_readv(int pid, void *liov, unsigned long liovcnt, void *riov, unsigned long riovcnt, unsigned long flags)'),
  process_vm_writev: libc.func('long process_vm_writev(int pid, void *liov, unsigned long liovcnt, void *riov, unsigned long riovcnt, unsigned long flags)'),
  prctl: libc.func('int prctl(int op, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)'),
  splice: libc.func('long splice(int fdin, void *offin, int fdout, void *offout, unsigned long len, unsigned int flags)'),
  pipe2: libc.func('int pipe2(_Out_ int *fds, int flags)'),
  socketpair: libc.func('int socketpair(int domain, int type, int proto, _Out_ int *sv)'),
  sendmsg: libc.func('long sendmsg(int fd, void *msg, int flags)'),
  recvmsg: libc.func('long recvmsg(int fd, void *msg, int flags)'),
  sched_setaffinity: libc.func('int sched_setaffinity(int pid, unsigned long size, void *mask)'),
  sched_getaffinity: libc.func('int sched_getaffinity(int pid, unsigned long size, void *mask)'),
  isatty: libc.func('int isatty(int fd)'),
  sched_getcpu: libc.func('int sched_getcpu()'),
  getpid: libc.func('int getpid()'),
  gettid: libc.func('int gettid()'),
  open: libc.func('int open(const char *path, int flags, int mode)'),
  fcntl: libc.func('int fcntl(int fd, int cmd, long arg)'),
  fcntlBuf: libc.func('int fcntl(int fd, int cmd, void *arg)'),
  lseek: libc.func('long lseek(int fd, long off, int whence)'),
  socket: libc.func('int socket(int domain, int type, int proto)'),
  getsockopt: libc.func('int getsockopt(int fd, int level, int name, _Inout_ void *val, _Inout_ uint32_t *len)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)'),
  send: libc.func('long send(int fd, void *buf, unsigned long len, int flags)'),
  recv: libc.func('long recv(int fd, void *buf, unsigned long len, int flags)'),
  shutdown: libc.func('int shutdown(int fd, int how)'),
};

function fail(call: string, args: unknown[]): never {
  throw new SysError(call, koffi.errno(), args);
}
/** Throw SysError when a libc call returned < 0. Call immediately after the FFI call. */
export function check<T extends number | bigint>(r: T, call: string, args: unknown[] = []): T {
  if (typeof r === 'bigint' ? r < 0n : r < 0) fail(call, args);
  return r;
}

const toLong = (v: number | bigint | null | undefined): number | bigint => {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'bigint') return BigInt.asIntN(64, v);
  return v;
};

/** Raw syscall with up to six integer args; returns the result as bigint or throws SysError. */
export function syscall(name: keyof typeof SYS, ...args: (number | bigint)[]): bigint {
  const nr = SYS[name];
  const a = [0, 1, 2, 3, 4, 5].map((i) => toLong(args[i]));
  const r = f.syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]) as number | bigint;
  if (big(r) < 0n) fail(name, args);
  return big(r);
}
/** Raw syscall whose 2nd argument is a pointer to our own memory. */
export function syscallBuf(name: keyof typeof SYS, a1: number | bigint, buf: Buffer | null, ...rest: (number | bigint)[]): bigint {
  const nr = SYS[name];
  const a = [0, 1, 2, 3].map((i) => toLong(rest[i]));
  const r = f.syscallP(nr, toLong(a1), buf, a[0], a[1], a[2], a[3]) as number | bigint;
  if (big(r) < 0n) fail(name, [a1, buf, ...rest]);
  return big(r);
}

export function ptraceRaw(req: number, pid: number, addr: Ptr, data: Ptr): number | bigint {
  return f.ptrace(req, pid, addr as never, data as never) as number | bigint;
}
export function ptrace(req: number, pid: number, addr: Ptr, data: Ptr, what = `ptrace(${req})`): bigint {
  const r = f.ptrace(req, pid, addr as never, data as never) as number | bigint;
  if (big(r) < 0n) fail(what, [pid]);
  return big(r);
}

export const WNOHANG = 1,
  __WALL = 0x40000000,
  __WNOTHREAD = 0x20000000;
const statusBuf = new Int32Array(1);
/** waitpid on one pid (never -1 while tracing), retrying on EINTR. Returns pid 0 for WNOHANG-nothing. */
export function waitpid(pid: number, options = __WALL): { pid: number; status: number } {
  for (;;) {
    const r = f.waitpid(pid, statusBuf, options) as number;
    if (r < 0) {
      const e = koffi.errno();
      if (e === E.EINTR) continue;
      throw new SysError('waitpid', e, [pid, options]);
    }
    return { pid: r, status: statusBuf[0] };
  }
}

export type WaitStatus =
  { kind: 'exited'; code: number } | { kind: 'signaled'; sig: number; core: boolean } | { kind: 'stopped'; sig: number; event: number } | { kind: 'continued' };
export function decodeWait(st: number): WaitStatus {
  if ((st & 0x7f) === 0) return { kind: 'exited', code: (st >> 8) & 0xff };
  if ((st & 0xff) === 0x7f) return { kind: 'stopped', sig: (st >> 8) & 0xff, event: (st >> 16) & 0xff };
  if (st === 0xffff) return { kind: 'continued' };
  return { kind: 'signaled', sig: st & 0x7f, core: (st & 0x80) !== 0 };
}

export function kill(pid: number, sig: number): void {
  check(f.kill(pid, sig) as number, 'kill', [pid, sig]);
}
export function tgkill(tgid: number, tid: number, sig: number): void {
  syscall('tgkill', tgid, tid, sig);
}
export function tryKill(pid: number, sig: number): boolean {
  return (f.kill(pid, sig) as number) === 0;
}
export function close(fd: number): void {
  check(f.close(fd) as number, 'close', [fd]);
}
export function ioctl(fd: number, req: number | bigint, arg: Ptr): number {
  return check(f.ioctl(fd, req as never, arg as never) as number, 'ioctl', [fd, req]);
}
export function pread(fd: number, buf: Buffer, len: number, off: number | bigint, bufOff = 0): number {
  const target = bufOff ? buf.subarray(bufOff) : buf;
  return Number(check(f.pread(fd, target, len, off as never) as number, 'pread', [fd, len, off]));
}
export function readFd(fd: number, buf: Buffer, len = buf.length): number {
  return Number(check(f.read(fd, buf, len) as number, 'read', [fd, len]));
}
export function writeFd(fd: number, buf: Buffer, len = buf.length): number {
  return Number(check(f.write(fd, buf, len) as number, 'write', [fd, len]));
}
export function prctl(op: number, a2: number | bigint = 0, a3: number | bigint = 0, a4: number | bigint = 0, a5: number | bigint = 0): number {
  return check(f.prctl(op, a2 as never, a3 as never, a4 as never, a5 as never) as number, 'prctl', [op, a2]);
}
export function fcntl(fd: number, cmd: number, arg: number): number {
  return check(f.fcntl(fd, cmd, arg) as number, 'fcntl', [fd, cmd, arg]);
}
/** fcntl whose argument is a pointer to our own memory (F_GETOWN_EX, F_SETOWN_EX, F_GETOWNER_UIDS). */
export function fcntlBuf(fd: number, cmd: number, buf: Buffer): number {
  return check(f.fcntlBuf(fd, cmd, buf) as number, 'fcntl', [fd, cmd]);
}
export function lseek(fd: number, off: number | bigint, whence = 0): bigint {
  return big(check(f.lseek(fd, off as never, whence) as number, 'lseek', [fd, off, whence]));
}
/** where the tool's sockets are made (ns/net.ts socketsIn: a tree's own network namespace), else in the thread's */
let socketNetns: (<T>(make: () => T) => T) | undefined;
export function setSocketNetns(wrap: (<T>(make: () => T) => T) | undefined): void {
  socketNetns = wrap;
}
/** `here`: in the calling thread's network namespace whatever setSocketNetns said */
export function socket(domain: number, type: number, proto = 0, here = false): number {
  const make = (): number => check(f.socket(domain, type, proto) as number, 'socket', [domain, type, proto]);
  return socketNetns && !here ? socketNetns(make) : make();
}
/** getsockopt into a buffer; returns the length the kernel filled. */
export function getsockopt(fd: number, level: number, name: number, val: Buffer): number {
  const len = new Uint32Array([val.length]);
  check(f.getsockopt(fd, level, name, val, len) as number, 'getsockopt', [fd, level, name]);
  return len[0];
}
export function getsockoptInt(fd: number, level: number, name: number): number {
  const b = Buffer.alloc(4);
  getsockopt(fd, level, name, b);
  return b.readInt32LE(0);
}
export function setsockopt(fd: number, level: number, name: number, val: Buffer): void {
  check(f.setsockopt(fd, level, name, val, val.length) as number, 'setsockopt', [fd, level, name]);
}
export function send(fd: number, buf: Buffer, flags = 0): number {
  return Number(check(f.send(fd, buf, buf.length, flags) as number, 'send', [fd, buf.length, flags]));
}
export function recv(fd: number, buf: Buffer, flags = 0): number {
  return Number(check(f.recv(fd, buf, buf.length, flags) as number, 'recv', [fd, buf.length, flags]));
}
export function shutdown(fd: number, how: number): void {
  check(f.shutdown(fd, how) as number, 'shutdown', [fd, how]);
}
export function pipe2(flags = 0): [number, number] {
  const fds = new Int32Array(2);
  check(f.pipe2(fds, flags) as number, 'pipe2', [flags]);
  return [fds[0], fds[1]];
}
export function socketpair(domain: number, type: number): [number, number] {
  const sv = new Int32Array(2);
  const make = (): number => check(f.socketpair(domain, type, 0, sv) as number, 'socketpair', [domain, type]);
  if (socketNetns) socketNetns(make);
  else make();
  return [sv[0], sv[1]];
}
export function splice(fdIn: number, offIn: Buffer | null, fdOut: number, offOut: Buffer | null, len: number, flags: number): number {
  return Number(check(f.splice(fdIn, offIn, fdOut, offOut, len, flags) as number, 'splice', [fdIn, fdOut, len]));
}
export function sendmsg(fd: number, msg: Buffer, flags = 0): number {
  return Number(check(f.sendmsg(fd, msg, flags) as number, 'sendmsg', [fd]));
}
export function recvmsg(fd: number, msg: Buffer, flags = 0): number {
  return Number(check(f.recvmsg(fd, msg, flags) as number, 'recvmsg', [fd]));
}

/** A msghdr with `data` and, when any are given, the fds as one SCM_RIGHTS message. */
export function fdMessage(data: Buffer, fds: number | number[]): { msg: Buffer; keep: Buffer[] } {
  const list = (Array.isArray(fds) ? fds : [fds]).filter((fd) => fd >= 0);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addrOf(data), 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  const msg = Buffer.alloc(56);
  msg.writeBigUInt64LE(addrOf(iov), 16);
  msg.writeBigUInt64LE(1n, 24);
  const keep = [data, iov];
  if (list.length) {
    const len = 16 + 4 * list.length; // CMSG_LEN
    const ctl = Buffer.alloc((len + 7) & ~7); // CMSG_SPACE
    ctl.writeBigUInt64LE(BigInt(len), 0);
    ctl.writeInt32LE(SOL_SOCKET, 8);
    ctl.writeInt32LE(SCM_RIGHTS, 12);
    list.forEach((fd, i) => ctl.writeInt32LE(fd, 16 + 4 * i));
    msg.writeBigUInt64LE(addrOf(ctl), 32);
    msg.writeBigUInt64LE(BigInt(ctl.length), 40);
    keep.push(ctl);
  }
  return { msg, keep };
}
export function schedGetaffinity(pid: number): Buffer {
  const m = Buffer.alloc(128);
  check(f.sched_getaffinity(pid, m.length, m) as number, 'sched_getaffinity', [pid]);
  return m;
}
export function schedSetaffinity(pid: number, mask: Buffer): void {
  check(f.sched_setaffinity(pid, mask.length, mask) as number, 'sched_setaffinity', [pid]);
}
export const sched_getcpu = (): number => f.sched_getcpu() as number;
export const isatty = (fd: number): boolean => (f.isatty(fd) as number) === 1;
export const getpid = (): number => f.getpid() as number;
export const gettid = (): number => f.gettid() as number;

export function pidfdOpen(pid: number, flags = 0): number {
  return Number(syscall('pidfd_open', pid, flags));
}
export function pidfdGetfd(pidfd: number, fd: number): number {
  return Number(syscall('pidfd_getfd', pidfd, fd, 0));
}
/** perf_event_open(2): `attr` is a struct perf_event_attr (its size field filled in) */
export function perfEventOpen(attr: Buffer, pid: number, cpu = -1, groupFd = -1, flags = 0): number {
  return Number(syscall('perf_event_open', addrOf(attr), pid, cpu, groupFd, flags));
}
export const KCMP = { FILE: 0, VM: 1, FILES: 2, FS: 3, SIGHAND: 4, IO: 5, SYSVSEM: 6, EPOLL_TFD: 7 } as const;
export function kcmp(pid1: number, pid2: number, type: number, idx1: number | bigint = 0, idx2: number | bigint = 0): number {
  return Number(syscall('kcmp', pid1, pid2, type, idx1, idx2));
}
export function memfdCreate(name: string, flags = 0): number {
  const b = Buffer.from(name + '\0');
  return Number(syscall('memfd_create', addrOf(b), flags));
}

// iovec arrays in our own memory
export function iovecs(parts: { base: bigint; len: number | bigint }[]): Buffer {
  const b = Buffer.alloc(16 * parts.length);
  parts.forEach((p, i) => {
    b.writeBigUInt64LE(p.base, i * 16);
    b.writeBigUInt64LE(big(p.len), i * 16 + 8);
  });
  return b;
}

/** Read another process's memory: one process_vm_readv of `len` bytes at `addr` into buf[off..]. */
export function vmRead(pid: number, addr: bigint, buf: Buffer, len = buf.length, off = 0): number {
  const l = iovecs([{ base: addrOf(buf) + BigInt(off), len }]);
  const r = iovecs([{ base: addr, len }]);
  return Number(check(f.process_vm_readv(pid, l, 1, r, 1, 0) as number, 'process_vm_readv', [pid, addr, len]));
}
export function vmReadv(pid: number, local: Buffer, nl: number, remote: Buffer, nr: number): number {
  return Number(check(f.process_vm_readv(pid, local, nl, remote, nr, 0) as number, 'process_vm_readv', [pid, nl, nr]));
}
export function vmWritev(pid: number, local: Buffer, nl: number, remote: Buffer, nr: number): number {
  return Number(check(f.process_vm_writev(pid, local, nl, remote, nr, 0) as number, 'process_vm_writev', [pid, nl, nr]));
}
export function vmWrite(pid: number, addr: bigint, buf: Buffer): number {
  const l = iovecs([{ base: addrOf(buf), len: buf.length }]);
  const r = iovecs([{ base: addr, len: buf.length }]);
  const n = Number(check(f.process_vm_writev(pid, l, 1, r, 1, 0) as number, 'process_vm_writev', [pid, addr, buf.length]));
  if (n !== buf.length) throw new SysError('process_vm_writev (short)', E.EFAULT, [pid, addr, buf.length]);
  return n;
}

export const CLOCK = { REALTIME: 0, MONOTONIC: 1, BOOTTIME: 7 } as const;
/** clock_gettime(clk) in ns */
export function clockNs(clk: number): bigint {
  const ts = Buffer.alloc(16);
  syscallBuf('clock_gettime', clk, ts);
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

let tickUs: number | undefined;
/**
 * The kernel's scheduler tick (TICK_NSEC) in µs. setitimer arms a CPU itimer (virtual, prof)
 * one tick later than asked; a 1000 s ITIMER_VIRTUAL of our own, read back at once, shows it.
 * Taken as the nearest tick of a CONFIG_HZ (100, 250, 300, 1000).
 */
export function cpuItimerTickUs(): number {
  if (tickUs !== undefined) return tickUs;
  const set = Buffer.alloc(32),
    old = Buffer.alloc(32),
    cur = Buffer.alloc(32);
  set.writeBigInt64LE(1000n, 16);
  syscallBuf('setitimer', 1, set, addrOf(old));
  try {
    syscallBuf('getitimer', 1, cur);
  } finally {
    syscallBuf('setitimer', 1, old, 0);
  }
  const extra = Number(cur.readBigInt64LE(16) - 1000n) * 1e6 + Number(cur.readBigInt64LE(24));
  tickUs = [10000, 4000, 3333, 1000].reduce((a, b) => (Math.abs(b - extra) < Math.abs(a - extra) ? b : a));
  return tickUs;
}
