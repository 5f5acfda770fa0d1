// The links of a tree's network namespace (CRIU's net.c dump_links / restore_links), read and
// made over rtnetlink from the tool's thread in the namespace: lo (its flags and MTU), and veth
// devices: both ends inside (the first made with its peer, by their ifindexes, names, MTUs and
// MACs), or the peer outside (CRIU: "a connection to the outer world": only this end dumped;
// restored with the peer in the tool's network namespace, named by --external veth[IN]:OUT or
// --veth-pair IN=OUT, put into bridge BR and set up with @BR, as CRIU's move_veth_to_bridge).
// Bridges inside, with their ports (IFLA_MASTER, set once every link is made, as CRIU's
// restore_master_link). macvlan links: on a link of the namespace, or on one outside (CRIU:
// restored on the tool's link --external macvlan[IN]:OUT names, made from the tool's namespace
// into the tree's). A link of another kind is offered to the plugins (DUMP_EXT_LINK: an EXTLINK
// the plugin makes again, whose flags and MTU the restore sets); else refused by name, and so is
// a link enslaved to a master other than a bridge of the namespace. tun and tap links (with
// files/tun.ts, whose fds attach to them): made persistent at the restore with their flags,
// owner, group, vnet header size and send buffer.
import type { NetDeviceEntry, TunLinkEntry } from '../images/index.js';
import { socket, close, errnoName } from '../sys/libc.js';
import { netlinkExchange, NLMSG_HDR } from '../sys/netlink.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';
import { pluginCalls } from '../hooks.js';
import * as fs from 'node:fs';
import { IFF, tunQueueOf, makeTunLink, seenQueue, setTunLinks } from '../files/tun.js';

const NETLINK_ROUTE = 0,
  AF_NETLINK = 16,
  SOCK_RAW = 3,
  SOCK_CLOEXEC = 0o2000000,
  NLM_F_ACK = 4,
  NLM_F_EXCL = 0x200,
  NLM_F_CREATE = 0x400,
  NLM_F_DUMP = 0x300,
  RTM_NEWLINK = 16,
  RTM_GETLINK = 18,
  RTM_SETLINK = 19,
  IFLA_ADDRESS = 1,
  IFLA_IFNAME = 3,
  IFLA_MTU = 4,
  IFLA_LINK = 5,
  IFLA_MASTER = 10,
  IFLA_LINKINFO = 18,
  IFLA_NET_NS_FD = 28,
  IFLA_LINK_NETNSID = 37,
  IFLA_INFO_KIND = 1,
  IFLA_INFO_DATA = 2,
  VETH_INFO_PEER = 1,
  IFLA_MACVLAN_MODE = 1,
  IFLA_MACVLAN_FLAGS = 2,
  IFF_UP = 1;

export const ND_VETH = 2;
export const ND_MACVLAN = 7;
const ND_TUN = 3;
const ND_LOOPBACK = 1,
  ND_EXTLINK = 4,
  ND_BRIDGE = 6,
  ARPHRD_LOOPBACK = 772;
const KIND: Record<number, string> = { [ND_VETH]: 'veth', [ND_BRIDGE]: 'bridge', [ND_MACVLAN]: 'macvlan', [ND_TUN]: 'tun' };
// IFLA_INFO_DATA of a tun link (tun_fill_info)
const IFLA_TUN = { OWNER: 1, GROUP: 2, TYPE: 3, PI: 4, VNET_HDR: 5, PERSIST: 6, MULTI_QUEUE: 7 };

interface Link {
  index: number;
  type: number;
  flags: number;
  name: string;
  mtu: number;
  kind?: string;
  link?: number;
  master?: number;
  address?: Buffer;
  /** IFLA_LINK_NETNSID: the peer is in another network namespace */
  linkNetnsid?: number;
  /** IFLA_INFO_DATA's attributes (a macvlan's mode and flags) */
  data?: Map<number, Buffer>;
}

function attrs(b: Buffer, from: number, to: number): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (let a = from; a + 4 <= to;) {
    const len = b.readUInt16LE(a);
    if (len < 4) break;
    m.set(b.readUInt16LE(a + 2) & 0x3fff, b.subarray(a + 4, a + len));
    a += (len + 3) & ~3;
  }
  return m;
}
const cstr = (b: Buffer | undefined): string => (b ? b.subarray(0, b.indexOf(0) >= 0 ? b.indexOf(0) : b.length).toString() : '');

