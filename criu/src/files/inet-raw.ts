// Raw IPv4/IPv6 sockets (SOCK_RAW of any protocol) and ICMP "ping" sockets (SOCK_DGRAM with
// IPPROTO_ICMP / IPPROTO_ICMPV6), INETSK entries as CRIU 4.2's sk-inet.c writes them: a raw
// socket's state and addresses come from raw_diag (netdiag.ts; its port is its protocol), a
// ping socket's from the socket itself (no kernel diag shows them, CRIU's gen_uncon_sk); the
// ip_opts_entry of a raw socket carries ip_opts_raw_entry (IP_HDRINCL / IPV6_HDRINCL,
// IP_NODEFRAG, and ICMP_FILTER / ICMPV6_FILTER for ICMP protocols); tcp_opts is empty.
//
// Beyond CRIU 4.2: a connected raw socket (state ESTABLISHED; CRIU refuses it without
// --tcp-established and then restores it unconnected) is connected again to its saved peer; a
// ping socket is bound again to its address and identifier (CRIU leaves it unbound, so the
// identifier changes), and a connected one, which getpeername does not show (its port is 0),
// is found connected in /proc/net/icmp and connected again. Without raw diag in the kernel
// (CONFIG_INET_RAW_DIAG off, as on this project's VM) a raw socket is read from /proc/net/raw. Queued datagrams are dropped with a warning, as CRIU drops them.
import type { DumpFdCtx } from './kind.js';
import { FdTypes, type FileEntry, type InetSkEntry, type IpOptsRawEntry } from '../images/gen/types.js';
import { rawSockets, rawSocketsFromProc, type RawDiag } from './netdiag.js';
import { restoreFileParams } from './fdparams.js';
import { SOL_IP, SOL_IPV6, SO, IPV6_V6ONLY, geti, seti, restoreSkOpts, dumpIpOpts, restoreIpOpts } from './inet-opts.js';
import { checkSockNetNs } from './sk-family.js';
import { inetSkEntry, bytesOf } from './inet-entry.js';
import { socket, close, getsockopt, setsockopt, SysError, E } from '../sys/libc.js';
import { AF_INET, AF_INET6, bind, connect, getsockname, getpeername, ifNameToIndex, formatAddr, type SockAddr } from '../sys/net.js';
import { SOCK_CLOEXEC, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET } from '../sys/socket-consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';

const IPPROTO_ICMP = 1,
  IPPROTO_TCP = 6,
  IPPROTO_UDP = 17,
  IPPROTO_ICMPV6 = 58,
  IPPROTO_UDPLITE = 136;
const SOL_RAW = 255,
  SOL_ICMPV6 = 58,
  ICMP_FILTER = 1,
  ICMPV6_FILTER = 1,
  IP_HDRINCL = 3,
  IP_NODEFRAG = 22,
  IPV6_HDRINCL = 36,
  IPV6_CHECKSUM = 7;
const TCP_ESTABLISHED = 1,
  TCP_CLOSE = 7;

const famName = (f: number): string => (f === AF_INET6 ? 'IPv6' : 'IPv4');
const isPing = (type: number, proto: number): boolean => type === SOCK_DGRAM && (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6);

/** Whether the inet socket `fd` is one of this module's: raw, or a ping socket. */
export function isRawOrPing(fd: number): boolean {
  const family = geti(fd, SOL_SOCKET, SO.DOMAIN);
  if (family !== AF_INET && family !== AF_INET6) return false;
  const type = geti(fd, SOL_SOCKET, SO.TYPE);
  return type === SOCK_RAW || isPing(type, geti(fd, SOL_SOCKET, SO.PROTOCOL));
}
/** Whether an INETSK entry is one of this module's. */
export const isRawOrPingEntry = (ie: InetSkEntry): boolean => ie.type === SOCK_RAW || isPing(ie.type, ie.proto);

let diag: { at: number; map: Map<number, RawDiag> | null } | null = null;
/**
 * The raw socket as raw_diag shows it (fromDiag), else as /proc/net/raw does: a kernel without
 * raw diag answers an empty dump (CRIU then reads the socket itself and loses the peer of a
 * connected one, which getpeername does not give when its port is 0).
 */
function rawDiag(ino: number): (RawDiag & { fromDiag: boolean }) | undefined {
  if (!diag || Date.now() - diag.at > 200 || !diag.map?.has(ino)) {
    const m = rawSockets();
    diag = { at: Date.now(), map: typeof m === 'number' ? null : m };
  }
  const d = diag.map?.get(ino);
  if (d) return { ...d, fromDiag: true };
  const p = rawSocketsFromProc().get(ino);
  return p ? { ...p, fromDiag: false } : undefined;
}

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

