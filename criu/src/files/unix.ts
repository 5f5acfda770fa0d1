// Unix sockets, as CRIU 4.2's sk-unix.c keeps them (unix_sk_entry): stream, datagram and
// seqpacket; unnamed, bound to a path (relative ones with their name_dir, deleted ones marked
// `deleted`: unix-name.ts) or to an abstract name; listening with their backlog, and the
// connections queued on a listener and not accepted yet (the client's peer is then the
// listener: it connects again at restore); connected to a peer in the dumped tree (socketpairs,
// a client and the socket accepted for it) or a datagram socket connected to a named one; the
// queued messages with the fds they carry (unix-queue.ts), read once every fd of the tree is
// seen. The restore is in unix-restore.ts. A peer outside the tree goes to the plugins
// (DUMP_UNIX_SK), else it is allowed by --ext-unix-sk (a named datagram receiver) or by
// naming the tree's socket (--ext-unix-sk=INO, --external unix[INO]) and written as CRIU's
// USK_EXTERN entry; otherwise refused as CRIU refuses it.
import { treeRootPid } from '../sys/tree-root.js';
import type { FileKind, DumpFdCtx } from './kind.js';
import { FdTypes, type FileEntry, type UnixSkEntry } from '../images/gen/types.js';
import { unixSockets, type UnixDiag } from './sockdiag.js';
import { dumpFown, fileFlags, where, F_DUPFD_CLOEXEC } from './fdparams.js';
import { fcntl, close } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM } from '../sys/socket-consts.js';
import { pluginCalls } from '../hooks.js';
import { TCP_ESTABLISHED, TCP_LISTEN, USK_CALLBACK, USK_EXTERN, dumpUnixOpts, nameText, pathOf } from './unix-sk.js';
import { resolveName } from './unix-name.js';
import { closeHeld, dumpQueue } from './unix-queue.js';
import { externals, unixException } from './external.js';
import { openUnix, unixWaitsFor, closeUnixState, type UnixState } from './unix-restore.js';

export { SK_QUEUES } from './unix-queue.js';

let diag: { at: number; map: Map<number, UnixDiag> } | null = null;
/** sock_diag's view, read again when older than the current dump step */
function unixDiag(ino: number): UnixDiag | undefined {
  if (!diag || Date.now() - diag.at > 200 || !diag.map.has(ino)) diag = { at: Date.now(), map: unixSockets() };
  return diag.map.get(ino);
}

/** the listener a connection not accepted yet waits on (its client's inode is in the listener's icons) */
function listenerOf(ino: number): UnixDiag | undefined {
  for (const d of diag?.map.values() ?? []) if (d.icons?.includes(ino)) return d;
  return undefined;
}

/** the peer of `d` as the image keeps it: its own, or for a connection not accepted yet the listener */
function peerOf(d: UnixDiag, name: Buffer, who: string): number {
  if (d.state === TCP_LISTEN) {
    if (d.icons?.includes(0))
      throw new NotSupportedError(
        `${who}: a connection queued on the listener ${nameText(name)} whose client is closed`,
        'CRIU refuses it too: what it sent cannot be read',
      );
    return 0;
  }
  if (d.type === SOCK_DGRAM && d.peer && !unixDiag(d.peer)) {
    // its receiver is closed: the kernel drops the link at the next send (ECONNREFUSED); it is unconnected now
    log.info(`${who}: the datagram socket it was connected to (socket:[${d.peer}]) is closed: dumped as unconnected`);
    return 0;
  }
  if (d.peer || d.state !== TCP_ESTABLISHED || d.type === SOCK_DGRAM) return d.peer;
  const l = listenerOf(d.ino);
  if (!l) throw new NotSupportedError(`${who}: a connected unix socket whose peer is gone (a semi-closed connection)`);
  if (l.state !== TCP_LISTEN) throw new NotSupportedError(`${who}: a connection queued on socket ${l.ino}, which does not listen`);
  if (d.wqueue)
    throw new NotSupportedError(
      `${who}: data sent on a connection not accepted yet (${d.wqueue} bytes of send buffer in use)`,
      'CRIU refuses it too: that data cannot be read back',
    );
  return l.ino;
}

let pendingQueues = 0;

function dumpUnix(ctx: DumpFdCtx, id: number): FileEntry {
  const ino = ctx.link.ino!;
  const who = where(ctx, ctx.link.raw);
  const d = unixDiag(ino);
  if (!d) throw new NotSupportedError(`${who}: a socket sock_diag does not know`);
  if (![SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET].includes(d.type)) throw new NotSupportedError(`${who}: unix socket type ${d.type}`);
  const name = d.name ?? Buffer.alloc(0);
  const peer = peerOf(d, name, who);
  if (peer && peer !== ino) {
    const p = unixDiag(peer);
    if (p && p.peer !== ino && !p.name?.length) throw new NotSupportedError(`${who}: its peer socket ${peer} has neither it as peer nor a name to connect to`);
  }
  const fd = ctx.takeFd();
  const named = resolveName(fd, name, who);
  const inTree = pathOf(name);
  if (treeRootPid() !== null && inTree !== null && (named.deleted || !inTree.startsWith('/')))
    throw new NotSupportedError(
      `${who}: unix socket ${ino} bound to ${nameText(name)} (${named.deleted ? 'deleted' : 'a relative name'}) in the tree's own mount namespace`,
      'names in a mount namespace are restored when absolute and still there',
    );
  const usk: UnixSkEntry = {
    id,
    ino,
    type: d.type,
    state: d.state,
    flags: fileFlags(ctx),
    uflags: 0,
    backlog: d.state === TCP_LISTEN ? d.wqueue : 0,
    peer,
    fown: dumpFown(ctx, fd, 'unix socket'),
    opts: dumpUnixOpts(fd, who),
    name,
    ...(d.shutdown ? { shutdown: d.shutdown } : {}),
    ...(named.perms ? { file_perms: named.perms } : {}),
    ...(named.nameDir !== undefined ? { name_dir: named.nameDir } : {}),
    ...(named.deleted ? { deleted: true } : {}),
  };
  ctx.files.seen.add(`unix:${ino}`);
  // the queue once every fd of the tree is seen: the fds in it are found as the tasks' own
  if (d.state !== TCP_LISTEN && d.rqueue) queueLater(ctx, fd, id, who);
  if (peer && !ctx.files.seen.has(`unix:${peer}`)) checkPeerLater(ctx, usk, fd, who);
  return { type: FdTypes.UNIXSK, id, usk };
}

