// AF_UNIX SOCK_SEQPACKET sockets as CRIU's RPC uses them (Node's net has no SOCK_SEQPACKET):
// a listening socket at a path, accept (blocking, or on koffi's worker thread so that the event
// loop keeps running), one packet in and out with its SCM_RIGHTS fds, the peer's credentials.
import koffi from './koffi.js';
import { libc, SysError, check, close, fdMessage, getsockopt, addrOf, socket } from './libc.js';
import { bindRaw, listen } from './net.js';
import { AF_UNIX, SCM_RIGHTS, SOCK_CLOEXEC, SOCK_SEQPACKET, SOL_SOCKET } from './socket-consts.js';
export { AF_UNIX, SOCK_CLOEXEC, SOCK_SEQPACKET } from './socket-consts.js';

const SO_PEERCRED = 17,
  MSG_PEEK = 2,
  MSG_TRUNC = 0x20,
  MSG_CMSG_CLOEXEC = 0x40000000,
  MSG_NOSIGNAL = 0x4000;

const f = {
  accept4: libc.func('int accept4(int fd, void *addr, void *len, int flags)'),
  recv: libc.func('long recv(int fd, void *buf, unsigned long len, int flags)'),
  recvmsg: libc.func('long recvmsg(int fd, void *msg, int flags)'),
  sendmsg: libc.func('long sendmsg(int fd, void *msg, int flags)'),
};

function sockaddrUn(file: string): Buffer {
  const p = Buffer.from(file);
  if (p.length > 107) throw new SysError(`bind ${file}`, 36 /* ENAMETOOLONG */);
  const a = Buffer.alloc(2 + p.length + 1);
  a.writeUInt16LE(AF_UNIX, 0);
  p.copy(a, 2);
  return a;
}

/** socket + bind + listen: a SOCK_SEQPACKET socket listening at `file` (which must not exist). */
export function listenSeqpacket(file: string, backlog = 16): number {
  const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC);
  try {
    const a = sockaddrUn(file);
    bindRaw(fd, a, file);
    listen(fd, backlog);
  } catch (e) {
    close(fd);
    throw e;
  }
  return fd;
}

/** accept4 on koffi's worker thread: the event loop runs meanwhile. Resolves to the new fd. */
export function acceptAsync(fd: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = f.accept4 as unknown as { async: (...a: unknown[]) => void };
    call.async(fd, null, null, SOCK_CLOEXEC, (err: unknown, r: number) => {
      if (err) reject(err instanceof Error ? err : new Error(String(err)));
      else if (r < 0) reject(new SysError('accept4', koffi.errno(), [fd]));
      else resolve(r);
    });
  });
}

export interface Packet {
  data: Buffer;
  fds: number[];
}

/**
 * One packet (blocking), whatever its size (MSG_PEEK|MSG_TRUNC tells it first, as CRIU does),
 * with the fds it carries (close-on-exec). null when the peer closed.
 */
export function recvPacket(fd: number): Packet | null {
  const len = Number(f.recv(fd, null, 0, MSG_PEEK | MSG_TRUNC) as number);
  if (len < 0) throw new SysError('recv', koffi.errno(), [fd, 'MSG_PEEK|MSG_TRUNC']);
  const data = Buffer.alloc(Math.max(len, 1));
  const ctl = Buffer.alloc(16 + 4 * 16);
  const { msg, keep } = fdMessage(data, -1);
  msg.writeBigUInt64LE(addrOf(ctl), 32);
  msg.writeBigUInt64LE(BigInt(ctl.length), 40);
  const n = Number(f.recvmsg(fd, msg, MSG_CMSG_CLOEXEC) as number);
  void keep;
  if (n < 0) throw new SysError('recvmsg', koffi.errno(), [fd]);
  const fds: number[] = [];
  const ctlLen = Number(msg.readBigUInt64LE(40));
  if (ctlLen >= 16 && ctl.readInt32LE(8) === SOL_SOCKET && ctl.readInt32LE(12) === SCM_RIGHTS) {
    const clen = Number(ctl.readBigUInt64LE(0));
    for (let o = 16; o + 4 <= clen; o += 4) fds.push(ctl.readInt32LE(o));
  }
  if (n === 0 && len === 0) {
    for (const x of fds) close(x);
    return null;
  }
  return { data: data.subarray(0, n), fds };
}

/** One packet, with an fd passed along (SCM_RIGHTS) when fd >= 0. */
export function sendPacket(sk: number, data: Buffer, fd = -1): void {
  const { msg, keep } = fdMessage(data, fd);
  check(f.sendmsg(sk, msg, MSG_NOSIGNAL) as number, 'sendmsg', [sk, data.length]);
  void keep;
}

/** SO_PEERCRED: who is at the other end (the process that connected or made the pair). */
export function peerCred(sk: number): { pid: number; uid: number; gid: number } {
  const b = Buffer.alloc(12);
  getsockopt(sk, SOL_SOCKET, SO_PEERCRED, b);
  return { pid: b.readInt32LE(0), uid: b.readUInt32LE(4), gid: b.readUInt32LE(8) };
}
