// The options of an inet socket, read and set again as CRIU 4.2 does (sockets.c
// dump_socket_opts/restore_socket_opts, sk-inet.c dump_ip_opts/restore_ip_opts, sk-tcp.c
// dump_tcp_opts/restore_tcp_opts): which fields are written, and when, follows CRIU's has_*
// rules, so that the images are the same as CRIU's.
import type { SkOptsEntry, IpOptsEntry, TcpOptsEntry } from '../images/gen/types.js';
import { getsockopt, getsockoptInt, setsockopt, SysError, E } from '../sys/libc.js';
import { AF_INET6, SOL_SOCKET } from '../sys/socket-consts.js';
import { NotSupportedError } from '../errors.js';

export const SOL_IP = 0,
  SOL_IPV6 = 41,
  SOL_TCP = 6,
  SOL_UDP = 17;
export const SO = {
  REUSEADDR: 2,
  DONTROUTE: 5,
  BROADCAST: 6,
  SNDBUF: 7,
  RCVBUF: 8,
  KEEPALIVE: 9,
  OOBINLINE: 10,
  NO_CHECK: 11,
  PRIORITY: 12,
  LINGER: 13,
  REUSEPORT: 15,
  RCVLOWAT: 18,
  RCVTIMEO: 20,
  SNDTIMEO: 21,
  BINDTODEVICE: 25,
  GET_FILTER: 26,
  SNDBUFFORCE: 32,
  RCVBUFFORCE: 33,
  MARK: 36,
  PROTOCOL: 38,
  DOMAIN: 39,
  BUF_LOCK: 72,
  TYPE: 3,
} as const;
const IP_TOS = 1,
  IP_TTL = 2,
  IP_PKTINFO = 8,
  IP_FREEBIND = 15,
  IPV6_RECVPKTINFO = 49,
  IPV6_FREEBIND = 78;
export const IPV6_V6ONLY = 26;
const TCP_NODELAY = 1,
  TCP_KEEPIDLE = 4,
  TCP_KEEPINTVL = 5,
  TCP_KEEPCNT = 6,
  TCP_CORK = 3;
export const UDP_CORK = 1;

export const int32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};
const geti = (fd: number, level: number, opt: number): number => getsockoptInt(fd, level, opt);
const seti = (fd: number, level: number, opt: number, v: number): void => setsockopt(fd, level, opt, int32(v));

/** the option, or undefined when this kernel does not know it (ENOPROTOOPT) */
function optional(fd: number, level: number, opt: number): number | undefined {
  try {
    return geti(fd, level, opt);
  } catch (e) {
    if (e instanceof SysError && e.errno === E.ENOPROTOOPT) return undefined;
    throw e;
  }
}

function timeval(fd: number, opt: number): [bigint, bigint] {
  const b = Buffer.alloc(16);
  getsockopt(fd, SOL_SOCKET, opt, b);
  return [b.readBigInt64LE(0), b.readBigInt64LE(8)];
}

/** The device name of SO_BINDTODEVICE ('' when none). */
export function boundDev(fd: number): string {
  const b = Buffer.alloc(16);
  const n = getsockopt(fd, SOL_SOCKET, SO.BINDTODEVICE, b);
  return n > 0 ? b.toString('latin1', 0, n).replace(/\0.*$/s, '') : '';
}

