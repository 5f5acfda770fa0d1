// Unix sockets, as CRIU 4.2's sk-unix.c keeps them (unix_sk_entry): stream, datagram and
// seqpacket; unnamed, bound to a path or to an abstract name; listening with their backlog, and
// the connections queued on a listener and not accepted yet (the client's peer is then the
// listener: it connects again at restore); connected to a peer in the dumped tree (socketpairs,
// a client and the socket accepted for it) or a datagram socket connected to a named one; the
// bytes or datagrams queued, read without consuming them. The restore is in unix-restore.ts.
// A peer outside the tree goes to the plugins (DUMP_UNIX_SK) and is refused when none takes it
// (--ext-unix-sk is not supported yet); so are paths since deleted or replaced, relative names,
// queued fds and credentials.
import * as fs from 'node:fs';
import type { FileKind, DumpFdCtx } from './kind.js';
import { FdTypes, type FileEntry, type FilePermsEntry, type SkPacketEntry, type UnixSkEntry } from '../images/gen/types.js';
import { unixSockets, type UnixDiag } from './sockdiag.js';
import { dumpFown, fileFlags, where, F_DUPFD_CLOEXEC } from './fdparams.js';
import { fcntl, close } from '../sys/libc.js';
import { NotSupportedError } from '../errors.js';
import { SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM } from '../sys/socket-consts.js';
import { pluginCalls } from '../hooks.js';
import { SK_QUEUES, TCP_ESTABLISHED, TCP_LISTEN, USK_CALLBACK, dumpUnixOpts, nameText, pathOf, peekQueue } from './unix-sk.js';
import { openUnix, unixWaitsFor, closeUnixState, type UnixState } from './unix-restore.js';

export { SK_QUEUES } from './unix-sk.js';

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

const noSuchPath = (e: unknown): boolean => (e as NodeJS.ErrnoException).code === 'ENOENT';

/** The owner and mode of the socket file of a path-bound socket; a path deleted or replaced since is refused. */
function boundFile(ctx: DumpFdCtx, d: UnixDiag, name: Buffer, who: string): FilePermsEntry | undefined {
  const p = pathOf(name);
  if (p === null) return undefined; // unnamed, or abstract
  if (!p.startsWith('/'))
    throw new NotSupportedError(
      `${who}: a unix socket bound to the relative path ${p}`,
      'CRIU finds the directory of a relative name (name_dir); criu-ts does not yet',
    );
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(`/proc/${ctx.pid}/root${p}`);
  } catch (e) {
    if (!noSuchPath(e)) throw e;
  }
  const same = st !== null && st.ino === d.vfsIno;
  // an accepted socket carries its listener's name but is not bound to it at restore (as CRIU)
  if (d.state === TCP_ESTABLISHED && d.type !== SOCK_DGRAM) return same ? { mode: st!.mode, uid: st!.uid, gid: st!.gid } : undefined;
  if (!st || !same)
    throw new NotSupportedError(
      `${who}: a unix socket bound to ${p}, a path ${st ? 'replaced by another file' : 'deleted'} since`,
      'CRIU restores those through a ghost socket file; criu-ts does not yet',
    );
  return { mode: st.mode, uid: st.uid, gid: st.gid };
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

function dumpUnix(ctx: DumpFdCtx, id: number): FileEntry {
  const ino = ctx.link.ino!;
  const who = where(ctx, ctx.link.raw);
  const d = unixDiag(ino);
  if (!d) throw new NotSupportedError(`${who}: a socket sock_diag does not know`);
  if (![SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET].includes(d.type)) throw new NotSupportedError(`${who}: unix socket type ${d.type}`);
  const name = d.name ?? Buffer.alloc(0);
  const perms = boundFile(ctx, d, name, who);
  const peer = peerOf(d, name, who);
  if (peer && peer !== ino) {
    const p = unixDiag(peer);
    if (p && p.peer !== ino && !p.name?.length) throw new NotSupportedError(`${who}: its peer socket ${peer} has neither it as peer nor a name to connect to`);
  }
  const fd = ctx.takeFd();
  const opts = dumpUnixOpts(fd);
  if (d.state !== TCP_LISTEN)
    for (const p of peekQueue(fd, d.type, who)) {
      const q: SkPacketEntry = { id_for: id, length: p.length };
      ctx.extra.add('SK_QUEUES', SK_QUEUES, q, p);
    }
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
    opts,
    name,
    ...(d.shutdown ? { shutdown: d.shutdown } : {}),
    ...(perms ? { file_perms: perms } : {}),
  };
  ctx.files.seen.add(`unix:${ino}`);
  if (peer && !ctx.files.seen.has(`unix:${peer}`)) checkPeerLater(ctx, usk, fd, who);
  return { type: FdTypes.UNIXSK, id, usk };
}

/** Once every fd of the tree is seen: a peer outside it goes to the plugins (DUMP_UNIX_SK), or is refused. */
function checkPeerLater(ctx: DumpFdCtx, usk: UnixSkEntry, fd: number, who: string): void {
  const keep = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ctx.extra.deferred.set(`unix-peer:${usk.ino}`, () => {
    try {
      if (ctx.files.seen.has(`unix:${usk.peer}`)) return;
      if (pluginCalls().dumpUnixSk(keep, usk.ino)) {
        usk.uflags |= USK_CALLBACK;
        return;
      }
      throw new NotSupportedError(
        `${who}: its peer (socket:[${usk.peer}]) is outside the dumped tree`,
        'external unix sockets (--ext-unix-sk) are not supported yet',
      );
    } finally {
      close(keep);
    }
  });
}

export const unixKind: FileKind<UnixState> = {
  name: 'unix',
  type: FdTypes.UNIXSK,
  field: 'usk',
  priority: 600,
  match: (link) => link.kind === 'socket' && link.ino !== undefined && unixDiag(link.ino) !== undefined,
  dump: dumpUnix,
  state: {
    create: () => ({ pairs: new Map() }),
    close: closeUnixState,
  },
  waitsFor: unixWaitsFor,
  open: openUnix,
  // CRIU's socket_d_name: the caller's socket is used as it is
  inheritKey: (_ctx, e) => (e.usk ? `socket:[${e.usk.ino}]` : undefined),
};
