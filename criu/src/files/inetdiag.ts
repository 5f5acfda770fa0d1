// NETLINK_SOCK_DIAG for TCP and UDP sockets (inet_diag, INET_DIAG_REQ_V2): the state, the
// addresses, the queue lengths and the shutdown state of every hashed socket of the tool's
// network namespace, asked as CRIU's collect_sockets asks (TCP in the listening and connected
// states, UDP and UDP-Lite in all). A socket that is not hashed (a TCP socket that is only bound
// or not even that, an unbound UDP socket) is not there: it is read from the socket itself.
import { errnoName } from '../sys/libc.js';
import { sockDiagDump, eachAttr, NLMSG_HDR } from './diag.js';
import { AF_INET, AF_INET6 } from '../sys/net.js';
import { FileError } from './kind.js';

const INET_DIAG_SHUTDOWN = 8;
export const IPPROTO_TCP = 6,
  IPPROTO_UDP = 17,
  IPPROTO_UDPLITE = 136;
/** TCP states (the kernel's numbering, which CRIU's images keep) */
export const TCP = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
} as const;
export const tcpStateName = (s: number): string => Object.entries(TCP).find(([, v]) => v === s)?.[0] ?? `state ${s}`;

/** CRIU's mask for TCP: listening and connected sockets (a bound one is read from the socket) */
const TCP_STATES =
  (1 << TCP.LISTEN) |
  (1 << TCP.ESTABLISHED) |
  (1 << TCP.FIN_WAIT1) |
  (1 << TCP.FIN_WAIT2) |
  (1 << TCP.CLOSE_WAIT) |
  (1 << TCP.LAST_ACK) |
  (1 << TCP.CLOSING) |
  (1 << TCP.SYN_SENT);

export interface InetDiag {
  ino: number;
  family: number;
  proto: number;
  state: number;
  srcPort: number;
  dstPort: number;
  /** the 16 address bytes of inet_diag_sockid (an IPv4 address in the first 4) */
  src: Buffer;
  dst: Buffer;
  /** for a listening socket: the connections waiting for accept() and the backlog */
  rqueue: number;
  wqueue: number;
  shutdown: number;
}

/** The sockets of one family and protocol; UDP-Lite may be absent from the kernel (an empty map). */
function dumpOne(family: number, proto: number, states: number, out: Map<number, InetDiag>): void {
  const body = Buffer.alloc(56);
  body[0] = family;
  body[1] = proto;
  body.writeUInt32LE(states >>> 0, 4);
  const err = sockDiagDump(body, (buf, o, len) => out.set(...parseInetDiag(buf, o, len, proto)));
  if (err === 0 || proto === IPPROTO_UDPLITE) return;
  throw new FileError('', `sock_diag: error ${errnoName(err)} for ${family === AF_INET ? 'IPv4' : 'IPv6'} protocol ${proto}`, {
    object: 'NETLINK_SOCK_DIAG (inet sockets)',
    hint: 'the kernel needs CONFIG_INET_DIAG (and CONFIG_INET_TCP_DIAG, CONFIG_INET_UDP_DIAG) to show TCP and UDP sockets',
  });
}

/** One inet_diag_msg (with its shutdown attribute) of a sock_diag answer, and the socket's inode. */
export function parseInetDiag(buf: Buffer, o: number, len: number, proto: number): [number, InetDiag] {
  const p = o + NLMSG_HDR;
  const d: InetDiag = {
    family: buf[p],
    state: buf[p + 1],
    proto,
    srcPort: buf.readUInt16BE(p + 4),
    dstPort: buf.readUInt16BE(p + 6),
    src: Buffer.from(buf.subarray(p + 8, p + 24)),
    dst: Buffer.from(buf.subarray(p + 24, p + 40)),
    rqueue: buf.readUInt32LE(p + 56),
    wqueue: buf.readUInt32LE(p + 60),
    ino: buf.readUInt32LE(p + 68),
    shutdown: 0,
  };
  eachAttr(buf, p + 72, o + len, (atype, v) => {
    if (atype === INET_DIAG_SHUTDOWN) d.shutdown = buf[v];
  });
  return [d.ino, d];
}

/** Every hashed TCP, UDP and UDP-Lite socket of this network namespace, IPv4 and IPv6, by inode. */
export function inetSockets(): Map<number, InetDiag> {
  const out = new Map<number, InetDiag>();
  for (const family of [AF_INET, AF_INET6]) {
    dumpOne(family, IPPROTO_TCP, TCP_STATES, out);
    dumpOne(family, IPPROTO_UDP, 0xffffffff, out);
    dumpOne(family, IPPROTO_UDPLITE, 0xffffffff, out);
  }
  return out;
}
