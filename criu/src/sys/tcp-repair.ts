// The kernel's TCP repair interface (linux/tcp.h, since 3.5; the window since 4.8): a socket in
// repair mode keeps its connection silent (no packet is sent, closing it sends no FIN or RST),
// its queues can be read with MSG_PEEK and written with send() into the queue chosen by
// TCP_REPAIR_QUEUE, their sequence numbers read and set with TCP_QUEUE_SEQ, and connect() only
// attaches the socket to its peer. Plus the raw packet CRIU's soccr sends to put a peer's FIN
// back into a restored receive queue (libnet there, a raw socket here), marked with SOCCR_MARK
// so that the network lock lets it pass.
import { getsockopt, setsockopt, ioctl, send, recv, socket, close, libc, check, SysError, E } from './libc.js';
import { AF_INET, AF_INET6, SOCK_RAW, SOL_SOCKET, SOCK_CLOEXEC } from './socket-consts.js';

export const SOL_TCP = 6;
export const TCP_MAXSEG = 2,
  TCP_INFO = 11,
  TCP_REPAIR = 19,
  TCP_REPAIR_QUEUE = 20,
  TCP_QUEUE_SEQ = 21,
  TCP_REPAIR_OPTIONS = 22,
  TCP_TIMESTAMP = 24,
  TCP_REPAIR_WINDOW = 29;
/** TCP_REPAIR_QUEUE values */
export const TCP_NO_QUEUE = 0,
  TCP_RECV_QUEUE = 1,
  TCP_SEND_QUEUE = 2;
/** tcp_info's tcpi_options bits */
export const TCPI_OPT_TIMESTAMPS = 1,
  TCPI_OPT_SACK = 2,
  TCPI_OPT_WSCALE = 4;
/** TCP option kinds for TCP_REPAIR_OPTIONS */
const TCPOPT_MAXSEG = 2,
  TCPOPT_WINDOW = 3,
  TCPOPT_SACK_PERM = 4,
  TCPOPT_TIMESTAMP = 8;
const SIOCINQ = 0x541b,
  SIOCOUTQ = 0x5411,
  SIOCOUTQNSD = 0x894b;
const MSG_PEEK = 2;
export const MSG_DONTWAIT = 0x40;
const SO_MARK = 36;
/** the mark of the tool's own packets (soccr.h SOCCR_MARK), which the network lock lets through */
export const SOCCR_MARK = 0xc114;

const int = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const getu = (fd: number, opt: number): number => {
  const b = Buffer.alloc(4);
  getsockopt(fd, SOL_TCP, opt, b);
  return b.readUInt32LE(0);
};
const ioctlInt = (fd: number, req: number): number => {
  const b = Buffer.alloc(4);
  ioctl(fd, req, b);
  return b.readInt32LE(0);
};

export const repairOn = (fd: number): void => setsockopt(fd, SOL_TCP, TCP_REPAIR, int(1));
export const repairOff = (fd: number): void => setsockopt(fd, SOL_TCP, TCP_REPAIR, int(0));
export const setRepairQueue = (fd: number, q: number): void => setsockopt(fd, SOL_TCP, TCP_REPAIR_QUEUE, int(q));
export const getQueueSeq = (fd: number): number => getu(fd, TCP_QUEUE_SEQ);
export const setQueueSeq = (fd: number, seq: number): void => setsockopt(fd, SOL_TCP, TCP_QUEUE_SEQ, int(seq));
export const maxSeg = (fd: number): number => getu(fd, TCP_MAXSEG);
export const getTimestamp = (fd: number): number => getu(fd, TCP_TIMESTAMP);
export const setTimestamp = (fd: number, ts: number): void => setsockopt(fd, SOL_TCP, TCP_TIMESTAMP, int(ts));
/** bytes in the receive queue, in the send queue, and the part of the send queue never sent */
export const inq = (fd: number): number => ioctlInt(fd, SIOCINQ);
export const outq = (fd: number): number => ioctlInt(fd, SIOCOUTQ);
export const outqNotSent = (fd: number): number => ioctlInt(fd, SIOCOUTQNSD);

