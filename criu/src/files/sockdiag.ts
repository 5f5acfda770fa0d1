// NETLINK_SOCK_DIAG for unix sockets: what /proc does not show (the peer of a socket, its name,
// queue lengths, shutdown state, the file a bound socket is on, a listener's queued connections), for every unix socket of the tool's network namespace.
import { errnoName } from '../sys/libc.js';
import { sockDiagDump, eachAttr, NLMSG_HDR } from './diag.js';
import { FileError } from './kind.js';
import { AF_UNIX } from '../sys/socket-consts.js';

const UDIAG_SHOW_NAME = 1,
  UDIAG_SHOW_VFS = 2,
  UDIAG_SHOW_PEER = 4,
  UDIAG_SHOW_ICONS = 8,
  UDIAG_SHOW_RQLEN = 0x10;
const UNIX_DIAG_NAME = 0,
  UNIX_DIAG_VFS = 1,
  UNIX_DIAG_PEER = 2,
  UNIX_DIAG_ICONS = 3,
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
  /** the inode of the file a path-bound socket is bound to */
  vfsIno?: number;
  /** a listener's connections not accepted yet: the inodes of their clients (0 for one closed since) */
  icons?: number[];
}

/** Every unix socket the kernel knows in this network namespace, by inode. */
export function unixSockets(): Map<number, UnixDiag> {
  const out = new Map<number, UnixDiag>();
  const body = Buffer.alloc(24);
  body[0] = AF_UNIX;
  body.writeUInt32LE(0xffffffff, 4); // all states
  body.writeUInt32LE(UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_ICONS | UDIAG_SHOW_RQLEN, 12);
  const err = sockDiagDump(body, (buf, o, len) => {
    const p = o + NLMSG_HDR;
    const d: UnixDiag = { type: buf[p + 1], state: buf[p + 2], ino: buf.readUInt32LE(p + 4), peer: 0, rqueue: 0, wqueue: 0, shutdown: 0 };
    eachAttr(buf, p + 16, o + len, (atype, v, alen) => {
      if (atype === UNIX_DIAG_PEER) d.peer = buf.readUInt32LE(v);
      else if (atype === UNIX_DIAG_NAME) d.name = Buffer.from(buf.subarray(v, v - 4 + alen));
      else if (atype === UNIX_DIAG_VFS) d.vfsIno = buf.readUInt32LE(v);
      else if (atype === UNIX_DIAG_ICONS) {
        d.icons = [];
        for (let i = 0; i + 4 <= alen - 4; i += 4) d.icons.push(buf.readUInt32LE(v + i));
      } else if (atype === UNIX_DIAG_RQLEN) {
        d.rqueue = buf.readUInt32LE(v);
        d.wqueue = buf.readUInt32LE(v + 4);
      } else if (atype === UNIX_DIAG_SHUTDOWN) d.shutdown = buf[v];
    });
    out.set(d.ino, d);
  });
  if (err !== 0)
    throw new FileError('', `sock_diag: error ${errnoName(err)}`, {
      object: 'NETLINK_SOCK_DIAG (unix sockets)',
      hint: 'the kernel needs CONFIG_UNIX_DIAG to show unix sockets',
    });
  return out;
}
