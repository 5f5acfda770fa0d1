// NETLINK_SOCK_DIAG for netlink, packet and raw sockets, asked as CRIU 4.2's collect_sockets
// asks: netlink sockets of every protocol with their groups (NDIAG_SHOW_GROUPS, and the flags),
// packet sockets with their info, multicast list, fanout and ring config, raw IPv4/IPv6 sockets
// of every protocol (inet_diag with IPPROTO_RAW). A family whose diag module is missing answers
// an error, given back to the caller.
import * as fs from 'node:fs';
import { sockDiagDump, eachAttr, NLMSG_HDR } from './diag.js';
import { parseInetDiag } from './inetdiag.js';
import { AF_NETLINK, AF_INET, AF_INET6 } from '../sys/socket-consts.js';

export const AF_PACKET = 17;
const NDIAG_PROTO_ALL = 255,
  NDIAG_SHOW_GROUPS = 2,
  NDIAG_SHOW_FLAGS = 8;
const NETLINK_DIAG_GROUPS = 1,
  NETLINK_DIAG_FLAGS = 4;

/** struct netlink_diag_msg and its attributes */
export interface NetlinkDiag {
  ino: number;
  type: number;
  protocol: number;
  state: number;
  portid: number;
  dstPortid: number;
  dstGroup: number;
  /** the group bitmap as 32-bit words (NETLINK_DIAG_GROUPS; absent when the socket never had groups) */
  groups?: number[];
  /** NDIAG_FLAG_* */
  flags: number;
}

/** Every netlink socket the kernel shows (the bound ones and those in a multicast group), by inode; or the errno of the request. */
export function netlinkSockets(): Map<number, NetlinkDiag> | number {
  const out = new Map<number, NetlinkDiag>();
  const body = Buffer.alloc(20);
  body[0] = AF_NETLINK;
  body[1] = NDIAG_PROTO_ALL;
  body.writeUInt32LE(NDIAG_SHOW_GROUPS | NDIAG_SHOW_FLAGS, 8);
  const err = sockDiagDump(body, (buf, o, len) => {
    const p = o + NLMSG_HDR;
    const d: NetlinkDiag = {
      type: buf[p + 1],
      protocol: buf[p + 2],
      state: buf[p + 3],
      portid: buf.readUInt32LE(p + 4),
      dstPortid: buf.readUInt32LE(p + 8),
      dstGroup: buf.readUInt32LE(p + 12),
      ino: buf.readUInt32LE(p + 16),
      flags: 0,
    };
    eachAttr(buf, p + 28, o + len, (t, v, alen) => {
      if (t === NETLINK_DIAG_GROUPS) {
        d.groups = [];
        for (let i = 0; i + 4 <= alen - 4; i += 4) d.groups.push(buf.readUInt32LE(v + i));
      } else if (t === NETLINK_DIAG_FLAGS) d.flags = buf.readUInt32LE(v);
    });
    out.set(d.ino, d);
  });
  return err === 0 ? out : err;
}

const PACKET_SHOW_INFO = 1,
  PACKET_SHOW_MCLIST = 2,
  PACKET_SHOW_RING_CFG = 4,
  PACKET_SHOW_FANOUT = 8;
const PACKET_DIAG_INFO = 0,
  PACKET_DIAG_MCLIST = 1,
  PACKET_DIAG_RX_RING = 2,
  PACKET_DIAG_TX_RING = 3,
  PACKET_DIAG_FANOUT = 4;

export interface PacketMc {
  index: number;
  count: number;
  type: number;
  addr: Buffer;
}
export interface PacketRingDiag {
  block_size: number;
  block_nr: number;
  frame_size: number;
  frame_nr: number;
  retire_tmo: number;
  sizeof_priv: number;
  features: number;
}
/** struct packet_diag_msg with PACKET_DIAG_INFO, _MCLIST, _FANOUT and the rings */
export interface PacketDiag {
  ino: number;
  type: number;
  /** the protocol as socket() takes it (network byte order in a host integer), as CRIU keeps it */
  protocol: number;
  info?: { index: number; version: number; reserve: number; copyThresh: number; tstamp: number; flags: number };
  mclist: PacketMc[];
  fanout?: number;
  rx?: PacketRingDiag;
  tx?: PacketRingDiag;
}

function ring(buf: Buffer, v: number): PacketRingDiag {
  const w = (i: number): number => buf.readUInt32LE(v + 4 * i);
  return { block_size: w(0), block_nr: w(1), frame_size: w(2), frame_nr: w(3), retire_tmo: w(4), sizeof_priv: w(5), features: w(6) };
}

