// AF_PACKET sockets (SOCK_RAW and SOCK_DGRAM), as CRIU 4.2's sk-packet.c keeps them
// (packet_sock_entry in files.img): type, protocol, the bound interface, PACKET_VERSION,
// PACKET_RESERVE, PACKET_AUXDATA, PACKET_ORIGDEV, PACKET_VNET_HDR, PACKET_LOSS,
// PACKET_TIMESTAMP, PACKET_COPY_THRESH, the PACKET_ADD_MEMBERSHIP list and the fanout group,
// all from packet diag (PACKET_DIAG_INFO, _MCLIST, _FANOUT), as CRIU collects them; fown and the
// socket options. A membership added n times is written n times (CRIU refuses it).
//
// Rings (PACKET_RX_RING/PACKET_TX_RING) are kept as CRIU keeps them: their tpacket_req from
// PACKET_DIAG_RX_RING/_TX_RING in rx_ring/tx_ring, set again after PACKET_VERSION on restore;
// a task's mapping of a ring is a VMA_AREA_SOCKET VMA whose shmid is the socket's file id
// (packetRingMaps), its frames not dumped, mapped again from the socket (openMapped).
// A ring mapped by a task that holds no fd on its socket, or mapped in part, is refused.
//
// Refused by name: SOCK_PACKET sockets, and what the kernel shows only by getsockopt
// and the image cannot keep: PACKET_QDISC_BYPASS, PACKET_IGNORE_OUTGOING, PACKET_TX_HAS_OFF, a
// virtio header of another size than PACKET_VNET_HDR's, fanout flags and fanout programs. Packets
// queued on the socket are dropped with a warning (CRIU drops them without one).
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { partOf } from './kind.js';
import { FdTypes, type FileEntry, type PacketSockEntry, type PacketMclist, type PacketRing } from '../images/gen/types.js';
import type { FileTable } from './table.js';
import { VMA } from '../images/consts.js';
import { packetSockets, AF_PACKET, type PacketDiag } from './netdiag.js';
import { dumpFown, fileFlags, where, restoreFileParams, F_DUPFD_CLOEXEC } from './fdparams.js';
import { dumpSkOpts, restoreSkOpts, seti } from './inet-opts.js';
import { socketFamilyAt, checkSockNetNs } from './sk-family.js';
import { socket, close, errnoName, setsockopt, getsockopt, fcntl, SysError, E } from '../sys/libc.js';
import { bindRaw, pollNow } from '../sys/net.js';
import { SOCK_CLOEXEC, SOCK_DGRAM, SOCK_RAW } from '../sys/socket-consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';

const SOL_PACKET = 263;
const PACKET = {
  ADD_MEMBERSHIP: 1,
  COPY_THRESH: 7,
  AUXDATA: 8,
  ORIGDEV: 9,
  VERSION: 10,
  RX_RING: 5,
  TX_RING: 13,
  RESERVE: 12,
  LOSS: 14,
  VNET_HDR: 15,
  TIMESTAMP: 17,
  FANOUT: 18,
  TX_HAS_OFF: 19,
  QDISC_BYPASS: 20,
  IGNORE_OUTGOING: 23,
  VNET_HDR_SZ: 24,
} as const;
const PDI_AUXDATA = 2,
  PDI_ORIGDEV = 4,
  PDI_VNETHDR = 8,
  PDI_LOSS = 0x10;
const PACKET_MR_MULTICAST = 0,
  PACKET_MR_PROMISC = 1,
  PACKET_MR_ALLMULTI = 2,
  PACKET_MR_UNICAST = 3;
const PACKET_FANOUT_CBPF = 6,
  PACKET_FANOUT_EBPF = 7;
const SOCK_PACKET = 10,
  POLLIN = 1;
const NO_FANOUT = 0xffffffff;

let diag: { at: number; map: Map<number, PacketDiag> } | null = null;
function packetDiag(ino: number, who: string): PacketDiag | undefined {
  if (!diag || Date.now() - diag.at > 200 || !diag.map.has(ino)) {
    const m = packetSockets();
    if (typeof m === 'number')
      throw new CriuError(`${who}: sock_diag: error ${errnoName(m)} for packet sockets`, {
        object: 'NETLINK_SOCK_DIAG (packet sockets)',
        hint: 'the kernel needs CONFIG_PACKET_DIAG to show packet sockets',
      });
    diag = { at: Date.now(), map: m };
  }
  return diag.map.get(ino);
}