/** one rtnetlink attribute, padded */
function attr(type: number, payload: Buffer | string | number): Buffer {
  const p = typeof payload === 'number' ? Buffer.alloc(4) : typeof payload === 'string' ? Buffer.from(`${payload}\0`) : payload;
  if (typeof payload === 'number') p.writeUInt32LE(payload >>> 0, 0);
  const b = Buffer.alloc((4 + p.length + 3) & ~3);
  b.writeUInt16LE(4 + p.length, 0);
  b.writeUInt16LE(type, 2);
  p.copy(b, 4);
  return b;
}

function ifinfo(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags >>> 0, 8);
  b.writeUInt32LE(change >>> 0, 12);
  return b;
}

/** one rtnetlink exchange on a socket of the current thread's namespace: every answer's payload, or the kernel's error */
function rtnl(type: number, flags: number, body: Buffer, each: (payload: Buffer) => void, what = `rtnetlink request ${type}`, via?: number): void {
  // made straight from this thread (in the namespace), not through setSocketNetns; or the socket `via` of another
  const fd = via ?? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE, true);
  try {
    const err = netlinkExchange(fd, type, flags, body, (buf, o, len) => each(Buffer.from(buf.subarray(o + NLMSG_HDR, o + len))));
    if (err) throw new CriuError(`${what} in the network namespace: ${errnoName(err)}`, { object: 'rtnetlink' });
  } finally {
    if (via === undefined) close(fd);
  }
}

/** RTM_GETLINK of every link of the current thread's network namespace */
export function links(): Link[] {
  const out: Link[] = [];
  const body = Buffer.alloc(16);
  body[0] = 17; // AF_PACKET
  rtnl(RTM_GETLINK, NLM_F_DUMP, body, (p) => {
    const a = attrs(p, 16, p.length);
    const info = a.get(IFLA_LINKINFO);
    const li = info ? attrs(info, 0, info.length) : undefined;
    const kind = li ? cstr(li.get(IFLA_INFO_KIND)) : undefined;
    const data = li?.get(IFLA_INFO_DATA);
    out.push({
      index: p.readInt32LE(4),
      type: p.readUInt16LE(2),
      flags: p.readUInt32LE(8),
      name: cstr(a.get(IFLA_IFNAME)),
      mtu: a.get(IFLA_MTU)?.readUInt32LE(0) ?? 0,
      kind: kind || undefined,
      link: a.get(IFLA_LINK)?.readUInt32LE(0),
      master: a.get(IFLA_MASTER)?.readUInt32LE(0),
      address: a.get(IFLA_ADDRESS) ? Buffer.from(a.get(IFLA_ADDRESS)!) : undefined,
      linkNetnsid: a.get(IFLA_LINK_NETNSID)?.readInt32LE(0),
      data: data ? attrs(data, 0, data.length) : undefined,
    });
  });
  return out.sort((x, y) => x.index - y.index);
}

/**
 * The dump's entry of a link (conf4/conf6 added by the caller); `external`: its peer (a veth's)
 * or its parent (a macvlan's) is in another namespace (no peer_nsid is written for it). Refuses
 * what is not dumped yet.
 */