/** The head of struct tcp_info soccr reads: state, options, window scales. */
export function tcpInfo(fd: number): { state: number; options: number; sndWscale: number; rcvWscale: number } {
  const b = Buffer.alloc(8);
  getsockopt(fd, SOL_TCP, TCP_INFO, b);
  return { state: b[0], options: b[5], sndWscale: b[6] & 0xf, rcvWscale: b[6] >> 4 };
}

export interface RepairWindow {
  sndWl1: number;
  sndWnd: number;
  maxWindow: number;
  rcvWnd: number;
  rcvWup: number;
}
/** struct tcp_repair_window, or null on a kernel without it (ENOPROTOOPT) */
export function getWindow(fd: number): RepairWindow | null {
  const b = Buffer.alloc(20);
  try {
    getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, b);
  } catch (e) {
    if (e instanceof SysError && e.errno === E.ENOPROTOOPT) return null;
    throw e;
  }
  return { sndWl1: b.readUInt32LE(0), sndWnd: b.readUInt32LE(4), maxWindow: b.readUInt32LE(8), rcvWnd: b.readUInt32LE(12), rcvWup: b.readUInt32LE(16) };
}
export function setWindow(fd: number, w: RepairWindow): void {
  const b = Buffer.alloc(20);
  [w.sndWl1, w.sndWnd, w.maxWindow, w.rcvWnd, w.rcvWup].forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  setsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, b);
}

/** TCP_REPAIR_OPTIONS: SACK, window scales, timestamps and the MSS, as negotiated with the peer */
export function setRepairOptions(fd: number, o: { optMask: number; sndWscale: number; rcvWscale: number; mssClamp: number }): void {
  const opts: [number, number][] = [];
  if (o.optMask & TCPI_OPT_SACK) opts.push([TCPOPT_SACK_PERM, 0]);
  if (o.optMask & TCPI_OPT_WSCALE) opts.push([TCPOPT_WINDOW, o.sndWscale + (o.rcvWscale << 16)]);
  if (o.optMask & TCPI_OPT_TIMESTAMPS) opts.push([TCPOPT_TIMESTAMP, 0]);
  opts.push([TCPOPT_MAXSEG, o.mssClamp]);
  const b = Buffer.alloc(opts.length * 8);
  opts.forEach(([code, val], i) => {
    b.writeUInt32LE(code, i * 8);
    b.writeUInt32LE(val >>> 0, i * 8 + 4);
  });
  setsockopt(fd, SOL_TCP, TCP_REPAIR_OPTIONS, b);
}

/** Exactly `len` bytes of the queue selected by TCP_REPAIR_QUEUE, peeked (one more is asked for, to be sure there are not more). */
export function peekQueue(fd: number, len: number): Buffer {
  const b = Buffer.alloc(len + 1);
  const n = len ? recv(fd, b, MSG_PEEK | MSG_DONTWAIT) : 0;
  if (n !== len) throw new SysError('recv', E.EIO, [fd, `${n} bytes peeked, ${len} expected`]);
  return b.subarray(0, len);
}

/** send() all of `buf` into the queue selected by TCP_REPAIR_QUEUE, in smaller pieces when the kernel refuses a large one (ENOMEM) */
export function sendAll(fd: number, buf: Buffer, flags = 0): void {
  let off = 0,
    max = buf.length;
  while (off < buf.length) {
    const chunk = buf.subarray(off, off + Math.min(max, buf.length - off));
    let n: number;
    try {
      n = send(fd, chunk, flags);
    } catch (e) {
      if (max > 1024) {
        max >>= 1;
        continue;
      }
      throw e;
    }
    off += n;
  }
}

const f = {
  sendto: libc.func('long sendto(int fd, void *buf, unsigned long len, int flags, void *addr, uint32_t alen)'),
};

