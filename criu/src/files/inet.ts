// TCP and UDP sockets, IPv4 and IPv6, that are not established connections: unbound, bound,
// listening (TCP) or connected (UDP), with their options, as CRIU 4.2 dumps them (sk-inet.c):
// an INETSK file_entry whose inet_sk_entry holds family, type, protocol, state, addresses,
// backlog, flags, fown and the socket, IP and TCP options. The state and addresses of a hashed
// socket come from inet_diag (inetdiag.ts), those of an unhashed one from the socket itself;
// the options are read on the tool's pidfd_getfd copy.
//
// As CRIU: a listening socket with connections not yet accepted is refused unless
// --skip-in-flight (then they are lost); a UDP socket's receive queue is dropped with a
// warning; a corked UDP socket is refused; a connected TCP socket needs --tcp-established
// (TCP_REPAIR, tcp.ts) or --tcp-close. On restore the socket is made in the tool with SO_REUSEADDR and
// SO_REUSEPORT on, bound, made to listen with its backlog or connected (UDP), given its options,
// and sent to its tasks; SO_REUSEADDR and SO_REUSEPORT get their own values back once every
// socket of the images on that port is open (CRIU's port users).
//
// Raw and ping sockets go to inet-raw.ts; netlink and packet sockets have kinds of their own
// (netlink.ts, packet.ts); any other family reaching this kind is refused by name.
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { FileError, partOf } from './kind.js';
import { FdTypes, type FileEntry, type InetSkEntry } from '../images/gen/types.js';
import { inetSockets, TCP, tcpStateName, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE, type InetDiag } from './inetdiag.js';
import { where, restoreFileParams } from './fdparams.js';
import { SOL_IP, SOL_IPV6, SOL_UDP, SO, IPV6_V6ONLY, UDP_CORK, geti, seti } from './inet-opts.js';
import { restoreSkOpts, dumpIpOpts, restoreIpOpts, dumpTcpOpts, restoreTcpOpts } from './inet-opts.js';
import { socket, close, pidfdOpen, pidfdGetfd, getsockopt, shutdown } from '../sys/libc.js';
import { AF_INET, AF_INET6, bind, listen, connect, getsockname, getpeername, pollNow, ifNameToIndex, formatAddr, type SockAddr } from '../sys/net.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { dumpTcpConn, restoreTcpConn, noteListener, tcpHooks } from './tcp.js';
import { log } from '../log.js';
import { SOCK_CLOEXEC, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SOL_SOCKET } from '../sys/socket-consts.js';
import { isRawOrPing, isRawOrPingEntry, dumpInetRaw, openInetRaw } from './inet-raw.js';
import { checkSockNetNs } from './sk-family.js';
import { inetSkEntry, bytesOf } from './inet-entry.js';

const IPPROTO_MPTCP = 262;
const TCP_INFO = 11,
  IP_FREEBIND = 15;
const POLLHUP = 0x10,
  POLLRDHUP = 0x2000;
const FAMILY: Record<number, string> = { 1: 'unix', 2: 'IPv4', 10: 'IPv6', 16: 'netlink', 17: 'packet', 38: 'alg', 40: 'vsock', 44: 'xdp' };
const familyName = (f: number): string => FAMILY[f] ?? `family ${f}`;
const protoName = (p: number, type: number): string =>
  p === IPPROTO_TCP
    ? 'TCP'
    : p === IPPROTO_UDP
      ? 'UDP'
      : p === IPPROTO_UDPLITE
        ? 'UDP-Lite'
        : type === SOCK_STREAM
          ? 'TCP'
          : type === SOCK_DGRAM
            ? 'UDP'
            : `protocol ${p}`;

/** What the dump was told about TCP (the command line) and the id of the tool's network namespace. */
export interface InetDumpOpts {
  tcpEstablished: boolean;
  skipInFlight: boolean;
  netNsId: number;
  tcpClose?: boolean;
}

