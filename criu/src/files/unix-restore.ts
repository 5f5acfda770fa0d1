// The restore of unix sockets (dumped by unix.ts), as CRIU's sk-unix.c does it: two sockets that
// are each other's peer are made again as a socketpair, with their queued data put back through
// the other end (a client and the socket accepted for it too: neither is bound again, as in
// CRIU); any other socket is made alone: bound to its name (a stale socket file on its path is
// unlinked first, then its owner and mode are set back), put to listen with its backlog, and
// connected to its peer's name once the peer is open (a datagram socket to a named receiver, a
// connection not accepted yet to its listener, which queues it again). The datagrams queued on a
// socket made alone come back through a socket of the tool that is gone afterwards, as CRIU's
// fake queuer. A socket a plugin dumped (USK_CALLBACK) comes from its RESTORE_UNIX_SK.
import * as fs from 'node:fs';
import type { RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import type { FileEntry, UnixSkEntry } from '../images/gen/types.js';
import { F_DUPFD_CLOEXEC } from './fdparams.js';
import { socket, socketpair, send, fcntl, close, SysError } from '../sys/libc.js';
import { bindRaw, connectRaw, listen } from '../sys/net.js';
import { NotSupportedError } from '../errors.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM } from '../sys/socket-consts.js';
import { pluginCalls } from '../hooks.js';
import { MSG_DONTWAIT, SK_QUEUES, TCP_ESTABLISHED, TCP_LISTEN, USK_CALLBACK, nameText, pathOf, restoreUnixCommon, sockaddrUn } from './unix-sk.js';

/** What the restore of unix sockets keeps: the socketpairs it made (the fd of each end by inode), by the lower inode of the two. */
export interface UnixState {
  pairs: Map<number, Map<number, number>>;
}

const byIno = new WeakMap<RestoreFdCtx, Map<number, FileEntry>>();
/** the file_entry of the unix socket of inode `ino` */
function entryOf(ctx: RestoreFdCtx, ino: number): FileEntry | undefined {
  let m = byIno.get(ctx);
  if (!m) {
    m = new Map();
    for (const e of ctx.entries()) if (e.usk) m.set(e.usk.ino, e);
    byIno.set(ctx, m);
  }
  return m.get(ino);
}

/** the peer's entry, when the two are each other's peer (a pair to make with socketpair) or not */
function peerOf(ctx: RestoreFdCtx, u: UnixSkEntry, who: string): { e: FileEntry; mutual: boolean } | null {
  if (!u.peer) return null;
  const e = entryOf(ctx, u.peer);
  if (!e?.usk)
    throw new FileError(who, `its peer, unix socket ${u.peer}, is not in the images`, {
      object: `socket:[${u.ino}]`,
      hint: 'external unix sockets (--ext-unix-sk) are not supported yet',
    });
  return { e, mutual: u.peer !== u.ino && e.usk.peer === u.ino && u.state !== TCP_LISTEN && e.usk.state !== TCP_LISTEN };
}

/** Staged opens: a socket made alone connects once its peer is open (bound, listening). */
export function unixWaitsFor(ctx: RestoreFdCtx, e: FileEntry): number[] {
  const u = e.usk;
  if (!u || u.uflags & USK_CALLBACK || u.peer === u.ino) return [];
  const p = peerOf(ctx, u, `socket:[${u.ino}]`);
  return p && !p.mutual ? [p.e.id] : [];
}

/** a connected stream or seqpacket socket is not bound again: its name is its listener's (CRIU's bind_unix_sk) */
const bindsName = (u: UnixSkEntry): boolean => u.name.length > 0 && (u.type === SOCK_DGRAM || u.state !== TCP_ESTABLISHED);

function bindName(fd: number, u: UnixSkEntry, who: string): void {
  const path = pathOf(u.name);
  const what = nameText(u.name);
  if (path !== null) {
    if (!path.startsWith('/')) throw new NotSupportedError(`${who}: a unix socket bound to the relative path ${path}`, { object: `socket:[${u.ino}]` });
    // a socket file left on the path (the dumped socket's own) is stale: CRIU unlinks it
    try {
      if (fs.lstatSync(path).isSocket()) fs.unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  try {
    bindRaw(fd, sockaddrUn(u.name), what);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    throw new FileError(who, `cannot bind unix socket ${u.ino} to ${what}: ${e.message}`, {
      object: what,
      hint: path
        ? "the path's directory must exist and nothing but a socket file may be on it"
        : 'another socket holds the abstract name: is the dumped tree still running?',
    });
  }
  if (path !== null && u.file_perms) {
    fs.chownSync(path, u.file_perms.uid, u.file_perms.gid);
    fs.chmodSync(path, u.file_perms.mode & 0o7777);
  }
}

/** A socket of its own: the datagrams queued on it put back first (a socket of the tool sends them, then is gone). */
function makeAlone(ctx: RestoreFdCtx, u: UnixSkEntry, who: string): number {
  const queued = (ctx.image(SK_QUEUES, 'SK_QUEUES') ?? []).filter((q) => q.msg.id_for === u.id);
  if (!queued.length) return socket(AF_UNIX, u.type | SOCK_CLOEXEC);
  if (u.type !== SOCK_DGRAM)
    throw new NotSupportedError(`${who}: data queued on unix socket ${u.ino}, which has no peer in the images`, { object: `socket:[${u.ino}]` });
  const [fd, via] = socketpair(AF_UNIX, u.type | SOCK_CLOEXEC);
  try {
    // AF_UNSPEC undoes the pair's connection on this side only: `via` still sends to it
    connectRaw(fd, Buffer.alloc(2), 'AF_UNSPEC');
    for (const q of queued) {
      const data = q.blob ?? Buffer.alloc(0);
      if (send(via, data, MSG_DONTWAIT) !== data.length)
        throw new FileError(who, `could not queue ${data.length} bytes back on socket ${u.ino}`, { object: `socket:[${u.ino}]` });
    }
  } catch (e) {
    close(fd);
    throw e;
  } finally {
    close(via);
  }
  return fd;
}

function openAlone(ctx: RestoreFdCtx, u: UnixSkEntry, peer: FileEntry | undefined, who: string): number {
  const fd = makeAlone(ctx, u, who);
  try {
    if (bindsName(u)) bindName(fd, u, who);
    if (u.state === TCP_LISTEN) listen(fd, u.backlog);
    if (peer?.usk) {
      const to = peer.usk.name;
      if (!to.length)
        throw new FileError(who, `its peer, unix socket ${peer.usk.ino}, has no name to connect to`, {
          object: `socket:[${u.ino}]`,
          hint: 'the image is damaged',
        });
      connectRaw(fd, sockaddrUn(to), nameText(to));
    }
    restoreUnixCommon(fd, u);
    return fd;
  } catch (e) {
    close(fd);
    throw e;
  }
}

function openPairEnd(ctx: RestoreFdCtx, u: UnixSkEntry, p: UnixSkEntry, s: UnixState, who: string): number {
  const key = Math.min(u.ino, u.peer);
  let pair = s.pairs.get(key);
  if (!pair) {
    const [a, b] = socketpair(AF_UNIX, u.type | SOCK_CLOEXEC);
    pair = new Map([
      [u.ino, a],
      [u.peer, b],
    ]);
    s.pairs.set(key, pair);
    if (bindsName(u)) bindName(a, u, who);
    if (bindsName(p)) bindName(b, p, who);
    // every queued message goes in through the other end of the socket it was queued on
    for (const q of ctx.image(SK_QUEUES, 'SK_QUEUES') ?? []) {
      const owner = ctx.file(q.msg.id_for)?.usk?.ino;
      if (owner !== u.ino && owner !== u.peer) continue;
      const via = pair.get(owner === u.ino ? u.peer : u.ino)!;
      const data = q.blob ?? Buffer.alloc(0);
      if (send(via, data, MSG_DONTWAIT) !== data.length)
        throw new FileError(who, `could not queue ${data.length} bytes back on socket ${owner}`, { object: `socket:[${owner}]` });
    }
  }
  const end = pair.get(u.ino);
  if (end === undefined) throw new FileError(who, `socket ${u.ino} is not a side of its pair`, { object: `socket:[${u.ino}]`, hint: 'the image is damaged' });
  restoreUnixCommon(end, u);
  return fcntl(end, F_DUPFD_CLOEXEC, 3);
}

export function openUnix(ctx: RestoreFdCtx, e: FileEntry, s: UnixState, who: string): number {
  const u = partOf(e, 'usk', who);
  if (u.uflags & USK_CALLBACK) {
    const fd = pluginCalls().restoreUnixSk(u.ino);
    restoreUnixCommon(fd, u);
    return fd;
  }
  const p = peerOf(ctx, u, who);
  if (p?.mutual) return openPairEnd(ctx, u, p.e.usk!, s, who);
  return openAlone(ctx, u, u.peer === u.ino ? e : p?.e, who);
}

export function closeUnixState(s: UnixState): void {
  for (const p of s.pairs.values())
    for (const fd of p.values()) {
      try {
        close(fd);
      } catch {
        /* closed */
      }
    }
  s.pairs.clear();
}