function csum(parts: Buffer[]): number {
  let s = 0;
  for (const p of parts) {
    for (let i = 0; i + 1 < p.length; i += 2) s += p.readUInt16BE(i);
    if (p.length & 1) s += p[p.length - 1] << 8;
  }
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/**
 * A TCP segment as the peer would send it (soccr's send_fin): from `peer` to `self`, with the
 * given flags, sequence and acknowledgement numbers and window, sent on a raw socket marked
 * SOCCR_MARK. `self`/`peer` addresses are 4 or 16 bytes.
 */
export function sendAsPeer(
  family: number,
  self: { addr: Buffer; port: number },
  peer: { addr: Buffer; port: number },
  seg: { seq: number; ack: number; flags: number; window: number },
): void {
  // IPv4 inside IPv6 (::ffff:a.b.c.d) goes as IPv4, as soccr sends it
  const mapped = (a: Buffer): boolean => a.length >= 16 && a.readBigUInt64BE(0) === 0n && a.readUInt32BE(8) === 0xffff;
  if (family === AF_INET6 && mapped(self.addr) && mapped(peer.addr)) {
    family = AF_INET;
    self = { addr: self.addr.subarray(12, 16), port: self.port };
    peer = { addr: peer.addr.subarray(12, 16), port: peer.port };
  }
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(peer.port, 0);
  tcp.writeUInt16BE(self.port, 2);
  tcp.writeUInt32BE(seg.seq >>> 0, 4);
  tcp.writeUInt32BE(seg.ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = seg.flags;
  tcp.writeUInt16BE(Math.min(seg.window, 0xffff), 14);
  const v6 = family === AF_INET6;
  const pseudo = v6 ? Buffer.alloc(40) : Buffer.alloc(12);
  if (v6) {
    peer.addr.copy(pseudo, 0, 0, 16);
    self.addr.copy(pseudo, 16, 0, 16);
    pseudo.writeUInt32BE(20, 32);
    pseudo[39] = 6;
  } else {
    peer.addr.copy(pseudo, 0, 0, 4);
    self.addr.copy(pseudo, 4, 0, 4);
    pseudo[9] = 6;
    pseudo.writeUInt16BE(20, 10);
  }
  tcp.writeUInt16BE(csum([pseudo, tcp]), 16);
  let pkt: Buffer, sa: Buffer;
  if (v6) {
    const ip = Buffer.alloc(40);
    ip.writeUInt32BE(0x60000000, 0);
    ip.writeUInt16BE(20, 4);
    ip[6] = 6;
    ip[7] = 64;
    peer.addr.copy(ip, 8, 0, 16);
    self.addr.copy(ip, 24, 0, 16);
    pkt = Buffer.concat([ip, tcp]);
    sa = Buffer.alloc(28);
    sa.writeUInt16LE(AF_INET6, 0);
    self.addr.copy(sa, 8, 0, 16);
  } else {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(40, 2);
    ip.writeUInt16BE(242, 4);
    ip[8] = 64;
    ip[9] = 6;
    peer.addr.copy(ip, 12, 0, 4);
    self.addr.copy(ip, 16, 0, 4);
    ip.writeUInt16BE(csum([ip]), 10);
    pkt = Buffer.concat([ip, tcp]);
    sa = Buffer.alloc(16);
    sa.writeUInt16LE(AF_INET, 0);
    self.addr.copy(sa, 4, 0, 4);
  }
  const fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, 255 /* IPPROTO_RAW: the header is ours */);
  try {
    setsockopt(fd, SOL_SOCKET, SO_MARK, int(SOCCR_MARK));
    check(f.sendto(fd, pkt, pkt.length, 0, sa, sa.length) as number, 'sendto', [fd, 'a TCP segment to a restored socket']);
  } finally {
    close(fd);
  }
}

export const TH_FIN = 0x01,
  TH_ACK = 0x10;