let diag: { at: number; map: Map<number, InetDiag> } | null = null;
function inetDiag(ino: number): InetDiag | undefined {
  if (!diag || Date.now() - diag.at > 200) diag = { at: Date.now(), map: inetSockets() };
  return diag.map.get(ino);
}

/** The family of a task's socket, read on a copy of it (the link does not tell). */
function socketFamily(pid: number, fd: number): number | undefined {
  let pidfd = -1,
    mine = -1;
  try {
    pidfd = pidfdOpen(pid);
    mine = pidfdGetfd(pidfd, fd);
    return geti(mine, SOL_SOCKET, SO.DOMAIN);
  } catch {
    return undefined;
  } finally {
    if (mine >= 0) close(mine);
    if (pidfd >= 0) close(pidfd);
  }
}

/** A socket as CRIU's inet_sk_desc: from inet_diag, or read from the socket when it is not hashed. */
interface Desc {
  state: number;
  src: Buffer;
  srcPort: number;
  dst: Buffer;
  dstPort: number;
  rqueue: number;
  wqueue: number;
  shutdown: number;
  fromDiag: boolean;
}

/** gen_uncon_sk: an unhashed socket (unbound, or a TCP socket only bound) */
function unhashed(fd: number, proto: number, type: number, who: string): Desc {
  const d: Desc = {
    state: TCP.CLOSE,
    src: Buffer.alloc(16),
    srcPort: 0,
    dst: Buffer.alloc(16),
    dstPort: 0,
    rqueue: 0,
    wqueue: 0,
    shutdown: 0,
    fromDiag: false,
  };
  const peer = getpeername(fd),
    me = getsockname(fd);
  if (peer) [d.dst, d.dstPort] = [Buffer.concat([peer.addr, Buffer.alloc(16 - peer.addr.length)]), peer.port];
  if (me) [d.src, d.srcPort] = [Buffer.concat([me.addr, Buffer.alloc(16 - me.addr.length)]), me.port];
  if (type !== SOCK_RAW && proto === IPPROTO_TCP) {
    const info = Buffer.alloc(8);
    getsockopt(fd, 6 /* SOL_TCP */, TCP_INFO, info);
    if (info[0] !== TCP.CLOSE)
      throw new CriuError(
        `${who}: TCP state ${tcpStateName(info[0])} obtained, but inet_diag does not show the socket`,
        'the socket changed while it was dumped',
      );
    d.wqueue = info[4]; // tcpi_backoff, which CRIU keeps as the backlog of such a socket
    if (pollNow(fd, POLLRDHUP | POLLHUP) & POLLHUP && pollNow(fd, POLLRDHUP) & POLLRDHUP) d.shutdown |= 1;
  }
  return d;
}

function describe(family: number, proto: number, type: number, d: Desc): string {
  const a = (b: Buffer, port: number): string => formatAddr({ family, port, addr: b.subarray(0, family === AF_INET6 ? 16 : 4) });
  const peer = d.dstPort ? ` -> ${a(d.dst, d.dstPort)}` : '';
  return `${familyName(family)} ${protoName(proto, type)} ${a(d.src, d.srcPort)}${peer}, ${tcpStateName(d.state)}`;
}

