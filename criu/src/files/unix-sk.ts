// What the dump and the restore of unix sockets share: the options CRIU keeps for them, the
// queued messages read without consuming them, and the sockaddr_un of a name (a path, or an
// abstract name starting with a NUL byte, as sock_diag gives it and unix_sk_entry.name keeps it).
import type { SkOptsEntry, UnixSkEntry } from '../images/gen/types.js';
import { getsockoptInt, getsockopt, setsockopt, recvmsg, shutdown, addrOf, SysError, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { AF_UNIX, SOCK_STREAM, SOL_SOCKET } from '../sys/socket-consts.js';
import { restoreFileParams } from './fdparams.js';

const SO_SNDBUF = 7,
  SO_RCVBUF = 8,
  SO_PASSCRED = 16,
  SO_RCVTIMEO = 20,
  SO_SNDTIMEO = 21,
  SO_PEEK_OFF = 42;
const MSG_PEEK = 2,
  MSG_CTRUNC = 8;
export const MSG_DONTWAIT = 0x40;
/** sk_state values sock_diag shows for unix sockets */
export const TCP_ESTABLISHED = 1,
  TCP_CLOSE = 7,
  TCP_LISTEN = 10;
/** unix_sk_entry.uflags: dumped by a plugin's DUMP_UNIX_SK (CRIU's USK_CALLBACK) */
export const USK_CALLBACK = 1 << 2;
export const SK_QUEUES = 'sk-queues.img';

export function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
function timeval(fd: number, opt: number): [bigint, bigint] {
  const b = Buffer.alloc(16);
  getsockopt(fd, SOL_SOCKET, opt, b);
  return [b.readBigInt64LE(0), b.readBigInt64LE(8)];
}

/** The path of a path-bound socket (the kernel keeps its NUL at the end), null for none or an abstract name. */
export function pathOf(name: Buffer): string | null {
  if (!name.length || name[0] === 0) return null;
  const end = name.indexOf(0);
  return name.subarray(0, end < 0 ? name.length : end).toString();
}

/** The name for messages: a path as it is, an abstract name with '@' for its NUL bytes. */
export const nameText = (name: Buffer): string => pathOf(name) ?? name.toString('latin1').replace(/\0/g, '@');

/** struct sockaddr_un for `name` (the length the kernel gave it, so an abstract name keeps its size) */
export function sockaddrUn(name: Buffer): Buffer {
  const sa = Buffer.alloc(2 + name.length);
  sa.writeUInt16LE(AF_UNIX, 0);
  name.copy(sa, 2);
  return sa;
}

/** The socket options CRIU keeps for a unix socket. */
export function dumpUnixOpts(fd: number): SkOptsEntry {
  const [sts, stu] = timeval(fd, SO_SNDTIMEO),
    [rts, rtu] = timeval(fd, SO_RCVTIMEO);
  return {
    so_sndbuf: getsockoptInt(fd, SOL_SOCKET, SO_SNDBUF),
    so_rcvbuf: getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF),
    so_snd_tmo_sec: sts,
    so_snd_tmo_usec: stu,
    so_rcv_tmo_sec: rts,
    so_rcv_tmo_usec: rtu,
    so_passcred: getsockoptInt(fd, SOL_SOCKET, SO_PASSCRED) !== 0,
  };
}

/** The options, the shutdown state and the status flags back on a restored socket (CRIU's restore_sk_common). */
export function restoreUnixCommon(fd: number, u: UnixSkEntry): void {
  if (u.opts?.so_passcred) setsockopt(fd, SOL_SOCKET, SO_PASSCRED, int32(1));
  for (const [opt, sec, usec] of [
    [SO_SNDTIMEO, u.opts?.so_snd_tmo_sec, u.opts?.so_snd_tmo_usec],
    [SO_RCVTIMEO, u.opts?.so_rcv_tmo_sec, u.opts?.so_rcv_tmo_usec],
  ] as const) {
    if (BigInt(sec ?? 0) || BigInt(usec ?? 0)) {
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(BigInt(sec ?? 0), 0);
      tv.writeBigInt64LE(BigInt(usec ?? 0), 8);
      setsockopt(fd, SOL_SOCKET, opt, tv);
    }
  }
  // sk_shutdown bits: 1 receive, 2 send
  const sh = Number(u.shutdown ?? 0);
  if (sh) shutdown(fd, sh === 1 ? 0 : sh === 2 ? 1 : 2);
  // status flags (O_NONBLOCK, O_ASYNC) and the SIGIO owner and signal
  restoreFileParams(fd, u.flags, u.fown);
}

/** The queued messages of a socket, peeked: one buffer for a stream, one per datagram otherwise. */
export function peekQueue(fd: number, type: number, who: string): Buffer[] {
  const buf = Buffer.alloc(1 << 20),
    ctl = Buffer.alloc(256);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addrOf(buf), 0);
  iov.writeBigUInt64LE(BigInt(buf.length), 8);
  const out: Buffer[] = [];
  const stream = type === SOCK_STREAM;
  if (!stream) setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, int32(0));
  try {
    for (;;) {
      const m = Buffer.alloc(56);
      m.writeBigUInt64LE(addrOf(iov), 16);
      m.writeBigUInt64LE(1n, 24);
      m.writeBigUInt64LE(addrOf(ctl), 32);
      m.writeBigUInt64LE(BigInt(ctl.length), 40);
      let n: number;
      try {
        n = recvmsg(fd, m, MSG_PEEK | MSG_DONTWAIT);
      } catch (e) {
        if (e instanceof SysError && e.errno === E.EAGAIN) break;
        throw e;
      }
      if (m.readBigUInt64LE(40) > 0n || m.readInt32LE(48) & MSG_CTRUNC) {
        throw new NotSupportedError(`${who}: a queued message carries fds or credentials`);
      }
      if (stream && n === buf.length) throw new NotSupportedError(`${who}: more than ${buf.length} bytes queued`);
      if (stream && n === 0) break;
      out.push(Buffer.from(buf.subarray(0, n)));
      if (stream) break;
    }
  } finally {
    if (!stream) setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, int32(-1));
  }
  return out;
}
