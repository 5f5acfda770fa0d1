// Established TCP connections (--tcp-established), as CRIU 4.2 dumps and restores them
// (sk-tcp.c over soccr/soccr.c), and --tcp-close.
//
// Dump: the connection is locked (net/lock.ts), then the tool's copy of the socket (the same
// socket as the task's) is put in repair mode and read: TCP_INFO (state, options, window
// scales), SIOCOUTQ / SIOCOUTQNSD / SIOCINQ (queue lengths, the unsent part, the FIN not
// counted), TCP_MAXSEG, TCP_TIMESTAMP, TCP_REPAIR_WINDOW, and per queue its TCP_QUEUE_SEQ and
// its bytes (MSG_PEEK). tcp-stream-<inode in hex>.img gets one tcp_stream_entry followed by the
// receive queue's bytes and then the send queue's. The socket stays in repair mode and locked:
// when the tree is killed it is closed without a FIN or RST. A dump that fails, or one with -R,
// unlocks each connection and turns repair off (its SO_REUSEADDR back) before the tree runs.
//
// Restore: in repair mode (which lets it bind next to its listener) the socket is bound to its
// address, its queue sequences set, connected, given its TCP options (SACK, window scales,
// timestamps, MSS), its receive queue sent into TCP_RECV_QUEUE, the sent part of its send queue
// into TCP_SEND_QUEUE and the unsent part sent with repair off, its window and timestamp set,
// and the FINs of a half-closed connection put back (shutdown for ours, a FIN segment sent as
// the peer for theirs). Repair is turned off right before the tree is let go, after the network
// is unlocked (CRIU's network_unlock, then its restorer's repair off).
//
// --tcp-close: a connection is dumped without its state (no lock, no repair) and restored as a
// closed socket, as CRIU does; the inventory says so, and a restore of such images needs it.
import * as path from 'node:path';
import * as fs from 'node:fs';
import type { DumpFdCtx, RestoreFdCtx, FileHooks, DumpHookArgs, EndHookArgs, RestoredRunArgs } from './kind.js';
import { FileError } from './kind.js';
import { O_NONBLOCK, F_GETFL, F_SETFL } from './fdparams.js';
import type { FileEntry, InetSkEntry, TcpStreamEntry } from '../images/gen/types.js';
import { FdTypes } from '../images/gen/types.js';
import { readOptional, readEntries } from '../images/typed.js';
import { TCP, tcpStateName, inetSockets } from './inetdiag.js';
import { bytesOf } from './inet-entry.js';
import * as NL from '../net/netns-lock.js';
import { treeNetnsPid } from '../net/tree-netns.js';
import { NetLock, defaultLock, lockMethodOf, type LockMethod, type Endpoint, type Conn } from '../net/lock.js';
import * as R from '../sys/tcp-repair.js';
import { close, fcntl, shutdown, setsockopt, getsockoptInt, SysError, E } from '../sys/libc.js';
import { bind, connect, AF_INET6, type SockAddr } from '../sys/net.js';
import { SOL_SOCKET } from '../sys/socket-consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { faultPoint } from '../fault.js';

const SO_REUSEADDR = 2,
  SO_SNDBUFFORCE = 32,
  SO_RCVBUFFORCE = 33;
const F_DUPFD_CLOEXEC = 1030;
const bit = (s: number): number => 1 << s;
/** the states of a connection that soccr dumps (refresh_sk), CLOSE aside */
const REPAIRABLE = [TCP.ESTABLISHED, TCP.SYN_SENT, TCP.FIN_WAIT1, TCP.FIN_WAIT2, TCP.CLOSE_WAIT, TCP.LAST_ACK, TCP.CLOSING];
// where the FINs are, by state (soccr.c)
const SNDQ_FIRST_FIN = bit(TCP.FIN_WAIT1) | bit(TCP.FIN_WAIT2) | bit(TCP.CLOSING);
const SNDQ_SECOND_FIN = bit(TCP.LAST_ACK) | bit(TCP.CLOSE);
const SNDQ_FIN_ACKED = bit(TCP.FIN_WAIT2) | bit(TCP.CLOSE);
const RCVQ_FIRST_FIN = bit(TCP.CLOSE_WAIT) | bit(TCP.LAST_ACK) | bit(TCP.CLOSE);
const RCVQ_SECOND_FIN = bit(TCP.CLOSING);
const RCVQ_FIN_ACKED = bit(TCP.CLOSE);