/** can_dump_inet_sk: what CRIU refuses, and what it lets go with a warning. */
function canDump(ctx: DumpFdCtx, type: number, d: Desc, what: string, who: string): void {
  const o = ctx.inet;
  if (type === SOCK_DGRAM) {
    if (d.wqueue) log.warn(`${who}: the write queue of ${what} is not empty (${d.wqueue} bytes)`);
    if (d.rqueue) log.warn(`${who}: the read queue of ${what} (${d.rqueue} bytes) is dropped, as CRIU does`);
    return;
  }
  switch (d.state) {
    case TCP.LISTEN:
      if (d.rqueue === 0) return;
      if (o?.skipInFlight) {
        log.info(`${who}: skipping ${d.rqueue} in-flight connection(s) of ${what} (--skip-in-flight)`);
        return;
      }
      throw new CriuError(`${who}: ${what}, with ${d.rqueue} connection(s) not yet accepted (in-flight)`, {
        object: `socket:[${ctx.link.ino}]`,
        hint: 'in-flight connections can be ignored with --skip-in-flight (they are lost)',
      });
    case TCP.CLOSE:
      return;
    case TCP.ESTABLISHED:
    case TCP.SYN_SENT:
    case TCP.FIN_WAIT1:
    case TCP.FIN_WAIT2:
    case TCP.CLOSE_WAIT:
    case TCP.LAST_ACK:
    case TCP.CLOSING:
      if (o?.tcpEstablished || o?.tcpClose) return;
      throw new CriuError(`${who}: a connected TCP socket (${what})`, {
        object: `socket:[${ctx.link.ino}]`,
        hint: 'consider using --tcp-established (or --tcp-close, which restores it closed)',
      });
    default:
      throw new CriuError(`${who}: ${what}: unknown state ${d.state}`, { object: `socket:[${ctx.link.ino}]` });
  }
}

/** The socket's family, type and protocol, refused by name when this kind does not take them. */
function kindOf(fd: number, who: string): { family: number; type: number; proto: number } {
  const family = geti(fd, SOL_SOCKET, SO.DOMAIN);
  if (family !== AF_INET && family !== AF_INET6) throw new NotSupportedError(`${who}: a ${familyName(family)} socket`);
  checkSockNetNs(fd, who);
  const type = geti(fd, SOL_SOCKET, SO.TYPE),
    proto = geti(fd, SOL_SOCKET, SO.PROTOCOL);
  if (proto === IPPROTO_MPTCP)
    throw new NotSupportedError(
      `${who}: an MPTCP socket (protocol 262)`,
      'CRIU does not dump MPTCP either; for Go programs, GODEBUG=multipathtcp=0 disables it',
    );
  if (![IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE].includes(proto) || (type !== SOCK_STREAM && type !== SOCK_DGRAM))
    throw new NotSupportedError(`${who}: an ${familyName(family)} socket of type ${type}, protocol ${proto}`);
  return { family, type, proto };
}

function dumpInet(ctx: DumpFdCtx, id: number): FileEntry {
  const who = where(ctx, ctx.link.raw);
  const fd = ctx.takeFd();
  if (isRawOrPing(fd)) return dumpInetRaw(ctx, id, fd, who);
  const { family, type, proto } = kindOf(fd, who);
  const found = inetDiag(ctx.link.ino!);
  const d: Desc = found && found.family === family && found.proto === proto ? { ...found, fromDiag: true } : unhashed(fd, proto, type, who);
  if ((proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE) && geti(fd, SOL_UDP, UDP_CORK))
    throw new NotSupportedError(`${who}: a corked ${protoName(proto, type)} socket (UDP_CORK)`, {
      object: `socket:[${ctx.link.ino}]`,
      hint: 'CRIU refuses it too',
    });
  const what = describe(family, proto, type, d);
  canDump(ctx, type, d, what, who);
  if (proto === IPPROTO_TCP && d.state === TCP.LISTEN) noteListener(family, d.src, d.srcPort);
  // a connection: locked and repaired (tcp.ts) before its options are read; the state is the repaired socket's
  if (proto === IPPROTO_TCP && d.dstPort && d.state !== TCP.CLOSE) d.state = dumpTcpConn(ctx, fd, { family, ...d }, what, who);
  const ie = inetSkEntry(
    ctx,
    fd,
    id,
    { family, type, proto },
    d,
    { ip_opts: dumpIpOpts(fd, family), tcp_opts: proto === IPPROTO_TCP ? dumpTcpOpts(fd) : {} },
    what,
    who,
  );
  if (d.shutdown) ie.shutdown = d.shutdown;
  log.debug(`${who}: ${what}`);
  return { type: FdTypes.INETSK, id, isk: ie };
}

