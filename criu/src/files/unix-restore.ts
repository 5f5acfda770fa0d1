// The restore of unix sockets (dumped by unix.ts), as CRIU's sk-unix.c does it: two sockets that
// are each other's peer are made again as a socketpair, with their queued messages put back
// through the other end (a client and the socket accepted for it too: neither is bound again,
// as in CRIU); any other socket is made alone: bound to its name (unix-name.ts: a stale socket
// file on its path unlinked first, owner and mode set back, a relative name from its name_dir,
// a deleted one as a ghost), put to listen with its backlog, and connected to its peer's name
// once the peer is open (a datagram socket to a named receiver, a connection not accepted yet
// to its listener, which queues it again, a socket whose peer is outside the tree to that
// peer's name: --ext-unix-sk). The messages queued on a socket made alone come back through a
// socket of the tool that is gone afterwards, as CRIU's fake queuer; the fds a message carried
// are the tool's fds on those files (opened first: waitsFor), sent with it. A socket a plugin
// dumped (USK_CALLBACK) comes from its RESTORE_UNIX_SK. Options, the SIGIO owner and shutdown
// go on last (CRIU's restore_sk_common), after the queues.
import type { RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import type { FileEntry, UnixSkEntry } from '../images/gen/types.js';
import { F_DUPFD_CLOEXEC } from './fdparams.js';
import { socket, socketpair, fcntl, close } from '../sys/libc.js';
import { connectRaw, listen } from '../sys/net.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM } from '../sys/socket-consts.js';
import { pluginCalls } from '../hooks.js';
import { SK_QUEUES, TCP_ESTABLISHED, TCP_LISTEN, USK_CALLBACK, USK_EXTERN, restoreUnixCommon } from './unix-sk.js';
import { bindName, connectName, unlinkStale } from './unix-name.js';
import { rightsOf, sendQueued } from './unix-queue.js';
import { externals } from './external.js';

/** What the restore of unix sockets keeps: the socketpairs it made (the fd of each end by inode, by the lower inode of the two), and the ghosts' O_PATH fds by inode. */
export interface UnixState {
  pairs: Map<number, Map<number, number>>;
  ghosts: Map<number, number>;
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

const isExtern = (u: UnixSkEntry | undefined): boolean => ((u?.uflags ?? 0) & USK_EXTERN) !== 0;

/** the peer's entry, when the two are each other's peer (a pair to make with socketpair) or not */
function peerOf(ctx: RestoreFdCtx, u: UnixSkEntry, who: string): { e: FileEntry; mutual: boolean } | null {
  if (!u.peer) return null;
  const e = entryOf(ctx, u.peer);
  if (!e?.usk)
    throw new FileError(who, `its peer, unix socket ${u.peer}, is not in the images`, {
      object: `socket:[${u.ino}]`,
      hint: 'the image is damaged',
    });
  return { e, mutual: u.peer !== u.ino && e.usk.peer === u.ino && u.state !== TCP_LISTEN && e.usk.state !== TCP_LISTEN };
}

/** the packets queued on the socket of file id `id` */
const queueOf = (ctx: RestoreFdCtx, id: number) => (ctx.image(SK_QUEUES, 'SK_QUEUES') ?? []).filter((q) => q.msg.id_for === id);

/** Staged opens: a socket made alone connects once its peer is open (bound, listening); the files its queue (and its pair's) carries are opened first. */
export function unixWaitsFor(ctx: RestoreFdCtx, e: FileEntry): number[] {
  const u = e.usk;
  if (!u || u.uflags & (USK_CALLBACK | USK_EXTERN)) return [];
  const p = u.peer === u.ino ? null : u.peer ? peerOf(ctx, u, `socket:[${u.ino}]`) : null;
  const own = new Set([e.id, ...(p?.mutual ? [p.e.id] : [])]);
  const out: number[] = [];
  if (p && !p.mutual && !isExtern(p.e.usk)) out.push(p.e.id);
  for (const id of own) for (const q of queueOf(ctx, id)) for (const r of rightsOf(q.msg)) if (!own.has(r) && !out.includes(r)) out.push(r);
  return out;
}

/** a connected stream or seqpacket socket is not bound again: its name is its listener's (CRIU's bind_unix_sk) */
const bindsName = (u: UnixSkEntry): boolean => u.name.length > 0 && (u.type === SOCK_DGRAM || u.state !== TCP_ESTABLISHED);

function bind(fd: number, u: UnixSkEntry, s: UnixState, who: string): void {
  if (!bindsName(u)) return;
  unlinkStale(u);
  const ghost = bindName(fd, u, who);
  if (ghost >= 0) s.ghosts.set(u.ino, ghost);
}

/** Sends the queue of socket `owner` (file id `id`) through `via`; `mine` gives the fds of files the tool already has at hand (the pair's ends). */
function sendQueue(ctx: RestoreFdCtx, id: number, owner: number, via: number, mine: Map<number, number>, who: string): void {
  for (const q of queueOf(ctx, id)) {
    const fds = rightsOf(q.msg).map((r) => mine.get(r) ?? ctx.openFile(r, who));
    sendQueued(via, q.msg, q.blob ?? Buffer.alloc(0), fds, who, owner);
  }
}

/** A socket of its own: the messages queued on it put back first (a socket of the tool sends them, then is gone). */
function makeAlone(ctx: RestoreFdCtx, e: FileEntry, u: UnixSkEntry, who: string): number {
  if (!queueOf(ctx, e.id).length) return socket(AF_UNIX, u.type | SOCK_CLOEXEC);
  if (u.type !== SOCK_DGRAM)
    throw new NotSupportedError(`${who}: data queued on unix socket ${u.ino}, which has no peer in the images`, { object: `socket:[${u.ino}]` });
  const [fd, via] = socketpair(AF_UNIX, u.type | SOCK_CLOEXEC);
  try {
    // AF_UNSPEC undoes the pair's connection on this side only: `via` still sends to it
    connectRaw(fd, Buffer.alloc(2), 'AF_UNSPEC');
    sendQueue(ctx, e.id, u.ino, via, new Map([[e.id, fd]]), who);
  } catch (err) {
    close(fd);
    throw err;
  } finally {
    close(via);
  }
  return fd;
}

/** The peer to connect to, checked: one outside the tree needs --ext-unix-sk and a name (CRIU's open_unixsk_standalone). */
function peerToConnect(p: FileEntry | undefined, u: UnixSkEntry, who: string): UnixSkEntry | undefined {
  const to = p?.usk;
  if (!to) return undefined;
  if (isExtern(to) && !externals().extUnixSk)
    throw new CriuError(`${who}: its peer socket:[${to.ino}] was outside the dumped tree: External socket found in image`, {
      object: `socket:[${u.ino}]`,
      hint: 'Consider using the --ext-unix-sk option to allow restoring it',
    });
  if (!to.name.length) {
    if (isExtern(to))
      throw new CriuError(`${who}: unix socket ${u.ino} whose peer outside the tree (socket:[${to.ino}]) has no name to connect to`, {
        object: `socket:[${u.ino}]`,
        hint: `pass a socket for it with --inherit-fd fd[N]:socket:[${u.ino}], as CRIU needs`,
      });
    throw new FileError(who, `its peer, unix socket ${to.ino}, has no name to connect to`, { object: `socket:[${u.ino}]`, hint: 'the image is damaged' });
  }
  return to;
}

function openAlone(ctx: RestoreFdCtx, e: FileEntry, u: UnixSkEntry, peer: FileEntry | undefined, s: UnixState, who: string): number {
  const to = peerToConnect(peer, u, who);
  const fd = makeAlone(ctx, e, u, who);
  try {
    bind(fd, u, s, who);
    if (u.state === TCP_LISTEN) listen(fd, u.backlog);
    if (to) connectName(fd, to, s.ghosts.get(to.ino));
    restoreUnixCommon(fd, u);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

function openPairEnd(ctx: RestoreFdCtx, e: FileEntry, u: UnixSkEntry, pe: FileEntry, s: UnixState, who: string): number {
  const p = pe.usk!;
  const key = Math.min(u.ino, u.peer);
  let pair = s.pairs.get(key);
  if (!pair) {
    const [a, b] = socketpair(AF_UNIX, u.type | SOCK_CLOEXEC);
    pair = new Map([
      [u.ino, a],
      [u.peer, b],
    ]);
    s.pairs.set(key, pair);
    bind(a, u, s, who);
    bind(b, p, s, who);
    // every queued message goes in through the other end of the socket it was queued on
    const mine = new Map([
      [e.id, a],
      [pe.id, b],
    ]);
    sendQueue(ctx, e.id, u.ino, b, mine, who);
    sendQueue(ctx, pe.id, p.ino, a, mine, who);
  }
  const end = pair.get(u.ino);
  if (end === undefined) throw new FileError(who, `socket ${u.ino} is not a side of its pair`, { object: `socket:[${u.ino}]`, hint: 'the image is damaged' });
  restoreUnixCommon(end, u);
  return fcntl(end, F_DUPFD_CLOEXEC, 3);
}

export function openUnix(ctx: RestoreFdCtx, e: FileEntry, s: UnixState, who: string): number {
  const u = partOf(e, 'usk', who);
  if (u.uflags & USK_EXTERN)
    throw new FileError(who, `unix socket ${u.ino} is the peer outside the tree of a dumped socket, not a socket of the tree`, {
      object: `socket:[${u.ino}]`,
      hint: 'the image is damaged',
    });
  if (u.uflags & USK_CALLBACK) {
    const fd = pluginCalls().restoreUnixSk(u.ino);
    restoreUnixCommon(fd, u);
    return fd;
  }
  const p = peerOf(ctx, u, who);
  if (p?.mutual) return openPairEnd(ctx, e, u, p.e, s, who);
  return openAlone(ctx, e, u, u.peer === u.ino ? e : p?.e, s, who);
}

export function closeUnixState(s: UnixState): void {
  const fds = [...[...s.pairs.values()].flatMap((p) => [...p.values()]), ...s.ghosts.values()];
  for (const fd of fds) {
    try {
      close(fd);
    } catch {
      /* closed */
    }
  }
  s.pairs.clear();
  s.ghosts.clear();
}
