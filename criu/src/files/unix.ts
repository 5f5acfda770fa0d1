// Unix sockets connected to a peer that is in the dumped tree too (socketpairs, and what Node.js
// uses for a child's stdio): type, state, options, shutdown, and the bytes or datagrams queued
// in each direction, read without consuming them. On restore the tool makes the pair again,
// puts the queued data back through the other end, and hands each end to its tasks.
// Bound, listening and unconnected sockets, peers outside the tree and queued fds are refused.
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import { FdTypes, type FileEntry, type SkOptsEntry, type SkPacketEntry } from '../images/gen/types.js';
import { unixSockets, type UnixDiag } from './sockdiag.js';
import { zeroFown, fileFlags, where, O_NONBLOCK, F_DUPFD_CLOEXEC } from './fdparams.js';
import { socketpair, getsockoptInt, getsockopt, setsockopt, recvmsg, send, shutdown, fcntl, addrOf, close, SysError, E } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM, SOL_SOCKET } from '../sys/socket-consts.js';

const SO_SNDBUF = 7,
  SO_RCVBUF = 8,
  SO_PASSCRED = 16,
  SO_RCVTIMEO = 20,
  SO_SNDTIMEO = 21,
  SO_PEEK_OFF = 42;
const MSG_PEEK = 2,
  MSG_DONTWAIT = 0x40,
  MSG_CTRUNC = 8;
const TCP_ESTABLISHED = 1;
export const SK_QUEUES = 'sk-queues.img';

let diag: { at: number; map: Map<number, UnixDiag> } | null = null;
/** sock_diag's view, read again when older than the current dump step */
function unixDiag(ino: number): UnixDiag | undefined {
  if (!diag || Date.now() - diag.at > 200 || !diag.map.has(ino)) diag = { at: Date.now(), map: unixSockets() };
  return diag.map.get(ino);
}

/** The queued messages of a socket, peeked: one buffer for a stream, one per datagram otherwise. */
function peekQueue(fd: number, type: number, who: string): Buffer[] {
  const buf = Buffer.alloc(1 << 20),
    ctl = Buffer.alloc(256);
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(addrOf(buf), 0);
  iov.writeBigUInt64LE(BigInt(buf.length), 8);
  const out: Buffer[] = [];
  const stream = type === SOCK_STREAM;
  if (!stream) setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, int32(0));
  try {
    for (;;) {
      const m = Buffer.alloc(56);
      m.writeBigUInt64LE(addrOf(iov), 16);
      m.writeBigUInt64LE(1n, 24);
      m.writeBigUInt64LE(addrOf(ctl), 32);
      m.writeBigUInt64LE(BigInt(ctl.length), 40);
      let n: number;
      try {
        n = recvmsg(fd, m, MSG_PEEK | MSG_DONTWAIT);
      } catch (e) {
        if (e instanceof SysError && e.errno === E.EAGAIN) break;
        throw e;
      }
      if (m.readBigUInt64LE(40) > 0n || m.readInt32LE(48) & MSG_CTRUNC) {
        throw new NotSupportedError(`${who}: a queued message carries fds or credentials`);
      }
      if (stream && n === buf.length) throw new NotSupportedError(`${who}: more than ${buf.length} bytes queued`);
      if (stream && n === 0) break;
      out.push(Buffer.from(buf.subarray(0, n)));
      if (stream) break;
    }
  } finally {
    if (!stream) setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, int32(-1));
  }
  return out;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}
function timeval(fd: number, opt: number): [bigint, bigint] {
  const b = Buffer.alloc(16);
  getsockopt(fd, SOL_SOCKET, opt, b);
  return [b.readBigInt64LE(0), b.readBigInt64LE(8)];
}