// ---------------------------------------------------------------- restore

interface Port {
  users: number;
  socks: { fd: number; e: InetSkEntry }[];
}
/** CRIU's inet_ports: the sockets of the images on each (type, port), and those opened so far */
export interface InetState {
  ports: Map<string, Port> | null;
}

function portsOf(ctx: RestoreFdCtx): Map<string, Port> {
  const m = new Map<string, Port>();
  for (const { msg } of ctx.image('files.img', 'FILES') ?? []) {
    if (msg.type !== FdTypes.INETSK || !msg.isk) continue;
    const k = `${msg.isk.type}:${msg.isk.src_port}`;
    const p = m.get(k) ?? { users: 0, socks: [] };
    p.users++;
    m.set(k, p);
  }
  return m;
}

function checkEntry(ie: InetSkEntry, who: string): void {
  const obj = { object: `socket:[${ie.ino}]` };
  if (ie.family !== AF_INET && ie.family !== AF_INET6) throw new NotSupportedError(`${who}: an inet socket of family ${ie.family}`, obj);
  if (ie.type !== SOCK_STREAM && ie.type !== SOCK_DGRAM) throw new NotSupportedError(`${who}: an inet socket of type ${ie.type}`, obj);
  if (![IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE].includes(ie.proto)) throw new NotSupportedError(`${who}: an inet socket of protocol ${ie.proto}`, obj);
  const n = ie.family === AF_INET6 ? 4 : 1;
  if ((ie.src_addr?.length ?? 0) < n || (ie.dst_addr?.length ?? 0) < n || (ie.family === AF_INET6 && (ie.src_addr!.length !== 4 || ie.dst_addr!.length !== 4)))
    throw new FileError(who, `socket ${ie.ino}: address length does not fit family ${ie.family}`, { ...obj, hint: 'the image is damaged' });
  if (ie.state === TCP.LISTEN && ie.proto !== IPPROTO_TCP)
    throw new FileError(who, `socket ${ie.ino}: protocol ${ie.proto} in the listen state`, { ...obj, hint: 'the image is damaged' });
}

/** inet_bind: the saved address, the interface of a link-local one, IP_FREEBIND for IPv6 while binding. */
function bindSaved(fd: number, ie: InetSkEntry, who: string): void {
  let scopeId = 0;
  if (ie.ifname) {
    scopeId = ifNameToIndex(ie.ifname);
    if (!scopeId) throw new CriuError(`${who}: there is no interface ${ie.ifname} to bind socket ${ie.ino} to`, { object: `socket:[${ie.ino}]` });
  }
  const a: SockAddr = { family: ie.family, port: ie.src_port, addr: bytesOf(ie.src_addr, ie.family), scopeId };
  // an IPv6 address may still be tentative: bind with IP_FREEBIND, then put the saved value back
  let resetFreebind = false;
  if (ie.family === AF_INET6) {
    seti(fd, SOL_IP, IP_FREEBIND, 1);
    if (ie.ip_opts?.freebind) ie.ip_opts = { ...ie.ip_opts, freebind: undefined };
    else resetFreebind = true;
  }
  try {
    bind(fd, a);
  } catch (e) {
    throw new CriuError(`${who}: cannot bind socket ${ie.ino} to ${formatAddr(a)}: ${(e as Error).message}`, {
      object: `socket:[${ie.ino}]`,
      hint: 'another process holds the address now; stop it, or wait until the dumped process is gone',
    });
  }
  if (resetFreebind) seti(fd, SOL_IP, IP_FREEBIND, 0);
}