/** CRIU's sk_opts_entry of a socket (dump_socket_opts); `who` names it in a refusal. */
export function dumpSkOpts(fd: number, who: string): SkOptsEntry {
  const [sts, stu] = timeval(fd, SO.SNDTIMEO),
    [rts, rtu] = timeval(fd, SO.RCVTIMEO);
  const bufLock = optional(fd, SOL_SOCKET, SO.BUF_LOCK);
  const mark = geti(fd, SOL_SOCKET, SO.MARK);
  const linger = Buffer.alloc(8);
  getsockopt(fd, SOL_SOCKET, SO.LINGER, linger);
  const filter = Buffer.alloc(0);
  if (getsockopt(fd, SOL_SOCKET, SO.GET_FILTER, filter) > 0) {
    throw new NotSupportedError(`${who}: a socket filter (SO_ATTACH_FILTER)`, 'sockets with a BPF filter are not dumped yet');
  }
  const dev = boundDev(fd);
  const o: SkOptsEntry = {
    so_sndbuf: geti(fd, SOL_SOCKET, SO.SNDBUF),
    so_rcvbuf: geti(fd, SOL_SOCKET, SO.RCVBUF),
    so_snd_tmo_sec: sts,
    so_snd_tmo_usec: stu,
    so_rcv_tmo_sec: rts,
    so_rcv_tmo_usec: rtu,
    reuseaddr: geti(fd, SOL_SOCKET, SO.REUSEADDR) !== 0,
    so_priority: geti(fd, SOL_SOCKET, SO.PRIORITY),
    so_rcvlowat: geti(fd, SOL_SOCKET, SO.RCVLOWAT),
    ...(mark ? { so_mark: mark } : {}),
    so_dontroute: geti(fd, SOL_SOCKET, SO.DONTROUTE) !== 0,
    so_no_check: geti(fd, SOL_SOCKET, SO.NO_CHECK) !== 0,
    ...(dev ? { so_bound_dev: dev } : {}),
    so_reuseport: geti(fd, SOL_SOCKET, SO.REUSEPORT) !== 0,
    so_broadcast: geti(fd, SOL_SOCKET, SO.BROADCAST) !== 0,
    so_keepalive: geti(fd, SOL_SOCKET, SO.KEEPALIVE) !== 0,
    so_oobinline: geti(fd, SOL_SOCKET, SO.OOBINLINE) !== 0 ? 1 : 0,
    ...(linger.readInt32LE(0) ? { so_linger: linger.readInt32LE(4) } : {}),
    ...(bufLock !== undefined ? { so_buf_lock: bufLock } : {}),
  };
  return o;
}

/** restore_socket_opts: what was saved, on the new socket (SO_REUSEADDR/REUSEPORT come later). */
export function restoreSkOpts(fd: number, o: SkOptsEntry): void {
  // the kernel doubles what it is given: half of the saved value gives the saved value
  setsockopt(fd, SOL_SOCKET, SO.SNDBUFFORCE, int32(Math.floor(o.so_sndbuf / 2)));
  setsockopt(fd, SOL_SOCKET, SO.RCVBUFFORCE, int32(Math.floor(o.so_rcvbuf / 2)));
  if (o.so_buf_lock !== undefined) seti(fd, SOL_SOCKET, SO.BUF_LOCK, o.so_buf_lock);
  if (o.so_priority !== undefined) seti(fd, SOL_SOCKET, SO.PRIORITY, o.so_priority);
  if (o.so_rcvlowat !== undefined) seti(fd, SOL_SOCKET, SO.RCVLOWAT, o.so_rcvlowat);
  if (o.so_mark !== undefined) seti(fd, SOL_SOCKET, SO.MARK, o.so_mark);
  if (o.so_dontroute) seti(fd, SOL_SOCKET, SO.DONTROUTE, 1);
  if (o.so_no_check) seti(fd, SOL_SOCKET, SO.NO_CHECK, 1);
  if (o.so_broadcast) seti(fd, SOL_SOCKET, SO.BROADCAST, 1);
  if (o.so_oobinline) seti(fd, SOL_SOCKET, SO.OOBINLINE, 1);
  if (o.so_linger !== undefined) {
    const l = Buffer.alloc(8);
    l.writeInt32LE(1, 0);
    l.writeInt32LE(o.so_linger, 4);
    setsockopt(fd, SOL_SOCKET, SO.LINGER, l);
  }
  if (o.so_keepalive) seti(fd, SOL_SOCKET, SO.KEEPALIVE, 1);
  // the deprecated copies of the TCP keepalive timers (images of older CRIUs)
  if (o.tcp_keepcnt !== undefined) seti(fd, SOL_TCP, TCP_KEEPCNT, o.tcp_keepcnt);
  if (o.tcp_keepidle !== undefined) seti(fd, SOL_TCP, TCP_KEEPIDLE, o.tcp_keepidle);
  if (o.tcp_keepintvl !== undefined) seti(fd, SOL_TCP, TCP_KEEPINTVL, o.tcp_keepintvl);
  for (const [opt, sec, usec] of [
    [SO.SNDTIMEO, o.so_snd_tmo_sec, o.so_snd_tmo_usec],
    [SO.RCVTIMEO, o.so_rcv_tmo_sec, o.so_rcv_tmo_usec],
  ] as const) {
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(BigInt(sec), 0);
    tv.writeBigInt64LE(BigInt(usec), 8);
    setsockopt(fd, SOL_SOCKET, opt, tv);
  }
  if (o.so_bound_dev) setsockopt(fd, SOL_SOCKET, SO.BINDTODEVICE, Buffer.from(o.so_bound_dev, 'latin1'));
  if (o.so_filter?.length) throw new NotSupportedError(`socket filter of ${o.so_filter.length} instructions in the image`);
}

