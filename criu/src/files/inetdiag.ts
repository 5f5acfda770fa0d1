// NETLINK_SOCK_DIAG for TCP and UDP sockets (inet_diag, INET_DIAG_REQ_V2): the state, the
// addresses, the queue lengths and the shutdown state of every hashed socket of the tool's
// network namespace, asked as CRIU's collect_sockets asks (TCP in the listening and connected
// states, UDP and UDP-Lite in all). A socket that is not hashed (a TCP socket that is only bound
// or not even that, an unbound UDP socket) is not there: it is read from the socket itself.
import { socket, sendmsg, recvmsg, close, fdMessage, errnoName } from '../sys/libc.js';
import { AF_INET, AF_INET6 } from '../sys/net.js';
import { FileError } from './kind.js';

const AF_NETLINK = 16,
  SOCK_DGRAM = 2,
  SOCK_CLOEXEC = 0o2000000,
  NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20,
  NLM_F_REQUEST = 1,
  NLM_F_DUMP = 0x300,
  NLMSG_DONE = 3,
  NLMSG_ERROR = 2;
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
  const fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  try {
    const req = Buffer.alloc(16 + 56);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(1, 8);
    req[16] = family;
    req[17] = proto;
    req.writeUInt32LE(states >>> 0, 20);
    sendmsg(fd, fdMessage(req, []).msg);
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = recvmsg(fd, fdMessage(buf, []).msg);
      if (n === 0) return;
      for (let o = 0; o + 16 <= n;) {
        const len = buf.readUInt32LE(o),
          type = buf.readUInt16LE(o + 4);
        if (type === NLMSG_DONE) return;
        if (type === NLMSG_ERROR) {
          const err = -buf.readInt32LE(o + 16);
          if (proto === IPPROTO_UDPLITE) return;
          throw new FileError('', `sock_diag: error ${errnoName(err)} for ${family === AF_INET ? 'IPv4' : 'IPv6'} protocol ${proto}`, {
            object: 'NETLINK_SOCK_DIAG (inet sockets)',
            hint: 'the kernel needs CONFIG_INET_DIAG (and CONFIG_INET_TCP_DIAG, CONFIG_INET_UDP_DIAG) to show TCP and UDP sockets',
          });
        }
        out.set(...parse(buf, o, len, proto));
        o += (len + 3) & ~3;
      }
    }
  } finally {
    close(fd);
  }
}

function parse(buf: Buffer, o: number, len: number, proto: number): [number, InetDiag] {
  const p = o + 16;
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
  for (let a = p + 72; a + 4 <= o + len;) {
    const alen = buf.readUInt16LE(a),
      atype = buf.readUInt16LE(a + 2);
    if (alen < 4) break;
    if (atype === INET_DIAG_SHUTDOWN) d.shutdown = buf[a + 4];
    a += (alen + 3) & ~3;
  }
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
