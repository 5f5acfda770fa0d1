// The receive queue of a unix socket, as CRIU 4.2's sk-queue.c keeps it in sk-queues.img: one
// sk_packet_entry per message (a datagram or seqpacket record, or a stretch of a stream up to
// where the kernel would stop a read: a message with fds, or other credentials) with its bytes
// after it, read with MSG_PEEK from the tool's copy of the socket (SO_PEEK_OFF walks the queue;
// the task's own peek offset is put back). Fds in flight (SCM_RIGHTS) arrive in the tool with
// the peek; each is dumped by its own kind as an fd of the tool (CRIU's dump_my_file), found
// again by kcmp when a task holds it too, and the packet's scm entry lists their file ids (the
// file of an fd no task holds goes to files.img all the same). Queued credentials
// (SCM_CREDENTIALS, on a socket with SO_PASSCRED) are refused, as CRIU refuses any other control
// message. On restore each message is sent again with its fds (SCM_RIGHTS), in order.
import type { DumpFdCtx } from './kind.js';
import { FileError } from './kind.js';
import type { SkPacketEntry } from '../images/gen/types.js';
import { getsockoptInt, setsockopt, recvmsg, sendmsg, fdMessage, addrOf, close, fcntl, SysError, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { SOL_SOCKET } from '../sys/socket-consts.js';
import { readFdLink, readFdinfo } from '../proc/index.js';
import { kindFor } from './registry.js';
import { F_DUPFD_CLOEXEC } from './fdparams.js';
import { log } from '../log.js';

const SO_PEEK_OFF = 42;
const MSG_PEEK = 2,
  MSG_CTRUNC = 8,
  MSG_TRUNC = 0x20,
  MSG_DONTWAIT = 0x40,
  MSG_CMSG_CLOEXEC = 0x40000000;
const SCM_RIGHTS = 1,
  SCM_CREDENTIALS = 2,
  SCM_SECURITY = 3;
export const SK_QUEUES = 'sk-queues.img';

const int32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
};

export interface Queued {
  data: Buffer;
  /** the fds that came with it, now the tool's */
  fds: number[];
}

/** The control messages of one peeked message: its fds; anything else is refused (the fds closed first). */
function controlOf(ctl: Buffer, len: number, who: string): number[] {
  const fds: number[] = [];
  let other = '';
  for (let o = 0; o + 16 <= len;) {
    const clen = Number(ctl.readBigUInt64LE(o));
    const level = ctl.readInt32LE(o + 8),
      type = ctl.readInt32LE(o + 12);
    if (clen < 16) break;
    if (level === SOL_SOCKET && type === SCM_RIGHTS) for (let i = o + 16; i + 4 <= o + clen; i += 4) fds.push(ctl.readInt32LE(i));
    else
      other ||=
        level === SOL_SOCKET && type === SCM_CREDENTIALS
          ? 'credentials (SCM_CREDENTIALS'
          : level === SOL_SOCKET && type === SCM_SECURITY
            ? 'a security context (SCM_SECURITY'
            : `a control message (level ${level} type ${type}`;
    o += (clen + 7) & ~7;
  }
  if (other) {
    for (const f of fds) close(f);
    throw new NotSupportedError(`${who}: queued ${other}, the receiver has SO_PASSCRED or SO_PASSSEC)`, {
      hint: 'CRIU 4.2 refuses it too ("Control messages in queue, not supported"): let the task read its queue first',
    });
  }
  return fds;
}