/** an int option, undefined when this kernel does not know it */
function optional(fd: number, opt: number): number | undefined {
  try {
    const b = Buffer.alloc(4);
    getsockopt(fd, SOL_PACKET, opt, b);
    return b.readInt32LE(0);
  } catch (e) {
    if (e instanceof SysError && (e.errno === E.ENOPROTOOPT || e.errno === E.EINVAL)) return undefined;
    throw e;
  }
}

const typeName = (t: number): string => (t === SOCK_RAW ? 'SOCK_RAW' : t === SOCK_DGRAM ? 'SOCK_DGRAM' : t === SOCK_PACKET ? 'SOCK_PACKET' : `type ${t}`);

/** What packet_sock_entry cannot hold, refused by name. */
function refuseUnkept(fd: number, d: PacketDiag, what: string, who: string, ino: number): void {
  const refuse = (how: string, hint?: string): never => {
    throw new NotSupportedError(`${who}: ${what} ${how}`, { object: `socket:[${ino}]`, hint: hint ?? 'packet_sock_entry has no field for it' });
  };
  if (d.type === SOCK_PACKET) refuse('(the obsolete SOCK_PACKET type)');
  if (optional(fd, PACKET.QDISC_BYPASS)) refuse('with PACKET_QDISC_BYPASS');
  if (optional(fd, PACKET.IGNORE_OUTGOING)) refuse('with PACKET_IGNORE_OUTGOING');
  if (optional(fd, PACKET.TX_HAS_OFF)) refuse('with PACKET_TX_HAS_OFF');
  const sz = optional(fd, PACKET.VNET_HDR_SZ);
  if (sz !== undefined && sz !== 0 && sz !== 10) refuse(`with a virtio net header of ${sz} bytes (PACKET_VNET_HDR_SZ)`);
  if (d.fanout !== undefined) {
    const type = (d.fanout >>> 16) & 0xff;
    if (type === PACKET_FANOUT_CBPF || type === PACKET_FANOUT_EBPF) refuse('in a fanout group steered by a BPF program', 'the program cannot be read back');
    const full = optional(fd, PACKET.FANOUT);
    if (full !== undefined && full >>> 0 !== d.fanout >>> 0)
      refuse(`in a fanout group with flags (PACKET_FANOUT ${(full >>> 0).toString(16)})`, 'packet diag, and so CRIU, shows no fanout flags');
  }
}

/** dump_mreqs: one entry a membership, repeated as many times as it was added */
function mclist(d: PacketDiag, what: string, who: string): PacketMclist[] {
  const out: PacketMclist[] = [];
  for (const m of d.mclist) {
    const addr = m.type === PACKET_MR_MULTICAST || m.type === PACKET_MR_UNICAST ? Buffer.from(m.addr) : Buffer.alloc(0);
    if (![PACKET_MR_MULTICAST, PACKET_MR_UNICAST, PACKET_MR_PROMISC, PACKET_MR_ALLMULTI].includes(m.type))
      throw new NotSupportedError(`${who}: ${what} with a membership of unknown type ${m.type}`, { object: `socket:[${d.ino}]` });
    for (let i = 0; i < m.count; i++) out.push({ index: m.index, type: m.type, addr });
  }
  return out;
}

