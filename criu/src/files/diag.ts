// NETLINK_SOCK_DIAG, the exchange the socket kinds share: one SOCK_DIAG_BY_FAMILY dump request
// (the family's own request body after the netlink header), every answer message handed over,
// the kernel's error given back; and the walk over a message's attributes.
import { socket, sendmsg, recvmsg, close, fdMessage } from '../sys/libc.js';
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_DGRAM } from '../sys/socket-consts.js';

const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20,
  NLM_F_REQUEST = 1,
  NLM_F_DUMP = 0x300,
  NLMSG_DONE = 3,
  NLMSG_ERROR = 2;
/** struct nlmsghdr */
export const NLMSG_HDR = 16;

/**
 * Sends the request `body` and calls `each(buf, offset, length)` for every answer message (its
 * payload starts at offset + NLMSG_HDR). Returns 0 once the dump is done, or the errno the kernel
 * answered with.
 */
export function sockDiagDump(body: Buffer, each: (buf: Buffer, o: number, len: number) => void): number {
  const fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  try {
    const req = Buffer.alloc(NLMSG_HDR + body.length);
    req.writeUInt32LE(req.length, 0);
    req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
    req.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
    req.writeUInt32LE(1, 8);
    body.copy(req, NLMSG_HDR);
    sendmsg(fd, fdMessage(req, []).msg);
    const buf = Buffer.alloc(1 << 16);
    for (;;) {
      const n = recvmsg(fd, fdMessage(buf, []).msg);
      if (n === 0) return 0;
      for (let o = 0; o + NLMSG_HDR <= n;) {
        const len = buf.readUInt32LE(o),
          type = buf.readUInt16LE(o + 4);
        if (type === NLMSG_DONE) return 0;
        if (type === NLMSG_ERROR) return -buf.readInt32LE(o + NLMSG_HDR);
        each(buf, o, len);
        o += (len + 3) & ~3;
      }
    }
  } finally {
    close(fd);
  }
}

/** The attributes (struct rtattr) from `from` to `to`: `fn(type, valueOffset, length)` for each. */
export function eachAttr(buf: Buffer, from: number, to: number, fn: (type: number, v: number, alen: number) => void): void {
  for (let a = from; a + 4 <= to;) {
    const alen = buf.readUInt16LE(a),
      atype = buf.readUInt16LE(a + 2);
    if (alen < 4) break;
    fn(atype, a + 4, alen);
    a += (alen + 3) & ~3;
  }
}