export function linkEntry(l: Link, who: string, all: Link[] = []): { e: NetDeviceEntry; external: boolean } {
  const name = `the link ${l.name} (${l.kind ?? `type ${l.type}`}, ifindex ${l.index})`;
  const master = l.master !== undefined ? all.find((x) => x.index === l.master) : undefined;
  if (l.master !== undefined && master?.kind !== 'bridge')
    throw new NotSupportedError(`${who}: its network namespace has ${name} enslaved to link ${master?.name ?? l.master} (${master?.kind ?? 'unknown'})`, {
      object: `link ${l.name}`,
      hint: 'ports of bridges are dumped; of bonds, teams and others not yet',
    });
  const base = {
    ifindex: l.index,
    mtu: l.mtu,
    flags: l.flags,
    name: l.name,
    peer_ifindex: l.link ?? l.index,
    ...(l.master !== undefined ? { master: l.master } : {}),
  };
  if (l.type === ARPHRD_LOOPBACK) return { e: { type: ND_LOOPBACK, ...base }, external: false };
  const mac = l.address ? { address: l.address } : {};
  const external = l.linkNetnsid !== undefined && l.linkNetnsid >= 0;
  if (l.kind === 'veth') {
    if (external) log.warn(`The ${l.name} veth is in an external netns`);
    return { e: { type: ND_VETH, ...base, ...mac }, external };
  }
  if (l.kind === 'bridge') return { e: { type: ND_BRIDGE, ...base, ...mac }, external: false };
  if (l.kind === 'macvlan') {
    const mode = l.data?.get(IFLA_MACVLAN_MODE);
    if (!mode) throw new CriuError(`${who}: macvlan mode required for ${l.name}`, { object: `link ${l.name}` });
    const flags = l.data?.get(IFLA_MACVLAN_FLAGS);
    return { e: { type: ND_MACVLAN, ...base, ...mac, macvlan: { mode: mode.readUInt32LE(0), ...(flags ? { flags: flags.readUInt16LE(0) } : {}) } }, external };
  }
  if (l.kind === 'tun') return { e: { type: ND_TUN, ...base, ...mac, tun: tunLinkOf(l, who) }, external: false };
  if (pluginCalls().dumpExtLink(l.index, l.type, l.kind ?? '')) return { e: { type: ND_EXTLINK, ...base, ...mac }, external: false };
  throw new NotSupportedError(`${who}: its network namespace has ${name}`, {
    object: `link ${l.name}`,
    hint: 'lo, veth, bridge, macvlan and tun links are dumped; other kinds by a plugin (DUMP_EXT_LINK) only',
  });
}

/**
 * A tun link's entry: its flags, owner and group from rtnetlink; its vnet header size and send
 * buffer through an fd attached to it here (this thread is in its namespace), or, when the
 * tree's fd holds it (EBUSY), from that fd at the end of the dump (fillTunQueues).
 */
function tunLinkOf(l: Link, who: string): TunLinkEntry & { vnethdr?: number; sndbuf?: number } {
  const u8 = (k: number): number => l.data?.get(k)?.readUInt8(0) ?? 0;
  const id = (k: number): number => l.data?.get(k)?.readInt32LE(0) ?? -1;
  if (!l.data?.get(IFLA_TUN.TYPE)) throw new CriuError(`${who}: tun link ${l.name}: rtnetlink shows no tun type`, { object: `link ${l.name}` });
  const flags =
    u8(IFLA_TUN.TYPE) |
    (u8(IFLA_TUN.PI) ? 0 : IFF.NO_PI) |
    (u8(IFLA_TUN.VNET_HDR) ? IFF.VNET_HDR : 0) |
    (u8(IFLA_TUN.PERSIST) ? IFF.PERSIST : 0) |
    (u8(IFLA_TUN.MULTI_QUEUE) ? IFF.MULTI_QUEUE : 0);
  const q = tunQueueOf(l.name, flags);
  return { flags, owner: id(IFLA_TUN.OWNER), group: id(IFLA_TUN.GROUP), ...(q ?? { vnethdr: -1, sndbuf: -1 }) };
}

/** The end of a dump: the tun links whose queue info only the tree's fds could give (vnethdr -1) get it; one no fd of the tree held is refused. */
export function fillTunQueues(all: NetDeviceEntry[], who: string): void {
  for (const n of all) {
    if (n.type !== ND_TUN || !n.tun || n.tun.vnethdr !== -1) continue;
    const q = seenQueue(n.name);
    if (!q)
      throw new NotSupportedError(`${who}: tun link ${n.name} is held by an fd outside the tree`, {
        object: `link ${n.name}`,
        hint: 'a tun link whose queue no task of the tree has open cannot be dumped',
      });
    n.tun = { ...n.tun, ...q };
  }
}

/** Restore: a tun link made (files/tun.ts makeTunLink), a tap's MAC set */
function makeTun(n: NetDeviceEntry): void {
  const t = n.tun;
  if (!t) throw new CriuError(`netdev image: tun link ${n.name} has no tun entry`, 'the images are damaged');
  makeTunLink(n.name, n.ifindex, t);
  if (t.flags & IFF.TAP && n.address?.length)
    rtnl(RTM_SETLINK, NLM_F_ACK, Buffer.concat([ifinfo(n.ifindex), attr(IFLA_ADDRESS, n.address)]), () => {}, `setting the MAC of tap ${n.name}`);
}

// ---------------------------------------------------------------- --external veth[…], --veth-pair

interface Outside {
  name: string;
  bridge?: string;
  /** made by this restore: its bridge is still to be joined */
  made?: boolean;
}
let outside = new Map<string, Outside>();
/** --external macvlan[IN]:OUT: the tool's link a macvlan whose parent was outside is made on */
let macvlanParents = new Map<string, string>();