function dumpUnix(ctx: DumpFdCtx, id: number): FileEntry {
  const ino = ctx.link.ino!;
  const who = where(ctx, ctx.link.raw);
  const d = unixDiag(ino);
  if (!d) throw new NotSupportedError(`${who}: a socket sock_diag does not know`);
  if (d.name?.length) throw new NotSupportedError(`${who}: a bound unix socket (${d.name.toString('latin1').replace(/\0/g, '@')})`);
  if (!d.peer || d.state !== TCP_ESTABLISHED) throw new NotSupportedError(`${who}: an unconnected unix socket (state ${d.state})`);
  if (![SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET].includes(d.type)) throw new NotSupportedError(`${who}: unix socket type ${d.type}`);
  const fd = ctx.takeFd();
  const [sts, stu] = timeval(fd, SO_SNDTIMEO),
    [rts, rtu] = timeval(fd, SO_RCVTIMEO);
  const opts: SkOptsEntry = {
    so_sndbuf: getsockoptInt(fd, SOL_SOCKET, SO_SNDBUF),
    so_rcvbuf: getsockoptInt(fd, SOL_SOCKET, SO_RCVBUF),
    so_snd_tmo_sec: sts,
    so_snd_tmo_usec: stu,
    so_rcv_tmo_sec: rts,
    so_rcv_tmo_usec: rtu,
    so_passcred: getsockoptInt(fd, SOL_SOCKET, SO_PASSCRED) !== 0,
  };
  for (const p of peekQueue(fd, d.type, who)) {
    const q: SkPacketEntry = { id_for: id, length: p.length };
    ctx.extra.add('SK_QUEUES', SK_QUEUES, q, p);
  }
  // the peer must be dumped too: checked once every fd of the tree is seen
  const peerKey = `unix-peer:${d.peer}`;
  ctx.files.seen.add(`unix:${ino}`);
  if (!ctx.extra.deferred.has(peerKey)) {
    ctx.extra.deferred.set(peerKey, () => {
      if (!ctx.files.seen.has(`unix:${d.peer}`)) {
        throw new NotSupportedError(
          `${who}: its peer (socket:[${d.peer}]) is outside the dumped tree`,
          'external unix sockets (--ext-unix-sk) are not supported yet',
        );
      }
    });
  }
  return {
    type: FdTypes.UNIXSK,
    id,
    usk: {
      id,
      ino,
      type: d.type,
      state: d.state,
      flags: fileFlags(ctx),
      uflags: 0,
      backlog: 0,
      peer: d.peer,
      fown: zeroFown(),
      opts,
      name: Buffer.alloc(0),
      ...(d.shutdown ? { shutdown: d.shutdown } : {}),
    },
  };
}

interface Pair {
  ends: Map<number, number>;
}
/** The socketpairs the tool made, by the lower inode of the two ends. */
export type UnixState = Map<number, Pair>;

function openUnix(ctx: RestoreFdCtx, e: FileEntry, s: UnixState, who: string): number {
  const u = partOf(e, 'usk', who);
  if (u.name?.length || !u.peer) throw new NotSupportedError(`${who}: a bound or unconnected unix socket`, { object: `socket:[${u.ino}]` });
  const key = Math.min(u.ino, u.peer);
  let pair = s.get(key);
  if (!pair) {
    const [a, b] = socketpair(AF_UNIX, u.type | SOCK_CLOEXEC);
    pair = {
      ends: new Map([
        [u.ino, a],
        [u.peer, b],
      ]),
    };
    s.set(key, pair);
    // every queued message goes in through the other end of the socket it was queued on
    for (const q of ctx.image(SK_QUEUES, 'SK_QUEUES') ?? []) {
      const owner = ctx.file(q.msg.id_for)?.usk?.ino;
      if (owner !== u.ino && owner !== u.peer) continue;
      const via = pair.ends.get(owner === u.ino ? u.peer : u.ino)!;
      const data = q.blob ?? Buffer.alloc(0);
      if (send(via, data, MSG_DONTWAIT) !== data.length)
        throw new FileError(who, `could not queue ${data.length} bytes back on socket ${owner}`, { object: `socket:[${owner}]` });
    }
  }
  const end = pair.ends.get(u.ino);
  if (end === undefined) throw new FileError(who, `socket ${u.ino} is not a side of its pair`, { object: `socket:[${u.ino}]`, hint: 'the image is damaged' });
  if (u.opts?.so_passcred) setsockopt(end, SOL_SOCKET, SO_PASSCRED, int32(1));
  for (const [opt, sec, usec] of [
    [SO_SNDTIMEO, u.opts?.so_snd_tmo_sec, u.opts?.so_snd_tmo_usec],
    [SO_RCVTIMEO, u.opts?.so_rcv_tmo_sec, u.opts?.so_rcv_tmo_usec],
  ] as const) {
    if (BigInt(sec ?? 0) || BigInt(usec ?? 0)) {
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(BigInt(sec ?? 0), 0);
      tv.writeBigInt64LE(BigInt(usec ?? 0), 8);
      setsockopt(end, SOL_SOCKET, opt, tv);
    }
  }
  // sk_shutdown bits: 1 receive, 2 send
  const sh = Number(u.shutdown ?? 0);
  if (sh) shutdown(end, sh === 1 ? 0 : sh === 2 ? 1 : 2);
  fcntl(end, 4 /* F_SETFL */, u.flags & O_NONBLOCK);
  return fcntl(end, F_DUPFD_CLOEXEC, 3);
}

export const unixKind: FileKind<UnixState> = {
  name: 'unix',
  type: FdTypes.UNIXSK,
  field: 'usk',
  priority: 600,
  match: (link) => link.kind === 'socket' && link.ino !== undefined && unixDiag(link.ino) !== undefined,
  dump: dumpUnix,
  state: {
    create: () => new Map(),
    close: (s) => {
      for (const p of s.values())
        for (const fd of p.ends.values()) {
          try {
            close(fd);
          } catch {
            /* closed */
          }
        }
      s.clear();
    },
  },
  open: openUnix,
};