function dumpPacket(ctx: DumpFdCtx, id: number): FileEntry {
  const who = where(ctx, ctx.link.raw);
  const ino = ctx.link.ino!;
  const fd = ctx.takeFd();
  checkSockNetNs(fd, who);
  const d = packetDiag(ino, who);
  if (!d?.info)
    throw new CriuError(`${who}: packet diag does not show socket ${ino}`, { object: `socket:[${ino}]`, hint: 'the socket changed while it was dumped' });
  const what = `a packet ${typeName(d.type)} socket (protocol 0x${d.protocol.toString(16)}, ifindex ${d.info.index})`;
  refuseUnkept(fd, d, what, who, ino);
  if (pollNow(fd, POLLIN) & POLLIN) log.warn(`${who}: the packets queued on ${what} are dropped, as CRIU does`);
  const i = d.info;
  const pe: PacketSockEntry = {
    id,
    type: d.type,
    protocol: d.protocol,
    flags: fileFlags(ctx),
    ifindex: i.index,
    fown: dumpFown(ctx, fd, ctx.link.raw),
    opts: dumpSkOpts(fd, who),
    version: i.version,
    reserve: i.reserve,
    aux_data: (i.flags & PDI_AUXDATA) !== 0,
    orig_dev: (i.flags & PDI_ORIGDEV) !== 0,
    vnet_hdr: (i.flags & PDI_VNETHDR) !== 0,
    loss: (i.flags & PDI_LOSS) !== 0,
    timestamp: i.tstamp,
    copy_thresh: i.copyThresh,
    mclist: mclist(d, what, who),
  };
  if (d.fanout !== undefined && d.fanout >>> 0 !== NO_FANOUT) pe.fanout = d.fanout;
  if (d.rx) pe.rx_ring = { ...d.rx };
  if (d.tx) pe.tx_ring = { ...d.tx };
  if (ctx.inet) pe.ns_id = ctx.inet.netNsId;
  log.debug(`${who}: ${what}`);
  return { type: FdTypes.PACKETSK, id, psk: pe };
}

/**
 * dump_socket_map: the ring VMAs of task `pid` (VMA_AREA_SOCKET) get the file id of the packet
 * socket they map, once its fds are dumped; a ring whose socket the task no longer holds is refused.
 */
export function packetRingMaps(
  pid: number,
  vmas: { start: bigint; end: bigint; pgoff: bigint; status: number; shmid: number; path?: string }[],
  files: FileTable,
): void {
  for (const v of vmas) {
    if (!(v.status & VMA.SOCKET)) continue;
    const where = `task ${pid}: VMA ${v.start.toString(16)}-${v.end.toString(16)} ${v.path ?? ''}`;
    const ino = Number(/^socket:\[(\d+)\]/.exec(v.path ?? '')?.[1] ?? -1);
    const id = ino >= 0 ? files.idOfIno(ino) : undefined;
    const e = id === undefined ? undefined : files.entries.find((x) => x.id === id);
    if (e && e.type !== FdTypes.PACKETSK)
      throw new NotSupportedError(`${where}: a mapping of a socket other than a packet socket's ring`, { task: pid, object: v.path });
    if (!e)
      throw new NotSupportedError(`${where}: a packet socket ring mapped after its socket was closed (no fd on it in this task or one dumped before)`, {
        task: pid,
        object: v.path,
        hint: 'CRIU too maps a ring only from an open fd of its socket',
      });
    // the kernel maps a ring only whole and from its start (packet_mmap): a part of one cannot come back
    const ringSize = [e.psk?.rx_ring, e.psk?.tx_ring].reduce((n, r) => n + (r ? BigInt(r.block_size) * BigInt(r.block_nr) : 0n), 0n);
    if (v.pgoff !== 0n || v.end - v.start !== ringSize)
      throw new NotSupportedError(
        `${where}: a part of a packet socket ring (0x${(v.end - v.start).toString(16)} bytes at offset 0x${v.pgoff.toString(16)} of 0x${ringSize.toString(16)})`,
        {
          task: pid,
          object: v.path,
          hint: 'a ring can be mapped again only whole, from its start',
        },
      );
    v.shmid = id!;
  }
}

/** setsockopt(PACKET_RX_RING/TX_RING) with the saved tpacket_req3 */
function setRing(fd: number, opt: number, r: PacketRing, who: string, object: string): void {
  const b = Buffer.alloc(28);
  [r.block_size, r.block_nr, r.frame_size, r.frame_nr, r.retire_tmo, r.sizeof_priv, r.features].forEach((x, i) => b.writeUInt32LE(x >>> 0, 4 * i));
  try {
    setsockopt(fd, SOL_PACKET, opt, b);
  } catch (err) {
    throw new CriuError(
      `${who}: cannot set the ${opt === PACKET.RX_RING ? 'PACKET_RX_RING' : 'PACKET_TX_RING'} ring (${r.block_nr} blocks of ${r.block_size}): ${(err as Error).message}`,
      {
        object,
        hint: 'the kernel refused the ring the image holds (memory limits?)',
      },
    );
  }
}