function openInet(ctx: RestoreFdCtx, e: FileEntry, s: InetState, who: string): number {
  const ie: InetSkEntry = { ...partOf(e, 'isk', who) };
  if (!s.ports) s.ports = portsOf(ctx);
  if (isRawOrPingEntry(ie)) return openInetRaw(ie, who, (fd) => portOpened(s, fd, ie));
  checkEntry(ie, who);
  const fd = socket(ie.family, ie.type | SOCK_CLOEXEC, ie.proto);
  try {
    if (ie.v6only) seti(fd, SOL_IPV6, IPV6_V6ONLY, 1);
    // on until every socket of the images on this port is open (post_open_inet_sk)
    seti(fd, SOL_SOCKET, SO.REUSEADDR, 1);
    seti(fd, SOL_SOCKET, SO.REUSEPORT, 1);
    const tcpConn = ie.proto === IPPROTO_TCP && ie.dst_port !== 0 && ie.state !== TCP.CLOSE && ie.state !== TCP.LISTEN;
    if (tcpConn) restoreTcpConn(ctx, fd, ie, who);
    else {
      if (ie.src_port) bindSaved(fd, ie, who);
      if (ie.state === TCP.LISTEN) listen(fd, ie.backlog);
      if (ie.dst_port) connect(fd, { family: ie.family, port: ie.dst_port, addr: bytesOf(ie.dst_addr, ie.family) });
    }
    restoreFileParams(fd, ie.flags, ie.fown);
    if (ie.ip_opts) restoreIpOpts(fd, ie.family, ie.ip_opts);
    restoreSkOpts(fd, ie.opts);
    if (ie.proto === IPPROTO_TCP && ie.tcp_opts) restoreTcpOpts(fd, ie.tcp_opts);
    if (ie.shutdown && !tcpConn) shutdownSaved(fd, ie, who);
    portOpened(s, fd, ie);
    return fd; // sent to the tasks; the restore's FileCtx closes the tool's copy at the end
  } catch (err) {
    close(fd);
    throw err;
  }
}

function shutdownSaved(fd: number, ie: InetSkEntry, who: string): void {
  const how = ie.shutdown === 1 ? 0 : ie.shutdown === 2 ? 1 : 2;
  try {
    shutdown(fd, how);
  } catch (err) {
    // a socket that is not connected cannot be shut down (ENOTCONN): CRIU lets that go
    if (ie.state !== TCP.CLOSE) throw new CriuError(`${who}: cannot shut socket ${ie.ino} down: ${(err as Error).message}`, { object: `socket:[${ie.ino}]` });
  }
}

/** The last socket on a port is open: each gets its own SO_REUSEADDR/SO_REUSEPORT back. */
function portOpened(s: InetState, fd: number, ie: InetSkEntry): void {
  const p = s.ports!.get(`${ie.type}:${ie.src_port}`);
  if (!p) return;
  p.socks.push({ fd, e: ie });
  if (--p.users > 0) return;
  for (const x of p.socks) {
    if (x.e.opts.reuseaddr && x.e.opts.so_reuseport) continue;
    if (!x.e.opts.reuseaddr) seti(x.fd, SOL_SOCKET, SO.REUSEADDR, 0);
    if (!x.e.opts.so_reuseport) seti(x.fd, SOL_SOCKET, SO.REUSEPORT, 0);
  }
}

export const inetKind: FileKind<InetState> = {
  name: 'inet',
  type: FdTypes.INETSK,
  field: 'isk',
  priority: 590,
  // every socket unix does not claim (priority 600): TCP and UDP are dumped, the others refused by name
  match: (link, _info, at) => link.kind === 'socket' && link.ino !== undefined && at !== undefined && socketFamily(at.pid, at.fd) !== undefined,
  dump: dumpInet,
  state: {
    create: () => ({ ports: null }),
    close: (s) => {
      // the sockets themselves are the tool's opened fds, closed by the restore's FileCtx
      s.ports = null;
    },
  },
  open: openInet,
  hooks: tcpHooks,
};