/** restore: the peers' names outside, from --external veth[IN]:OUT[@BR] and --veth-pair IN=OUT[@BR]; the macvlans' parents from --external macvlan[IN]:OUT */
export function setVethPeers(external: readonly string[], pairs: readonly string[]): void {
  outside = new Map();
  macvlanParents = new Map();
  for (const x of external) {
    if (!x.startsWith('macvlan[')) continue;
    const m = /^macvlan\[([^\]]+)\]:(.+)$/.exec(x);
    if (!m) throw new CriuError(`Invalid external resource ${x}`, 'the form is macvlan[IN]:OUT');
    macvlanParents.set(m[1], m[2]);
  }
  const add = (inName: string, out: string, opt: string) => {
    const [name, bridge] = out.split('@');
    if (!inName || !name) throw new CriuError(`Invalid ${opt}`, 'the forms are --external veth[IN]:OUT[@BRIDGE] and --veth-pair IN=OUT[@BRIDGE]');
    outside.set(inName, { name, ...(bridge ? { bridge } : {}) });
  };
  for (const x of external) {
    const m = /^veth\[([^\]]*)\]:(.*)$/.exec(x);
    if (x.startsWith('veth[')) {
      if (!m) throw new CriuError(`Invalid external resource ${x}`, 'the form is veth[IN]:OUT[@BRIDGE]');
      add(m[1], m[2], `--external ${x}`);
    }
  }
  for (const p of pairs) {
    const i = p.indexOf('=');
    add(p.slice(0, i < 0 ? p.length : i), i < 0 ? '' : p.slice(i + 1), `--veth-pair ${p}`);
  }
}

const linkinfoVeth = (peer: Buffer): Buffer =>
  attr(IFLA_LINKINFO, Buffer.concat([attr(IFLA_INFO_KIND, Buffer.from('veth')), attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer))]));

/** the link's own attributes as RTM_NEWLINK takes them: name, MTU, MAC */
const own = (n: NetDeviceEntry): Buffer[] => [attr(IFLA_IFNAME, n.name), attr(IFLA_MTU, n.mtu), ...(n.address?.length ? [attr(IFLA_ADDRESS, n.address)] : [])];

/** the tool's own network namespace, opened while the tool is there: for links made with an end or a parent outside */
export interface ToolNet {
  netFd: number;
  /** an rtnetlink socket of the tool's namespace */
  rtnl: number;
}

/** whether restoring `all` needs the tool's own namespace (a veth's peer or a macvlan's parent outside) */
export const needsToolNet = (all: NetDeviceEntry[]): boolean => all.some((l) => (l.type === ND_VETH || l.type === ND_MACVLAN) && l.peer_nsid === undefined);

export function openToolNet(): ToolNet {
  const netFd = fs.openSync('/proc/self/ns/net', 'r');
  return { netFd, rtnl: socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE, true) };
}

export function closeToolNet(t: ToolNet | undefined): void {
  if (!t) return;
  fs.closeSync(t.netFd);
  close(t.rtnl);
}

/**
 * Restore, with this thread in the tree's namespace: the links made (veth pairs, bridges,
 * macvlans after the links they sit on), their bridge ports joined, then every link's flags and
 * MTU set (EXTLINKs: made by their plugin). `tool`: the tool's own namespace, for what is outside;
 * `beforeUp`: called once every link exists, before any is set up.
 */
export function restoreLinks(all: NetDeviceEntry[], tool: ToolNet | undefined, beforeUp?: () => void): void {
  const made = new Set<number>();
  const byIndex = new Map(all.map((n) => [n.ifindex, n]));
  const pending = all.filter((n) => n.type !== ND_LOOPBACK && n.type !== ND_EXTLINK);
  for (const n of pending) {
    if (!KIND[n.type])
      throw new NotSupportedError(`netdev image: link ${n.name} (type ${n.type})`, 'lo, veth, bridge, macvlan and tun links are restored; other kinds not yet');
  }
  // a macvlan on a link inside waits for it
  for (let left = pending.filter((n) => !made.has(n.ifindex)); left.length; left = left.filter((n) => !made.has(n.ifindex))) {
    const ready = left.filter(
      (n) =>
        n.type !== ND_MACVLAN ||
        n.peer_nsid === undefined ||
        made.has(n.peer_ifindex ?? 0) ||
        byIndex.get(n.peer_ifindex ?? 0)?.type === ND_LOOPBACK ||
        byIndex.get(n.peer_ifindex ?? 0)?.type === ND_EXTLINK,
    );
    if (!ready.length)
      throw new CriuError(
        `netdev image: macvlan ${left[0].name} sits on link ${left[0].peer_ifindex}, which the image does not make`,
        'the images are damaged',
      );
    for (const n of ready) if (!made.has(n.ifindex)) makeLink(n, all, made, tool);
  }
  for (const n of all) if (n.master !== undefined) setMaster(n, byIndex.get(n.master));
  beforeUp?.();
  for (const n of all) setLink(n);
  // the tun fds attach to their links with the links' flags
  setTunLinks(new Map(all.filter((n) => n.type === ND_TUN && n.tun).map((n) => [n.name, n.tun!])));
}

