// NETLINK_SOCK_DIAG for unix sockets: what /proc does not show (the peer of a socket, its name,
// queue lengths, shutdown state), for every unix socket of the tool's network namespace.
import { socket, sendmsg, recvmsg, close, fdMessage, errnoName } from '../sys/libc.js';
import { FileError } from './kind.js';

const AF_NETLINK = 16,
  AF_UNIX = 1,
  SOCK_DGRAM = 2,
  SOCK_CLOEXEC = 0o2000000,
  NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20,
  NLM_F_REQUEST = 1,
  NLM_F_DUMP = 0x300,
  NLMSG_DONE = 3,
  NLMSG_ERROR = 2;
const UDIAG_SHOW_NAME = 1,
  UDIAG_SHOW_PEER = 4,
  UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_NAME = 0,
  UNIX_DIAG_PEER = 2,
  UNIX_DIAG_RQLEN = 4,
  UNIX_DIAG_SHUTDOWN = 6;

export interface UnixDiag {
  ino: number;
  type: number;
  state: number;
  peer: number;
  name?: Buffer;
  rqueue: number;
  wqueue: number;
  shutdown: number;
}

/** Every unix socket the kernel knows in this network namespace, by inode. */
export function unixSockets(): Map<number, UnixDiag> {
  const fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  const out = new Map<number, UnixDiag>();
  try {
    const req = Buffer.alloc(16 + 24);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(1, 8);
    req[16] = AF_UNIX;
    req.writeUInt32LE(0xffffffff, 20); // all states
    req.writeUInt32LE(UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN, 28);
    const s = fdMessage(req, []);
    sendmsg(fd, s.msg);
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const r = fdMessage(buf, []);
      const n = recvmsg(fd, r.msg);
      for (let o = 0; o + 16 <= n;) {
        const len = buf.readUInt32LE(o),
          type = buf.readUInt16LE(o + 4);
        if (type === NLMSG_DONE) return out;
        if (type === NLMSG_ERROR)
          throw new FileError('', `sock_diag: error ${errnoName(-buf.readInt32LE(o + 16))}`, {
            object: 'NETLINK_SOCK_DIAG (unix sockets)',
            hint: 'the kernel needs CONFIG_UNIX_DIAG to show unix sockets',
          });
        const p = o + 16;
        const d: UnixDiag = { type: buf[p + 1], state: buf[p + 2], ino: buf.readUInt32LE(p + 4), peer: 0, rqueue: 0, wqueue: 0, shutdown: 0 };
        for (let a = p + 16; a + 4 <= o + len;) {
          const alen = buf.readUInt16LE(a),
            atype = buf.readUInt16LE(a + 2);
          if (alen < 4) break;
          const v = a + 4;
          if (atype === UNIX_DIAG_PEER) d.peer = buf.readUInt32LE(v);
          else if (atype === UNIX_DIAG_NAME) d.name = Buffer.from(buf.subarray(v, a + alen));
          else if (atype === UNIX_DIAG_RQLEN) {
            d.rqueue = buf.readUInt32LE(v);
            d.wqueue = buf.readUInt32LE(v + 4);
          } else if (atype === UNIX_DIAG_SHUTDOWN) d.shutdown = buf[v];
          a += (alen + 3) & ~3;
        }
        out.set(d.ino, d);
        o += (len + 3) & ~3;
      }
      if (n === 0) return out;
    }
  } finally {
    close(fd);
  }
}
