// The links of a tree's network namespace (CRIU's net.c dump_links / restore_links), read and
// made over rtnetlink from the tool's thread in the namespace: lo (its flags and MTU), and veth
// devices: both ends inside (the first made with its peer, by their ifindexes, names, MTUs and
// MACs), or the peer outside (CRIU: "a connection to the outer world": only this end dumped;
// restored with the peer in the tool's network namespace, named by --external veth[IN]:OUT or
// --veth-pair IN=OUT, put into bridge BR and set up with @BR, as CRIU's move_veth_to_bridge).
// Any other kind of link is refused by name; so is a link enslaved to a master (bridges inside
// the namespace are not dumped yet).
import type { NetDeviceEntry } from '../images/index.js';
import { socket, close, errnoName } from '../sys/libc.js';
import { netlinkExchange, NLMSG_HDR } from '../sys/netlink.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';

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
  IFF_UP = 1;

export const ND_VETH = 2;
const ND_LOOPBACK = 1,
  ARPHRD_LOOPBACK = 772;

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
function rtnl(type: number, flags: number, body: Buffer, each: (payload: Buffer) => void, what = `rtnetlink request ${type}`): void {
  // made straight from this thread (in the namespace), not through setSocketNetns
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE, true);
  try {
    const err = netlinkExchange(fd, type, flags, body, (buf, o, len) => each(Buffer.from(buf.subarray(o + NLMSG_HDR, o + len))));
    if (err) throw new CriuError(`${what} in the network namespace: ${errnoName(err)}`, { object: 'rtnetlink' });
  } finally {
    close(fd);
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
    const kind = info ? cstr(attrs(info, 0, info.length).get(IFLA_INFO_KIND)) : undefined;
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
    });
  });
  return out.sort((x, y) => x.index - y.index);
}

/**
 * The dump's entry of a link (conf4/conf6 added by the caller); `external`: a veth whose peer is
 * in another namespace (no peer_nsid is written for it). Refuses what is not dumped yet.
 */
export function linkEntry(l: Link, who: string): { e: NetDeviceEntry; external: boolean } {
  const name = `the link ${l.name} (${l.kind ?? `type ${l.type}`}, ifindex ${l.index})`;
  if (l.master !== undefined)
    throw new NotSupportedError(`${who}: its network namespace has ${name} enslaved to link ${l.master}`, 'bridges and bonds are not dumped yet');
  const base = { ifindex: l.index, mtu: l.mtu, flags: l.flags, name: l.name, peer_ifindex: l.link ?? l.index };
  if (l.type === ARPHRD_LOOPBACK) return { e: { type: ND_LOOPBACK, ...base }, external: false };
  if (l.kind !== 'veth') throw new NotSupportedError(`${who}: its network namespace has ${name}`, 'lo and veth links are dumped; other kinds not yet');
  const external = l.linkNetnsid !== undefined && l.linkNetnsid >= 0;
  if (external) log.warn(`The ${l.name} veth is in an external netns`);
  return { e: { type: ND_VETH, ...base, ...(l.address ? { address: l.address } : {}) }, external };
}

// ---------------------------------------------------------------- --external veth[…], --veth-pair

interface Outside {
  name: string;
  bridge?: string;
  /** made by this restore: its bridge is still to be joined */
  made?: boolean;
}
let outside = new Map<string, Outside>();

/** restore: the peers' names outside, from --external veth[IN]:OUT[@BR] and --veth-pair IN=OUT[@BR] */
export function setVethPeers(external: readonly string[], pairs: readonly string[]): void {
  outside = new Map();
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

/**
 * Restore: the links made (veth pairs) and every link's flags and MTU set; `externalFd` an fd of
 * the tool's own network namespace, for peers outside. Then veth peers outside go into their bridges.
 */
export function restoreLinks(all: NetDeviceEntry[], externalFd: number | undefined): void {
  const made = new Set<number>();
  for (const n of all) {
    if (n.type === ND_LOOPBACK || made.has(n.ifindex)) continue;
    if (n.type !== ND_VETH) throw new NotSupportedError(`netdev image: link ${n.name} (type ${n.type})`, 'lo and veth links are restored; other kinds not yet');
    log.info(`Restoring link ${n.name} type ${n.type}`);
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
      if (externalFd === undefined) throw new CriuError(`veth ${n.name}: the tool's own network namespace is not open`);
      peerInfo = Buffer.concat([ifinfo(0), attr(IFLA_IFNAME, out.name), attr(IFLA_NET_NS_FD, externalFd)]);
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
  for (const n of all) setLink(n);
}

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