function makeLink(n: NetDeviceEntry, all: NetDeviceEntry[], made: Set<number>, tool: ToolNet | undefined): void {
  log.info(`Restoring link ${n.name} type ${n.type}`);
  if (n.type === ND_VETH) return makeVeth(n, all, made, tool);
  made.add(n.ifindex);
  if (n.type === ND_TUN) return makeTun(n);
  if (n.type === ND_BRIDGE) {
    rtnl(
      RTM_NEWLINK,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      Buffer.concat([ifinfo(n.ifindex), ...own(n), attr(IFLA_LINKINFO, attr(IFLA_INFO_KIND, Buffer.from('bridge')))]),
      () => {},
      `making bridge ${n.name} (ifindex ${n.ifindex})`,
    );
    return;
  }
  // macvlan
  const mv = n.macvlan;
  if (!mv) throw new CriuError(`Missing macvlan link entry ${n.ifindex}`, 'the images are damaged');
  const data = Buffer.concat([attr(IFLA_MACVLAN_MODE, mv.mode), ...(mv.flags !== undefined ? [attr16(IFLA_MACVLAN_FLAGS, mv.flags)] : [])]);
  const info = attr(IFLA_LINKINFO, Buffer.concat([attr(IFLA_INFO_KIND, Buffer.from('macvlan')), attr(IFLA_INFO_DATA, data)]));
  if (n.peer_nsid !== undefined) {
    const body = Buffer.concat([ifinfo(n.ifindex), ...own(n), attr(IFLA_LINK, n.peer_ifindex ?? 0), info]);
    rtnl(RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body, () => {}, `making macvlan ${n.name} (ifindex ${n.ifindex}) on link ${n.peer_ifindex}`);
    return;
  }
  const parent = macvlanParents.get(n.name);
  if (!parent)
    throw new CriuError(`a macvlan parent for ${n.name} is required`, {
      object: `link ${n.name}`,
      hint: `name the tool's link it is made on: --external macvlan[${n.name}]:LINK`,
    });
  if (!tool) throw new CriuError(`macvlan ${n.name}: the tool's own network namespace is not open`);
  // made from the tool's namespace, where its parent is, into the tree's (this thread's)
  const parentIndex = linkIndexVia(tool.rtnl, parent, `macvlan ${n.name}`);
  const target = fs.openSync('/proc/thread-self/ns/net', 'r');
  try {
    const body = Buffer.concat([ifinfo(n.ifindex), ...own(n), attr(IFLA_LINK, parentIndex), attr(IFLA_NET_NS_FD, target), info]);
    rtnl(
      RTM_NEWLINK,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      body,
      () => {},
      `making macvlan ${n.name} (ifindex ${n.ifindex}) on the tool's link ${parent}`,
      tool.rtnl,
    );
  } finally {
    fs.closeSync(target);
  }
}