// ---------------------------------------------------------------- restore

function openPacket(_ctx: RestoreFdCtx, e: FileEntry, _s: unknown, who: string): number {
  const pe = partOf(e, 'psk', who);
  const obj = { object: `packet socket id ${pe.id}` };
  if (pe.type !== SOCK_RAW && pe.type !== SOCK_DGRAM) throw new NotSupportedError(`${who}: a packet socket of ${typeName(pe.type)} in the image`, obj);
  const fd = socket(AF_PACKET, pe.type | SOCK_CLOEXEC, pe.protocol);
  try {
    const sll = Buffer.alloc(20);
    sll.writeUInt16LE(AF_PACKET, 0);
    sll.writeInt32LE(pe.ifindex, 4);
    try {
      bindRaw(fd, sll, `ifindex ${pe.ifindex}`);
    } catch (err) {
      throw new CriuError(`${who}: cannot bind packet socket ${pe.id} to ifindex ${pe.ifindex}: ${(err as Error).message}`, {
        ...obj,
        hint: 'the interface it was bound to is gone',
      });
    }
    seti(fd, SOL_PACKET, PACKET.VERSION, pe.version);
    seti(fd, SOL_PACKET, PACKET.RESERVE, pe.reserve);
    seti(fd, SOL_PACKET, PACKET.TIMESTAMP, pe.timestamp);
    seti(fd, SOL_PACKET, PACKET.COPY_THRESH, pe.copy_thresh);
    if (pe.aux_data) seti(fd, SOL_PACKET, PACKET.AUXDATA, 1);
    if (pe.orig_dev) seti(fd, SOL_PACKET, PACKET.ORIGDEV, 1);
    if (pe.vnet_hdr) seti(fd, SOL_PACKET, PACKET.VNET_HDR, 1);
    if (pe.loss) seti(fd, SOL_PACKET, PACKET.LOSS, 1);
    // after PACKET_VERSION and PACKET_RESERVE, which a socket with a ring refuses (EBUSY)
    if (pe.rx_ring) setRing(fd, PACKET.RX_RING, pe.rx_ring, who, obj.object);
    if (pe.tx_ring) setRing(fd, PACKET.TX_RING, pe.tx_ring, who, obj.object);
    for (const m of pe.mclist ?? []) {
      if (m.addr.length > 32)
        throw new CriuError(`${who}: packet socket ${pe.id}: a membership address of ${m.addr.length} bytes`, { ...obj, hint: 'the image is damaged' });
      const mr = Buffer.alloc(40);
      mr.writeInt32LE(m.index, 0);
      mr.writeUInt16LE(m.type, 4);
      mr.writeUInt16LE(m.addr.length, 6);
      Buffer.from(m.addr).copy(mr, 8);
      setsockopt(fd, SOL_PACKET, PACKET.ADD_MEMBERSHIP, mr);
    }
    if (pe.fanout !== undefined && pe.fanout >>> 0 !== NO_FANOUT) seti(fd, SOL_PACKET, PACKET.FANOUT, pe.fanout);
    restoreFileParams(fd, pe.flags, pe.fown);
    restoreSkOpts(fd, pe.opts);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

export const packetKind: FileKind = {
  name: 'packet',
  type: FdTypes.PACKETSK,
  field: 'psk',
  // above inet (590), which takes every socket unix does not
  priority: 596,
  match: (link, _info, at) => link.kind === 'socket' && link.ino !== undefined && at !== undefined && socketFamilyAt(at.pid, at.fd) === AF_PACKET,
  dump: dumpPacket,
  open: openPacket,
  // a ring's mapping: a new fd on the task's socket (opened once, its rings set)
  openMapped: (ctx, e, _flags, _s, who) => fcntl(ctx.openFile(e.id, who), F_DUPFD_CLOEXEC, 0),
};