export const streamImage = (ino: number): string => `tcp-stream-${ino.toString(16)}.img`;
const u32 = (v: number): number => v >>> 0;

/** What the dump was told about TCP connections and the network lock (set at beforeFreeze). */
export interface TcpDumpOpts {
  tcpEstablished: boolean;
  tcpClose: boolean;
  lockMethod: LockMethod;
  runId: string;
}

interface Repaired {
  /** locked with the tree's whole network namespace (net/netns-lock.ts), not by itself */
  inOwnNetns?: boolean;
  fd: number;
  conn: Conn;
  reuseaddr: number;
  ino: number;
}
interface DumpRun {
  opts: TcpDumpOpts;
  lock: NetLock;
  conns: Repaired[];
  listeners: Endpoint[];
  done: boolean;
}
let dumping: DumpRun | null = null;

function dumpRun(o?: Partial<TcpDumpOpts>): DumpRun {
  if (!dumping || dumping.done) {
    const opts: TcpDumpOpts = { tcpEstablished: false, tcpClose: false, lockMethod: defaultLock(), runId: 'unknown', ...o };
    dumping = { opts, lock: new NetLock(opts.lockMethod, opts.runId), conns: [], listeners: [], done: false };
  }
  return dumping;
}

const endpoint = (family: number, addr: Buffer, port: number): Endpoint => ({
  family,
  addr: Buffer.from(addr.subarray(0, family === AF_INET6 ? 16 : 4)),
  port,
});

// ---------------------------------------------------------------- dump