/** Every packet socket of this network namespace, by inode; or the errno of the request. */
export function packetSockets(): Map<number, PacketDiag> | number {
  const out = new Map<number, PacketDiag>();
  const body = Buffer.alloc(20);
  body[0] = AF_PACKET;
  body.writeUInt32LE(PACKET_SHOW_INFO | PACKET_SHOW_MCLIST | PACKET_SHOW_FANOUT | PACKET_SHOW_RING_CFG, 8);
  const err = sockDiagDump(body, (buf, o, len) => {
    const p = o + NLMSG_HDR;
    const num = buf.readUInt16LE(p + 2);
    const d: PacketDiag = { type: buf[p + 1], protocol: ((num & 0xff) << 8) | (num >> 8), ino: buf.readUInt32LE(p + 4), mclist: [] };
    eachAttr(buf, p + 16, o + len, (t, v, alen) => {
      const w = (i: number): number => buf.readUInt32LE(v + 4 * i);
      if (t === PACKET_DIAG_INFO) d.info = { index: w(0), version: w(1), reserve: w(2), copyThresh: w(3), tstamp: w(4), flags: w(5) };
      else if (t === PACKET_DIAG_MCLIST) {
        for (let m = v; m + 44 <= v + alen - 4; m += 44) {
          const alen2 = buf.readUInt16LE(m + 10);
          d.mclist.push({
            index: buf.readUInt32LE(m),
            count: buf.readUInt32LE(m + 4),
            type: buf.readUInt16LE(m + 8),
            addr: Buffer.from(buf.subarray(m + 12, m + 12 + Math.min(alen2, 32))),
          });
        }
      } else if (t === PACKET_DIAG_FANOUT) d.fanout = w(0);
      else if (t === PACKET_DIAG_RX_RING) d.rx = ring(buf, v);
      else if (t === PACKET_DIAG_TX_RING) d.tx = ring(buf, v);
    });
    out.set(d.ino, d);
  });
  return err === 0 ? out : err;
}

const IPPROTO_RAW = 255;

/** A raw socket as inet_diag shows it (the port is its protocol) */
export interface RawDiag {
  ino: number;
  family: number;
  state: number;
  srcPort: number;
  dstPort: number;
  src: Buffer;
  dst: Buffer;
  rqueue: number;
  wqueue: number;
  shutdown: number;
}

/** Every raw IPv4 and IPv6 socket (raw_diag), by inode; or the errno when the kernel has no raw diag. */
export function rawSockets(): Map<number, RawDiag> | number {
  const out = new Map<number, RawDiag>();
  for (const family of [AF_INET, AF_INET6]) {
    const body = Buffer.alloc(56);
    body[0] = family;
    body[1] = IPPROTO_RAW; // sdiag_raw_protocol (the pad byte) 0: every protocol
    body.writeUInt32LE(0xffffffff, 4);
    const err = sockDiagDump(body, (buf, o, len) => out.set(...parseInetDiag(buf, o, len, IPPROTO_RAW)));
    if (err !== 0) return err;
  }
  return out;
}

/** CRIU's preload_socket_modules probe: a request shorter than the family expects gets EINVAL when its diag is there. */
export function familyDiagPresent(family: number): boolean {
  const body = Buffer.alloc(2);
  body[0] = family;
  return sockDiagDump(body, () => undefined) === 22;
}

/**
 * The raw sockets of /proc/net/raw and /proc/net/raw6 (or the ping sockets of /proc/net/icmp and
 * icmp6, which no diag shows), by inode: what the kernel shows without raw diag
 * (CONFIG_INET_RAW_DIAG off): state, addresses, queues, as ss falls back to it.
 */
export function rawSocketsFromProc(what: 'raw' | 'icmp' = 'raw'): Map<number, RawDiag> {
  const out = new Map<number, RawDiag>();
  const addr = (hex: string): Buffer => {
    const b = Buffer.alloc(16);
    for (let i = 0; i * 8 < hex.length; i++) b.writeUInt32LE(parseInt(hex.slice(i * 8, i * 8 + 8), 16) >>> 0, i * 4);
    return b;
  };
  for (const [file, family] of [
    [`/proc/net/${what}`, AF_INET],
    [`/proc/net/${what}6`, AF_INET6],
  ] as const) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [src, sport] = f[1].split(':'),
        [dst, dport] = f[2].split(':'),
        [tx, rx] = f[4].split(':');
      const ino = Number(f[9]);
      out.set(ino, {
        ino,
        family,
        state: parseInt(f[3], 16),
        src: addr(src),
        srcPort: parseInt(sport, 16),
        dst: addr(dst),
        dstPort: parseInt(dport, 16),
        wqueue: parseInt(tx, 16),
        rqueue: parseInt(rx, 16),
        shutdown: 0,
      });
    }
  }
  return out;
}