const pad16 = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc(16 - b.length)]);

/** gen_uncon_sk: the names of a socket no diag shows */
function fromSocket(fd: number): Desc {
  const d: Desc = {
    state: TCP_CLOSE,
    src: Buffer.alloc(16),
    srcPort: 0,
    dst: Buffer.alloc(16),
    dstPort: 0,
    rqueue: 0,
    wqueue: 0,
    shutdown: 0,
    fromDiag: false,
  };
  const me = getsockname(fd),
    peer = getpeername(fd);
  if (me) [d.src, d.srcPort] = [pad16(me.addr), me.port];
  if (peer) [d.dst, d.dstPort] = [pad16(peer.addr), peer.port];
  return d;
}

/** an option of this family, 0 when the kernel does not have it for this socket */
function opt(fd: number, level: number, name: number): number {
  try {
    return geti(fd, level, name);
  } catch (e) {
    if (e instanceof SysError && (e.errno === E.ENOPROTOOPT || e.errno === E.EOPNOTSUPP)) return 0;
    throw e;
  }
}

/** dump_ip_raw_opts */
function rawOpts(fd: number, family: number, proto: number): IpOptsRawEntry {
  const r: IpOptsRawEntry = {};
  const filter = (level: number, name: number, n: number): number[] => {
    const b = Buffer.alloc(n * 4);
    getsockopt(fd, level, name, b);
    return Array.from({ length: n }, (_, i) => b.readUInt32LE(i * 4));
  };
  if (family === AF_INET6) {
    if (opt(fd, SOL_IPV6, IPV6_HDRINCL)) r.hdrincl = true;
    if (proto === IPPROTO_ICMPV6) r.icmpv_filter = filter(SOL_ICMPV6, ICMPV6_FILTER, 8);
  } else {
    if (opt(fd, SOL_IP, IP_HDRINCL)) r.hdrincl = true;
    if (opt(fd, SOL_IP, IP_NODEFRAG)) r.nodefrag = true;
    if (proto === IPPROTO_ICMP) r.icmpv_filter = filter(SOL_RAW, ICMP_FILTER, 1);
  }
  return r;
}

/** The INETSK entry of a raw or ping socket; `fd` is the tool's copy of it. */
export function dumpInetRaw(ctx: DumpFdCtx, id: number, fd: number, who: string): FileEntry {
  checkSockNetNs(fd, who);
  const ino = ctx.link.ino!;
  const family = geti(fd, SOL_SOCKET, SO.DOMAIN),
    type = geti(fd, SOL_SOCKET, SO.TYPE),
    proto = geti(fd, SOL_SOCKET, SO.PROTOCOL);
  // a ping socket: /proc/net/icmp tells whether it is connected (getpeername does not when the port is 0)
  const ping = type === SOCK_RAW ? undefined : rawSocketsFromProc('icmp').get(ino);
  const found = type === SOCK_RAW ? rawDiag(ino) : ping && { ...ping, fromDiag: false };
  const d: Desc = found && found.family === family ? found : fromSocket(fd);
  const a = (b: Buffer, port: number): string => formatAddr({ family, port, addr: b.subarray(0, family === AF_INET6 ? 16 : 4) });
  const what =
    type === SOCK_RAW
      ? `a raw ${famName(family)} socket (protocol ${proto}) on ${a(d.src, 0).replace(/:0$/, '')}${d.state === TCP_ESTABLISHED ? ` connected to ${a(d.dst, 0).replace(/:0$/, '')}` : ''}`
      : `an ${famName(family)} ICMP socket ${a(d.src, d.srcPort)}${d.state === TCP_ESTABLISHED ? ` -> ${a(d.dst, d.dstPort)}` : ''}`;
  // the checksum offset the kernel fills in on a raw IPv6 socket: ip_opts_raw_entry has only a flag, which CRIU 4.2 does not write
  if (type === SOCK_RAW && family === AF_INET6 && proto !== IPPROTO_ICMPV6 && opt(fd, SOL_IPV6, IPV6_CHECKSUM) !== -1)
    throw new NotSupportedError(`${who}: ${what} with IPV6_CHECKSUM at offset ${opt(fd, SOL_IPV6, IPV6_CHECKSUM)}`, {
      object: `socket:[${ino}]`,
      hint: 'ip_opts_raw_entry cannot hold the offset (CRIU 4.2 loses it)',
    });
  if (d.wqueue) log.warn(`${who}: the write queue of ${what} is not empty (${d.wqueue} bytes)`);
  if (d.rqueue) log.warn(`${who}: the read queue of ${what} (${d.rqueue} bytes) is dropped, as CRIU does`);
  const ip_opts = { ...dumpIpOpts(fd, family), ...(type === SOCK_RAW ? { raw: rawOpts(fd, family, proto) } : {}) };
  const ie = inetSkEntry(ctx, fd, id, { family, type, proto }, d, { ip_opts, tcp_opts: {} }, what, who);
  // as CRIU: a UDP socket (here a raw one of that protocol) always says its shutdown, a TCP one when shut down
  if (type === SOCK_RAW && (proto === IPPROTO_UDP || proto === IPPROTO_UDPLITE)) ie.shutdown = d.shutdown;
  else if (type === SOCK_RAW && proto === IPPROTO_TCP && d.shutdown) ie.shutdown = d.shutdown;
  log.debug(`${who}: ${what}`);
  return { type: FdTypes.INETSK, id, isk: ie };
}

