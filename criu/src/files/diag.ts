// NETLINK_SOCK_DIAG, the exchange the socket kinds share: one SOCK_DIAG_BY_FAMILY dump request
// (the family's own request body after the netlink header), every answer message handed over,
// the kernel's error given back; and the walk over a message's attributes.
import { socket, close } from '../sys/libc.js';
import { netlinkExchange, NLMSG_HDR } from '../sys/netlink.js';
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_DGRAM } from '../sys/socket-consts.js';

const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20,
  NLM_F_DUMP = 0x300;
export { NLMSG_HDR };

/**
 * Sends the request `body` and calls `each(buf, offset, length)` for every answer message (its
 * payload starts at offset + NLMSG_HDR). Returns 0 once the dump is done, or the errno the kernel
 * answered with.
 */
export function sockDiagDump(body: Buffer, each: (buf: Buffer, o: number, len: number) => void): number {
  const fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  try {
    return netlinkExchange(fd, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, body, each);
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
