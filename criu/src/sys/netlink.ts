// One netlink request and its answers (sock_diag dumps in files/diag.ts, rtnetlink in ns/net.ts).
import { sendmsg, recvmsg, fdMessage } from './libc.js';

const NLM_F_REQUEST = 1,
  NLMSG_DONE = 3,
  NLMSG_ERROR = 2;
/** struct nlmsghdr */
export const NLMSG_HDR = 16;

/**
 * Sends request `type` (NLM_F_REQUEST | flags) with `body` after the header on netlink socket
 * fd and calls `each(buf, offset, length)` for every answer message (its payload starts at
 * offset + NLMSG_HDR). Returns 0 once the answers are done (NLMSG_DONE, an ack, or the end of
 * the stream), or the errno the kernel answered with.
 */
export function netlinkExchange(fd: number, type: number, flags: number, body: Buffer, each: (buf: Buffer, o: number, len: number) => void): number {
  const req = Buffer.alloc(NLMSG_HDR + body.length);
  req.writeUInt32LE(req.length, 0);
  req.writeUInt16LE(type, 4);
  req.writeUInt16LE(NLM_F_REQUEST | flags, 6);
  req.writeUInt32LE(1, 8);
  body.copy(req, NLMSG_HDR);
  sendmsg(fd, fdMessage(req, []).msg);
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = recvmsg(fd, fdMessage(buf, []).msg);
    if (n === 0) return 0;
    for (let o = 0; o + NLMSG_HDR <= n;) {
      const len = buf.readUInt32LE(o),
        t = buf.readUInt16LE(o + 4);
      if (t === NLMSG_DONE) return 0;
      if (t === NLMSG_ERROR) return -buf.readInt32LE(o + NLMSG_HDR);
      each(buf, o, len);
      o += (len + 3) & ~3;
    }
  }
}