/** The sockets of the tree (every task found from the root through /proc children). */
function treeSocketInodes(root: number): Set<number> {
  const out = new Set<number>();
  const todo = [root],
    seen = new Set<number>();
  while (todo.length) {
    const pid = todo.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    try {
      for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(Number(m[1]));
      }
      for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
        const kids = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
        if (kids) todo.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/** Before the freeze: the run's options, and SYNs held for the tree's listeners. */
function beforeFreeze(a: DumpHookArgs): void {
  dumping = null;
  const run = dumpRun(a.net);
  if (!a.net) return;
  // CRIU's network_lock() makes the nftables table for every dump; ours is made with the first
  // connection or listener it holds (lockConnection, holdSyns), so a dump that locks nothing
  // leaves no empty table behind (which a dump never restored would keep forever)
  if (!a.net.tcpEstablished || a.net.lockMethod === 'skip') return;
  const mine = treeSocketInodes(a.pid);
  for (const d of inetSockets().values()) {
    if (d.state !== TCP.LISTEN || !mine.has(d.ino)) continue;
    try {
      run.lock.holdSyns(endpoint(d.family, d.src, d.srcPort));
    } catch (e) {
      // beyond CRIU, so never a reason to fail: the listener's clients are then served by the kernel meanwhile
      log.warn(`cannot hold new connections to a listener of the tree: ${(e as Error).message}`);
    }
  }
}

/** Whether this dump's network lock held anything (a connection or a listener's SYNs). */
export const dumpLockUsed = (): boolean => dumping?.lock.used ?? false;

/** A listener the dump wrote (its SYNs stay held until the restore ends). */
export function noteListener(family: number, addr: Buffer, port: number): void {
  dumping?.listeners.push(endpoint(family, addr, port));
}

/** Unlock every connection, turn repair off (SO_REUSEADDR back), drop the table and the SYN holds: the tree runs on as before. */
function unlockDump(run: DumpRun): void {
  if (run.done) return;
  run.done = true;
  for (const c of run.conns) {
    try {
      if (!c.inOwnNetns) run.lock.unlockConnection(c.conn);
      R.repairOff(c.fd);
      setsockopt(c.fd, SOL_SOCKET, SO_REUSEADDR, Buffer.from(Int32Array.of(c.reuseaddr).buffer));
      log.info(`Turned repair off for socket ${c.ino.toString(16)}`);
    } catch (e) {
      log.error(`socket ${c.ino.toString(16)}: cannot be let go as it was: ${(e as Error).message}`);
    } finally {
      close(c.fd);
    }
  }
  run.conns = [];
  try {
    run.lock.unlockAll();
  } catch (e) {
    log.error(`network unlock: ${(e as Error).message}`);
  }
}

/** The dump is over: failed (unlock all) or done (the tree is gone or left stopped: the connections stay locked, in repair). */
function afterDump(a: EndHookArgs): void {
  const run = dumping;
  if (!run) return;
  if (!a.ok) return unlockDump(run);
  if (run.done) return;
  for (const c of run.conns) close(c.fd);
  run.conns = [];
  // listeners held before the freeze but not dumped (closed meanwhile) are let go
  for (const l of run.lock.held()) if (!run.listeners.some((x) => x.port === l.port && x.addr.equals(l.addr))) run.lock.releaseSyns(l);
  run.done = true;
}

/** The tree is about to run on (-R, or a failed dump): everything as it was first. */
function beforeResume(): void {
  if (dumping) unlockDump(dumping);
}

export interface TcpDesc {
  family: number;
  src: Buffer;
  srcPort: number;
  dst: Buffer;
  dstPort: number;
  state: number;
}

/**
 * A connected TCP socket of the dump (fd: the tool's copy): with --tcp-close nothing more, else
 * locked, put in repair mode and written to its tcp-stream image. Gives the state to record.
 */
export function dumpTcpConn(ctx: DumpFdCtx, fd: number, d: TcpDesc, what: string, who: string): number {
  const ino = ctx.link.ino!;
  const obj = { object: `socket:[${ino}]` };
  const run = dumpRun();
  if (run.opts.tcpClose || ctx.inet?.tcpClose) return d.state;
  if (!REPAIRABLE.includes(d.state as (typeof REPAIRABLE)[number]))
    throw new NotSupportedError(`--tcp-established: ${who}: ${what} (TCP state ${tcpStateName(d.state)})`, {
      ...obj,
      hint: 'criu-ts repairs ESTABLISHED and half-closed connections only',
    });
  const conn: Conn = { src: endpoint(d.family, d.src, d.srcPort), dst: endpoint(d.family, d.dst, d.dstPort) };
  log.info(`Turning repair on for socket ${ino.toString(16)}`);
  const rfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  const rep: Repaired = { fd: rfd, conn, reuseaddr: getsockoptInt(rfd, SOL_SOCKET, SO_REUSEADDR), ino };
  try {
    // a tree in a network namespace of its own is locked there as a whole (CRIU: no per-connection lock with CLONE_NEWNET)
    if (treeNetnsPid() < 0) run.lock.lockConnection(conn);
    else rep.inOwnNetns = true;
  } catch (e) {
    close(rfd);
    throw new FileError(who, `cannot lock ${what}: ${(e as Error).message}`, {
      ...obj,
      hint: '--network-lock skip dumps without a lock (the peer may reset the connection)',
    });
  }
  try {
    R.repairOn(rfd);
  } catch (e) {
    if (!rep.inOwnNetns) run.lock.unlockConnection(conn);
    close(rfd);
    throw new FileError(who, `cannot put ${what} in repair mode: ${(e as Error).message}`, { ...obj, hint: 'TCP_REPAIR needs CAP_NET_ADMIN' });
  }
  run.conns.push(rep);
  faultPoint(8, 'tcp-repair');
  const { entry, data, state } = saveConn(rfd, who, what, obj.object);
  ctx.extra.add('TCP_STREAM', streamImage(ino), entry, data);
  log.info(`${who}: ${what}: in ${entry.inq_len} bytes, out ${entry.outq_len} (${entry.unsq_len} not sent)`);
  return state; // CRIU's sk->state = data.state: as the socket says in repair mode
}

/** libsoccr_save: the connection's numbers and its queues (the socket is in repair mode). */
function saveConn(fd: number, who: string, what: string, object: string): { entry: TcpStreamEntry; data: Buffer; state: number } {
  const ti = R.tcpInfo(fd);
  if (!REPAIRABLE.includes(ti.state as (typeof REPAIRABLE)[number]))
    throw new NotSupportedError(`--tcp-established: ${who}: ${what} is now in TCP state ${tcpStateName(ti.state)}`, { object });
  let outqLen = R.outq(fd),
    unsqLen = R.outqNotSent(fd);
  // the FIN in the send queue is no data
  if (bit(ti.state) & (SNDQ_FIRST_FIN | SNDQ_SECOND_FIN)) {
    if (outqLen) outqLen--;
    unsqLen = unsqLen ? unsqLen - 1 : 0;
  }
  const inqLen = R.inq(fd);
  const e: TcpStreamEntry = {
    inq_len: inqLen,
    inq_seq: 0,
    outq_len: outqLen,
    outq_seq: 0,
    opt_mask: ti.options,
    snd_wscale: 0,
    mss_clamp: R.maxSeg(fd),
    unsq_len: unsqLen,
  };
  if (ti.options & R.TCPI_OPT_WSCALE) {
    e.snd_wscale = ti.sndWscale;
    e.rcv_wscale = ti.rcvWscale;
  }
  if (ti.options & R.TCPI_OPT_TIMESTAMPS) e.timestamp = R.getTimestamp(fd);
  const w = R.getWindow(fd);
  if (w) Object.assign(e, { snd_wl1: w.sndWl1, snd_wnd: w.sndWnd, max_window: w.maxWindow, rcv_wnd: w.rcvWnd, rcv_wup: w.rcvWup });
  const queue = (q: number, len: number): { seq: number; bytes: Buffer } => {
    R.setRepairQueue(fd, q);
    const seq = R.getQueueSeq(fd);
    try {
      return { seq, bytes: R.peekQueue(fd, len) };
    } catch (err) {
      throw new FileError(who, `${what}: its ${q === R.TCP_RECV_QUEUE ? 'receive' : 'send'} queue could not be read: ${(err as Error).message}`, { object });
    }
  };
  const rq = queue(R.TCP_RECV_QUEUE, inqLen);
  const sq = queue(R.TCP_SEND_QUEUE, outqLen);
  R.setRepairQueue(fd, R.TCP_NO_QUEUE);
  e.inq_seq = rq.seq;
  e.outq_seq = sq.seq;
  return { entry: e, data: Buffer.concat([rq.bytes, sq.bytes]), state: ti.state };
}

// ---------------------------------------------------------------- restore

interface Restored {
  fd: number;
  ino: number;
  reuseaddr: boolean;
}
interface RestoreRun {
  socks: Restored[];
  unlocked: boolean;
}
let restoring: RestoreRun | null = null;

/** The images' TCP connections and listeners, with the lock the dump used; unlocked once. */
function unlockRestore(dir: string, restored?: () => Iterable<FileEntry>): void {
  if (restoring?.unlocked) return;
  if (restoring) restoring.unlocked = true;
  const inv = readOptional(dir, 'inventory.img', 'INVENTORY')?.[0]?.msg;
  if (!inv) return;
  const method = lockMethodOf(inv.network_lock_method);
  if (method === 'skip') return;
  const lock = new NetLock(method, inv.dump_criu_run_id ?? 'unknown');
  const image = path.join(dir, 'files.img');
  const files: Iterable<FileEntry> = restored ? restored() : fs.existsSync(image) ? readEntries(image, 'FILES').map((e) => e.msg) : [];
  let held = false; // a listener: its SYNs may be held (only then is iptables-save asked)
  for (const msg of files) {
    const ie = msg.type === FdTypes.INETSK ? msg.isk : undefined;
    if (!ie || ie.proto !== 6) continue;
    const ep = (w: number[] | undefined, port: number): Endpoint => endpoint(ie.family, bytesOf(w, ie.family), port);
    if (ie.state === TCP.LISTEN) held = true;
    else if (ie.dst_port && !inv.tcp_close && treeNetnsPid() < 0)
      lock.unlockConnection({ src: ep(ie.src_addr, ie.src_port), dst: ep(ie.dst_addr, ie.dst_port) });
  }
  if (held) lock.releaseHeldSyns();
  // a tree in its own network namespace: its lock was there (net/netns-lock.ts), none in the tool's
  if (method === 'nftables' && treeNetnsPid() < 0) lock.unlockAll(true);
}

/** Right before the restored tree runs: the network unlocked, then every restored connection out of repair mode. */
function beforeRestoredRun(a: RestoredRunArgs): void {
  unlockRestore(a.imagesDir, a.files);
  for (const s of restoring?.socks ?? []) {
    R.repairOff(s.fd);
    setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, Buffer.from(Int32Array.of(s.reuseaddr ? 1 : 0).buffer));
    log.info(`Turned repair off for socket ${s.ino.toString(16)}`);
  }
}

function afterRestore(a: EndHookArgs): void {
  try {
    unlockRestore(a.imagesDir, a.files);
  } finally {
    for (const s of restoring?.socks ?? []) close(s.fd);
    restoring = null;
  }
}

/** check_img_inventory's rule, and open_inet_sk's: what the restore must be told for connections in the images */
function checkOptions(ctx: RestoreFdCtx, ie: InetSkEntry, who: string): boolean {
  const inv = ctx.image('inventory.img', 'INVENTORY')?.[0]?.msg;
  const o = ctx.tcp ?? { established: false, close: false };
  if (inv?.tcp_close && !o.close)
    throw new CriuError('Need to set the --tcp-close options.', 'the images were dumped with --tcp-close: restore with --tcp-close');
  if (!o.established && !o.close)
    throw new CriuError(`${who}: a connected TCP socket in the image (${tcpStateName(ie.state)})`, {
      object: `socket:[${ie.ino}]`,
      hint: 'restore it with --tcp-established (or --tcp-close)',
    });
  return o.close;
}

/** restore_one_tcp: `fd` is the new socket (SO_REUSEADDR/REUSEPORT on, v6only set). */
export function restoreTcpConn(ctx: RestoreFdCtx, fd: number, ie: InetSkEntry, who: string): void {
  if (checkOptions(ctx, ie, who)) {
    try {
      shutdown(fd, 2);
    } catch {
      /* not connected: ENOTCONN, as CRIU lets it be */
    }
    return;
  }
  const object = `socket:[${ie.ino}]`;
  if (!REPAIRABLE.includes(ie.state as (typeof REPAIRABLE)[number]))
    throw new NotSupportedError(`--tcp-established: ${who}: a TCP connection in state ${tcpStateName(ie.state)} in the image`, { object });
  const name = streamImage(ie.ino);
  const ent = ctx.image(name, 'TCP_STREAM')?.[0];
  if (!ent) throw new FileError(who, `${name} is missing for socket ${ie.ino}`, { object: name, hint: 'the images are incomplete' });
  const t = ent.msg;
  if (t.unsq_len === undefined) throw new FileError(who, `${name}: no unsq_len in the image`, { object: name });
  if (t.opt_mask & R.TCPI_OPT_WSCALE && t.rcv_wscale === undefined) throw new FileError(who, `${name}: no rcv wscale in the image`, { object: name });
  if (t.opt_mask & R.TCPI_OPT_TIMESTAMPS && t.timestamp === undefined) throw new FileError(who, `${name}: no timestamp in the image`, { object: name });
  const data = ent.blob ?? Buffer.alloc(0);
  if (data.length !== t.inq_len + t.outq_len)
    throw new FileError(who, `${name}: ${data.length} queue bytes, ${t.inq_len + t.outq_len} expected`, { object: name });
  R.repairOn(fd);
  const dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (!restoring) restoring = { socks: [], unlocked: false };
  restoring.socks.push({ fd: dup, ino: ie.ino, reuseaddr: ie.opts.reuseaddr ?? false });
  try {
    restoreConn(fd, ie, t, data);
  } catch (e) {
    throw new FileError(who, `cannot restore TCP connection ${ie.ino}: ${(e as Error).message}`, { object });
  }
  log.info(`${who}: restored TCP connection ${ie.ino.toString(16)} (${tcpStateName(ie.state)}, in ${t.inq_len} out ${t.outq_len})`);
}

/** libsoccr_set_sk_data_noq + libsoccr_restore */
function restoreConn(fd: number, ie: InetSkEntry, t: TcpStreamEntry, data: Buffer): void {
  const fam = ie.family;
  const self: SockAddr = { family: fam, port: ie.src_port, addr: bytesOf(ie.src_addr, fam) };
  const peer: SockAddr = { family: fam, port: ie.dst_port, addr: bytesOf(ie.dst_addr, fam) };
  const m = bit(ie.state);
  // the buffers as dumped first (the kernel doubles what it is given), so that the queues fit
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, Buffer.from(Int32Array.of(Math.floor(ie.opts.so_sndbuf / 2)).buffer));
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, Buffer.from(Int32Array.of(Math.floor(ie.opts.so_rcvbuf / 2)).buffer));
  bind(fd, self);
  let inqSeq = t.inq_seq,
    outqSeq = t.outq_seq;
  if (m & (RCVQ_FIRST_FIN | RCVQ_SECOND_FIN)) inqSeq = u32(inqSeq - 1);
  if (m & (SNDQ_FIRST_FIN | SNDQ_SECOND_FIN)) outqSeq = u32(outqSeq - 1);
  R.setRepairQueue(fd, R.TCP_RECV_QUEUE);
  R.setQueueSeq(fd, u32(inqSeq - t.inq_len));
  R.setRepairQueue(fd, R.TCP_SEND_QUEUE);
  const synSent = ie.state === TCP.SYN_SENT;
  // a SYN_SENT socket's send sequence is its SYN's; it connects for real (the lock holds the SYN)
  R.setQueueSeq(fd, u32(outqSeq - t.outq_len - (synSent ? 1 : 0)));
  if (synSent) connectForReal(fd, peer);
  else {
    connect(fd, peer);
    R.setRepairOptions(fd, { optMask: t.opt_mask, sndWscale: t.snd_wscale, rcvWscale: t.rcv_wscale ?? 0, mssClamp: t.mss_clamp });
  }
  if (t.opt_mask & R.TCPI_OPT_TIMESTAMPS) R.setTimestamp(fd, t.timestamp!);
  // the receive queue, then the send queue: the sent part in repair mode, the unsent part sent for real (the lock holds it)
  if (t.inq_len) {
    R.setRepairQueue(fd, R.TCP_RECV_QUEUE);
    R.sendAll(fd, data.subarray(0, t.inq_len));
  }
  const out = data.subarray(t.inq_len);
  const sent = t.outq_len - t.unsq_len!;
  if (sent) {
    R.setRepairQueue(fd, R.TCP_SEND_QUEUE);
    R.sendAll(fd, out.subarray(0, sent));
  }
  if (t.unsq_len) {
    // never blocks: the send buffer was given its dumped size, which held this queue
    R.repairOff(fd);
    R.sendAll(fd, out.subarray(sent), R.MSG_DONTWAIT);
    R.repairOn(fd);
  }
  if (t.snd_wnd !== undefined) {
    const w = { sndWl1: t.snd_wl1 ?? 0, sndWnd: t.snd_wnd, maxWindow: t.max_window ?? 0, rcvWnd: t.rcv_wnd ?? 0, rcvWup: t.rcv_wup ?? 0 };
    if (m & (RCVQ_FIRST_FIN | RCVQ_SECOND_FIN)) {
      w.rcvWup = u32(w.rcvWup - 1);
      w.rcvWnd++;
    }
    R.setWindow(fd, w);
  }
  // the FINs of a half-closed connection
  const seg = (flags: number, inq: number, outqSeqNow: number): void =>
    R.sendAsPeer(fam, self, peer, { seq: inq, ack: u32(outqSeqNow - t.outq_len), flags, window: t.rcv_wnd ?? 0xffff });
  if (m & SNDQ_FIRST_FIN) finInSendQueue(fd, (m & SNDQ_FIN_ACKED) !== 0);
  if (m & (RCVQ_FIRST_FIN | RCVQ_SECOND_FIN)) seg(R.TH_ACK | R.TH_FIN, inqSeq, outqSeq);
  if (m & SNDQ_SECOND_FIN) finInSendQueue(fd, (m & SNDQ_FIN_ACKED) !== 0);
  if (m & RCVQ_FIN_ACKED) inqSeq = u32(inqSeq + 1);
  if (m & SNDQ_FIN_ACKED) {
    outqSeq = u32(outqSeq + 1);
    seg(R.TH_ACK, inqSeq, outqSeq);
  }
}