function queueLater(ctx: DumpFdCtx, fd: number, id: number, who: string): void {
  const keep = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  pendingQueues++;
  ctx.extra.deferred.set(`unix-queue:${id}`, () => {
    pendingQueues--;
    try {
      dumpQueue(ctx, keep, id, who);
    } finally {
      close(keep);
    }
  });
}

/** CRIU's extern entry for a peer outside the tree (fix_external_unix_sockets): once per peer. */
function externEntry(ctx: DumpFdCtx, ino: number): void {
  if (ctx.files.seen.has(`unix-ext:${ino}`)) return;
  ctx.files.seen.add(`unix-ext:${ino}`);
  const id = ctx.files.allocId();
  const usk: UnixSkEntry = {
    id,
    ino,
    type: SOCK_DGRAM,
    state: TCP_LISTEN,
    flags: 0,
    uflags: USK_EXTERN,
    backlog: 0,
    peer: 0,
    fown: { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 },
    opts: { so_sndbuf: 0, so_rcvbuf: 0, so_snd_tmo_sec: 0n, so_snd_tmo_usec: 0n, so_rcv_tmo_sec: 0n, so_rcv_tmo_usec: 0n },
    name: unixDiag(ino)?.name ?? Buffer.alloc(0),
  };
  ctx.files.add({ type: FdTypes.UNIXSK, id, usk });
}

/** A socket whose peer is outside the tree, as CRIU's __dump_external_socket lets it be dumped or refuses it. */
function dumpExternal(ctx: DumpFdCtx, usk: UnixSkEntry, fd: number, who: string): void {
  const p = unixDiag(usk.peer);
  externEntry(ctx, usk.peer);
  if (pluginCalls().dumpUnixSk(fd, usk.ino)) {
    usk.uflags |= USK_CALLBACK;
    return;
  }
  if (unixException(usk.ino)) return; // named by --ext-unix-sk=INO or --external unix[INO]
  const peerText = `socket:[${usk.peer}]${p?.name?.length ? ` (${nameText(p.name)})` : ''}`;
  if (!externals().extUnixSk)
    throw new CriuError(`${who}: its peer ${peerText} is outside the dumped tree: External socket is used`, {
      object: `socket:[${usk.ino}]`,
      hint: `Consider using --ext-unix-sk option (or --ext-unix-sk=${usk.ino} / --external unix[${usk.ino}] for this socket alone)`,
    });
  if (p?.type !== SOCK_DGRAM)
    throw new CriuError(`${who}: its peer ${peerText} is outside the dumped tree: Can't dump half of stream unix connection`, {
      object: `socket:[${usk.ino}]`,
      hint: `name this socket to let it go (--ext-unix-sk=${usk.ino} or --external unix[${usk.ino}]): it connects to the peer's name again at restore`,
    });
  if (!p.name?.length)
    throw new CriuError(`${who}: its peer ${peerText} is outside the dumped tree: Can't dump name-less external socket`, { object: `socket:[${usk.ino}]` });
}

/** Once every fd of the tree (and every queue) is seen: a peer outside it is an external one. */
function checkPeerLater(ctx: DumpFdCtx, usk: UnixSkEntry, fd: number, who: string): void {
  const keep = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const key = `unix-peer:${usk.ino}`;
  const check = (): void => {
    // a peer may be an fd in flight in a queue not dumped yet: check after the queues
    if (pendingQueues > 0) {
      ctx.extra.deferred.delete(key);
      ctx.extra.deferred.set(key, check);
      return;
    }
    try {
      if (!ctx.files.seen.has(`unix:${usk.peer}`)) dumpExternal(ctx, usk, keep, who);
    } finally {
      close(keep);
    }
  };
  ctx.extra.deferred.set(key, check);
}

export const unixKind: FileKind<UnixState> = {
  name: 'unix',
  type: FdTypes.UNIXSK,
  field: 'usk',
  priority: 600,
  match: (link) => link.kind === 'socket' && link.ino !== undefined && unixDiag(link.ino) !== undefined,
  dump: dumpUnix,
  state: {
    create: () => ({ pairs: new Map(), ghosts: new Map() }),
    close: closeUnixState,
  },
  waitsFor: unixWaitsFor,
  open: openUnix,
  // CRIU's socket_d_name: the caller's socket is used as it is
  inheritKey: (_ctx, e) => (e.usk ? `socket:[${e.usk.ino}]` : undefined),
  hooks: {
    beforeFreeze: () => {
      pendingQueues = 0;
      closeHeld();
    },
    afterDump: () => closeHeld(),
  },
};