/** The queued messages of a socket, peeked, each with the fds it carries (the caller closes them). */
export function peekQueue(fd: number, who: string): Queued[] {
  const buf = Buffer.alloc(1 << 20),
    ctl = Buffer.alloc(4096);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addrOf(buf), 0);
  iov.writeBigUInt64LE(BigInt(buf.length), 8);
  const out: Queued[] = [];
  const orig = getsockoptInt(fd, SOL_SOCKET, SO_PEEK_OFF);
  setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, int32(0));
  try {
    for (;;) {
      const m = Buffer.alloc(56);
      m.writeBigUInt64LE(addrOf(iov), 16);
      m.writeBigUInt64LE(1n, 24);
      m.writeBigUInt64LE(addrOf(ctl), 32);
      m.writeBigUInt64LE(BigInt(ctl.length), 40);
      let n: number;
      try {
        n = recvmsg(fd, m, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      } catch (e) {
        if (e instanceof SysError && e.errno === E.EAGAIN) break;
        throw e;
      }
      const flags = m.readInt32LE(48);
      const fds = controlOf(ctl, Number(m.readBigUInt64LE(40)), who);
      if (flags & (MSG_CTRUNC | MSG_TRUNC)) {
        for (const f of fds) close(f);
        throw new NotSupportedError(`${who}: a queued message larger than ${buf.length} bytes or with more fds than ${ctl.length} bytes of control data hold`);
      }
      if (n === 0 && !fds.length) break; // a stream whose peer shut down: the end of the queue
      out.push({ data: Buffer.from(buf.subarray(0, n)), fds });
    }
  } catch (e) {
    for (const q of out) for (const f of q.fds) close(f);
    throw e;
  } finally {
    setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, int32(orig));
  }
  return out;
}

/** The fds peeked out of queues, held until the dump ends so that kcmp finds one file sent twice. */
const held: number[] = [];
export function closeHeld(): void {
  for (const f of held.splice(0)) close(f);
}

/** The file id of an fd of the tool (one that came in a queue): the id of the task's fd on the same file, or a new entry. */
function dumpMyFile(ctx: DumpFdCtx, fd: number, who: string): number {
  const me = process.pid;
  const link = readFdLink(me, fd);
  const info = readFdinfo(me, fd);
  const known = ctx.files.sameAs(me, fd, info.ino);
  if (known !== undefined) return known;
  const kind = kindFor(link, info, { pid: me, fd });
  if (!kind) throw new NotSupportedError(`${who}: an fd in its queue (${link.raw})`, { object: link.raw });
  const id = ctx.files.allocId();
  const copies: number[] = [];
  const sub: DumpFdCtx = {
    ...ctx,
    pid: me,
    fd,
    link,
    info,
    takeFd: () => {
      const c = fcntl(fd, F_DUPFD_CLOEXEC, 3);
      copies.push(c);
      return c;
    },
  };
  try {
    ctx.files.add(kind.dump(sub, id));
  } finally {
    for (const c of copies) close(c);
  }
  ctx.files.noteFd(me, fd, info.ino, id);
  log.debug(`${who}: queued fd (${link.raw}) -> ${kind.name} file id ${id}`);
  return id;
}

/** Dumps the queue of socket `fd` (file id `id`) into sk-queues.img. */
export function dumpQueue(ctx: DumpFdCtx, fd: number, id: number, who: string): void {
  const msgs = peekQueue(fd, who);
  for (const q of msgs) held.push(...q.fds);
  for (const q of msgs) {
    const e: SkPacketEntry = { id_for: id, length: q.data.length };
    if (q.fds.length) e.scm = [{ type: SCM_RIGHTS, rights: q.fds.map((f) => dumpMyFile(ctx, f, who)) }];
    ctx.extra.add('SK_QUEUES', SK_QUEUES, e, q.data);
  }
}

/** The file ids a queued packet carries. */
export const rightsOf = (e: SkPacketEntry): number[] => (e.scm ?? []).flatMap((s) => (s.type === SCM_RIGHTS ? (s.rights ?? []) : []));

/** Sends one queued message again through `via`, with the tool's fds on the files it carried. */
export function sendQueued(via: number, e: SkPacketEntry, data: Buffer, fds: number[], who: string, owner: number): void {
  for (const s of e.scm ?? [])
    if (s.type !== SCM_RIGHTS)
      throw new NotSupportedError(`${who}: a queued message with control message type ${s.type} in the image`, { object: `socket:[${owner}]` });
  const { msg, keep } = fdMessage(data, fds);
  const n = sendmsg(via, msg, MSG_DONTWAIT);
  void keep;
  if (n !== data.length) throw new FileError(who, `could not queue ${data.length} bytes back on socket ${owner} (${n} sent)`, { object: `socket:[${owner}]` });
}