/** repair off, a non-blocking connect (EINPROGRESS: the SYN is sent), repair on */
function connectForReal(fd: number, peer: SockAddr): void {
  const flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  R.repairOff(fd);
  try {
    connect(fd, peer);
  } catch (e) {
    if (!(e instanceof SysError && e.errno === E.EINPROGRESS)) throw e;
  }
  R.repairOn(fd);
  fcntl(fd, F_SETFL, flags);
}

/** restore_fin_in_snd_queue: our FIN, as sent (acked) or queued */
function finInSendQueue(fd: number, acked: boolean): void {
  if (acked) R.setRepairQueue(fd, R.TCP_SEND_QUEUE);
  shutdown(fd, 1);
  if (acked) R.setRepairQueue(fd, R.TCP_NO_QUEUE);
}

// a tree in a network namespace of its own is locked there as a whole (net/netns-lock.ts), at the moments of the host's lock
export const tcpHooks: FileHooks = {
  beforeFreeze: (a) => {
    beforeFreeze(a);
    if (a.net && NL.lockDumpNetns(a.pid, a.net.lockMethod, a.net.runId)) dumpRun().lock.used = a.net.lockMethod !== 'skip';
  },
  afterDump: (a) => {
    if (!a.ok) NL.unlockDumpNetns();
    else NL.forgetDumpNetns();
    afterDump(a);
  },
  beforeResume: () => {
    NL.unlockDumpNetns();
    beforeResume();
  },
  beforeRestoredRun: (a) => {
    NL.unlockRestoredNetns(a.imagesDir);
    beforeRestoredRun(a);
  },
  afterRestore,
};