// ---------------------------------------------------------------- restore

/** restore_ip_raw_opts */
function restoreRawOpts(fd: number, ie: InetSkEntry, r: IpOptsRawEntry): void {
  if (r.icmpv_filter?.length && (ie.proto === IPPROTO_ICMP || ie.proto === IPPROTO_ICMPV6)) {
    const b = Buffer.alloc(r.icmpv_filter.length * 4);
    r.icmpv_filter.forEach((w, i) => b.writeUInt32LE(w >>> 0, i * 4));
    if (ie.family === AF_INET6) setsockopt(fd, SOL_ICMPV6, ICMPV6_FILTER, b);
    else setsockopt(fd, SOL_RAW, ICMP_FILTER, b);
  }
  if (r.nodefrag !== undefined) seti(fd, SOL_IP, IP_NODEFRAG, r.nodefrag ? 1 : 0);
  if (r.hdrincl !== undefined) seti(fd, ie.family === AF_INET6 ? SOL_IPV6 : SOL_IP, ie.family === AF_INET6 ? IPV6_HDRINCL : IP_HDRINCL, r.hdrincl ? 1 : 0);
}

/**
 * A raw or ping socket made again from its entry: bound to its address (and a ping socket to its
 * identifier), connected when it was, its options set; `opened` gives the port users of
 * inet.ts their due (SO_REUSEADDR/SO_REUSEPORT back once every socket on the port is open).
 */
export function openInetRaw(ie: InetSkEntry, who: string, opened: (fd: number) => void): number {
  const obj = { object: `socket:[${ie.ino}]` };
  if (ie.family !== AF_INET && ie.family !== AF_INET6)
    throw new CriuError(`${who}: a raw socket of family ${ie.family} in the image`, { ...obj, hint: 'the image is damaged' });
  const n = ie.family === AF_INET6 ? 4 : 1;
  if ((ie.src_addr?.length ?? 0) < n || (ie.dst_addr?.length ?? 0) < n)
    throw new CriuError(`${who}: socket ${ie.ino}: address length does not fit family ${ie.family}`, { ...obj, hint: 'the image is damaged' });
  const fd = socket(ie.family, ie.type | SOCK_CLOEXEC, ie.proto);
  try {
    if (ie.v6only) seti(fd, SOL_IPV6, IPV6_V6ONLY, 1);
    seti(fd, SOL_SOCKET, SO.REUSEADDR, 1);
    seti(fd, SOL_SOCKET, SO.REUSEPORT, 1);
    if (ie.src_port) {
      let scopeId = 0;
      if (ie.ifname) {
        scopeId = ifNameToIndex(ie.ifname);
        if (!scopeId) throw new CriuError(`${who}: there is no interface ${ie.ifname} to bind socket ${ie.ino} to`, obj);
      }
      // a raw socket's port is its protocol, which bind() ignores; a ping socket's is its identifier
      const a: SockAddr = { family: ie.family, port: ie.type === SOCK_RAW ? 0 : ie.src_port, addr: bytesOf(ie.src_addr, ie.family), scopeId };
      try {
        bind(fd, a);
      } catch (e) {
        throw new CriuError(`${who}: cannot bind socket ${ie.ino} to ${formatAddr(a)}: ${(e as Error).message}`, {
          ...obj,
          hint: 'another socket holds the address or the ICMP identifier now',
        });
      }
    }
    if (ie.dst_port || ie.state === TCP_ESTABLISHED)
      connect(fd, { family: ie.family, port: ie.type === SOCK_RAW ? 0 : ie.dst_port, addr: bytesOf(ie.dst_addr, ie.family) });
    opened(fd);
    restoreFileParams(fd, ie.flags, ie.fown);
    if (ie.ip_opts) {
      restoreIpOpts(fd, ie.family, ie.ip_opts);
      if (ie.ip_opts.raw) restoreRawOpts(fd, ie, ie.ip_opts.raw);
    }
    restoreSkOpts(fd, ie.opts);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}