function makeVeth(n: NetDeviceEntry, all: NetDeviceEntry[], made: Set<number>, tool: ToolNet | undefined): void {
  const peer = all.find((p) => p !== n && p.ifindex === n.peer_ifindex && n.peer_nsid !== undefined && p.type === ND_VETH);
  let peerInfo: Buffer;
  if (peer) {
    // both ends inside: one request makes both, each with its ifindex, name, MTU and MAC
    peerInfo = Buffer.concat([ifinfo(peer.ifindex), ...own(peer)]);
    made.add(peer.ifindex);
  } else {
    const out = outside.get(n.name);
    if (!out)
      throw new CriuError(`veth ${n.name} (ifindex ${n.ifindex}): its peer was outside the dumped network namespace, and no name is given for it`, {
        object: `link ${n.name}`,
        hint: `name the peer the tool makes in its own namespace: --external veth[${n.name}]:NAME[@BRIDGE] or --veth-pair ${n.name}=NAME`,
      });
    if (!tool) throw new CriuError(`veth ${n.name}: the tool's own network namespace is not open`);
    peerInfo = Buffer.concat([ifinfo(0), attr(IFLA_IFNAME, out.name), attr(IFLA_NET_NS_FD, tool.netFd)]);
    out.made = true;
  }
  const body = Buffer.concat([ifinfo(n.ifindex), ...own(n), linkinfoVeth(peerInfo)]);
  rtnl(
    RTM_NEWLINK,
    NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
    body,
    () => {},
    `making veth ${n.name} (ifindex ${n.ifindex})${peer ? ` with its peer ${peer.name}` : ''}`,
  );
  made.add(n.ifindex);
}

/** a bridge port joins its bridge (CRIU's restore_master_link) */
function setMaster(n: NetDeviceEntry, master: NetDeviceEntry | undefined): void {
  if (!master) throw new CriuError(`Unable to find the ${n.master} master of link ${n.name}`, 'the images are damaged');
  rtnl(RTM_SETLINK, NLM_F_ACK, Buffer.concat([ifinfo(n.ifindex), attr(IFLA_MASTER, master.ifindex)]), () => {}, `adding ${n.name} to bridge ${master.name}`);
}

/** the ifindex of link `name` of the namespace of the rtnetlink socket `fd` */
function linkIndexVia(fd: number, name: string, who: string): number {
  let index = 0;
  rtnl(
    RTM_GETLINK,
    NLM_F_ACK, // one answer and no NLMSG_DONE: the ack ends it
    Buffer.concat([ifinfo(0), attr(IFLA_IFNAME, name)]),
    (p) => (index = p.readInt32LE(4)),
    `${who}: looking up the tool's link ${name}`,
    fd,
  );
  if (!index) throw new CriuError(`${who}: the tool's namespace has no link ${name}`, { object: `link ${name}` });
  return index;
}

const attr16 = (type: number, v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v, 0);
  return attr(type, b);
};

/** RTM_SETLINK: the link's flags (ifi_change 0: all of them, as CRIU's restore_link_parms) and MTU */
function setLink(nde: NetDeviceEntry): void {
  const body = Buffer.concat([ifinfo(nde.ifindex, nde.flags), attr(IFLA_MTU, nde.mtu)]);
  rtnl(RTM_SETLINK, NLM_F_ACK, body, () => {}, `setting the flags and MTU of link ${nde.name} (ifindex ${nde.ifindex})`);
}

/** with the tool back in its own namespace: each veth peer made with @BRIDGE put into it and set up (move_veth_to_bridge) */
export function vethPeersToBridges(): void {
  const todo = [...outside.values()].filter((o) => o.bridge && o.made);
  if (!todo.length) return;
  const here = links();
  for (const o of todo) {
    o.made = false;
    log.debug(`\tMoving dev ${o.name} to bridge ${o.bridge}`);
    const dev = here.find((l) => l.name === o.name);
    const br = here.find((l) => l.name === o.bridge);
    if (!dev) throw new CriuError(`Can't get index of ${o.name}`, { object: `link ${o.name}` });
    if (!br)
      throw new CriuError(`Can't add interface ${o.name} to bridge ${o.bridge}: there is no link ${o.bridge}`, {
        object: `link ${o.bridge}`,
        hint: "the bridge must exist in the tool's network namespace",
      });
    rtnl(
      RTM_SETLINK,
      NLM_F_ACK,
      Buffer.concat([ifinfo(dev.index, IFF_UP, IFF_UP), attr(IFLA_MASTER, br.index)]),
      () => {},
      `adding ${o.name} to bridge ${o.bridge}`,
    );
  }
}

/**
 * A network namespace made empty (--empty-ns net, which runc always gives): lo is set up, as
 * runc's `loopback` network had it. CRIU 4.2 leaves it down (its issue 590), so that a
 * container's TCP connections over 127.0.0.1 fail to come back ("Network is unreachable").
 */
export function emptyNetLoUp(): void {
  rtnl(RTM_SETLINK, NLM_F_ACK, ifinfo(1 /* lo, in every network namespace */, IFF_UP, IFF_UP), () => {}, 'setting lo up');
}