/** CRIU's ip_opts_entry of a TCP or UDP socket (dump_ip_opts): only what is set is written. */
export function dumpIpOpts(fd: number, family: number): IpOptsEntry {
  let freebind: number, pktinfo: number;
  let tos = 0,
    ttl = 0;
  if (family === AF_INET6) {
    freebind = optional(fd, SOL_IPV6, IPV6_FREEBIND) ?? geti(fd, SOL_IP, IP_FREEBIND);
    pktinfo = geti(fd, SOL_IPV6, IPV6_RECVPKTINFO);
  } else {
    freebind = geti(fd, SOL_IP, IP_FREEBIND);
    pktinfo = geti(fd, SOL_IP, IP_PKTINFO);
    tos = geti(fd, SOL_IP, IP_TOS);
    ttl = geti(fd, SOL_IP, IP_TTL);
  }
  return {
    ...(freebind ? { freebind: true } : {}),
    ...(pktinfo ? { pktinfo: true } : {}),
    ...(tos ? { tos } : {}),
    ...(ttl ? { ttl } : {}),
  };
}

/** restore_ip_opts */
export function restoreIpOpts(fd: number, family: number, o: IpOptsEntry): void {
  if (family === AF_INET6) {
    if (o.freebind !== undefined) seti(fd, SOL_IPV6, IPV6_FREEBIND, o.freebind ? 1 : 0);
    if (o.pktinfo !== undefined) seti(fd, SOL_IPV6, IPV6_RECVPKTINFO, o.pktinfo ? 1 : 0);
    return;
  }
  if (o.freebind !== undefined) seti(fd, SOL_IP, IP_FREEBIND, o.freebind ? 1 : 0);
  if (o.pktinfo !== undefined) seti(fd, SOL_IP, IP_PKTINFO, o.pktinfo ? 1 : 0);
  if (o.tos !== undefined) seti(fd, SOL_IP, IP_TOS, o.tos);
  if (o.ttl !== undefined) seti(fd, SOL_IP, IP_TTL, o.ttl);
}

/** CRIU's tcp_opts_entry (dump_tcp_opts): each field when not zero. */
export function dumpTcpOpts(fd: number): TcpOptsEntry {
  const nodelay = geti(fd, SOL_TCP, TCP_NODELAY),
    cork = geti(fd, SOL_TCP, TCP_CORK),
    keepcnt = geti(fd, SOL_TCP, TCP_KEEPCNT),
    keepidle = geti(fd, SOL_TCP, TCP_KEEPIDLE),
    keepintvl = geti(fd, SOL_TCP, TCP_KEEPINTVL);
  return {
    ...(cork ? { cork: true } : {}),
    ...(nodelay ? { nodelay: true } : {}),
    ...(keepcnt ? { keepcnt } : {}),
    ...(keepidle ? { keepidle } : {}),
    ...(keepintvl ? { keepintvl } : {}),
  };
}

/** restore_tcp_opts */
export function restoreTcpOpts(fd: number, o: TcpOptsEntry): void {
  if (o.nodelay !== undefined) seti(fd, SOL_TCP, TCP_NODELAY, o.nodelay ? 1 : 0);
  if (o.cork !== undefined) seti(fd, SOL_TCP, TCP_CORK, o.cork ? 1 : 0);
  if (o.keepcnt !== undefined) seti(fd, SOL_TCP, TCP_KEEPCNT, o.keepcnt);
  if (o.keepidle !== undefined) seti(fd, SOL_TCP, TCP_KEEPIDLE, o.keepidle);
  if (o.keepintvl !== undefined) seti(fd, SOL_TCP, TCP_KEEPINTVL, o.keepintvl);
}

export { geti, seti };
