// Netlink sockets, as CRIU 4.2's sk-netlink.c keeps them (netlink_sk_entry in files.img):
// protocol, bound port id, the multicast group bitmap, the destination of a connected socket,
// status flags, fown and the socket options (sk_opts_entry with SO_PASSCRED/SO_PASSSEC, as
// dump_socket_opts does for AF_NETLINK). What the kernel shows comes from NETLINK_SOCK_DIAG
// (netdiag.ts: the bound sockets and those in a group); a socket it does not show is unbound and
// unconnected, its protocol read with SO_PROTOCOL, and carries no ns_id, as CRIU writes it.
//
// Beyond CRIU 4.2: groups above 32 (rtnetlink has 36 and more; `ip monitor` joins 32 and 36)
// are kept in the further words of `groups` and joined again with NETLINK_ADD_MEMBERSHIP (CRIU
// refuses such a socket), and so is a socket in groups that is not bound (CRIU refuses it too).
//
// As CRIU: a socket with messages waiting to be read is refused (CRIU's "The socket has data to
// read"); on restore the port id is bound again, and when the kernel gives it to someone else a
// new one is taken with a warning (CRIU's "reassigned new port"). netlink_sk_entry has no field
// for the NETLINK_* socket options: those that change what the task receives (NETLINK_PKTINFO,
// NETLINK_BROADCAST_ERROR, NETLINK_NO_ENOBUFS, NETLINK_LISTEN_ALL_NSID, NETLINK_CAP_ACK) and a
// dump in progress are refused by name; NETLINK_EXT_ACK and NETLINK_GET_STRICT_CHK (extended
// error answers, strict checks of the task's own requests) are lost with a warning, as CRIU
// loses them all.
import type { FileKind, DumpFdCtx, RestoreFdCtx } from './kind.js';
import { partOf } from './kind.js';
import { FdTypes, type FileEntry, type NetlinkSkEntry, type SkOptsEntry } from '../images/gen/types.js';
import { netlinkSockets, type NetlinkDiag } from './netdiag.js';
import { dumpFown, fileFlags, where, restoreFileParams } from './fdparams.js';
import { dumpSkOpts, restoreSkOpts, geti, seti } from './inet-opts.js';
import { socketFamilyAt, checkSockNetNs } from './sk-family.js';
import { socket, close, errnoName, SysError, E } from '../sys/libc.js';
import { bindRaw, connectRaw, pollNow } from '../sys/net.js';
import { AF_NETLINK, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET } from '../sys/socket-consts.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { log } from '../log.js';

const SO_PROTOCOL = 38,
  SO_PASSCRED = 16,
  SO_PASSSEC = 34;
const SOL_NETLINK = 270,
  NETLINK_ADD_MEMBERSHIP = 1,
  NETLINK_EXT_ACK = 11,
  NETLINK_GET_STRICT_CHK = 12;
const NETLINK_CONNECTED = 1;
const POLLIN = 1;

/** NDIAG_FLAG_* the image cannot keep and whose loss changes what the task gets */
const REFUSED_FLAGS: [number, string][] = [
  [0x1, 'a dump in progress (NDIAG_FLAG_CB_RUNNING)'],
  [0x2, 'NETLINK_PKTINFO'],
  [0x4, 'NETLINK_BROADCAST_ERROR'],
  [0x8, 'NETLINK_NO_ENOBUFS'],
  [0x10, 'NETLINK_LISTEN_ALL_NSID'],
  [0x20, 'NETLINK_CAP_ACK'],
];

const PROTOCOLS: Record<number, string> = {
  0: 'route',
  1: 'unused',
  2: 'usersock',
  3: 'firewall',
  4: 'sock_diag',
  5: 'nflog',
  6: 'xfrm',
  7: 'selinux',
  8: 'iscsi',
  9: 'audit',
  10: 'fib_lookup',
  11: 'connector',
  12: 'netfilter',
  13: 'ip6_fw',
  14: 'dnrtmsg',
  15: 'kobject_uevent',
  16: 'generic',
  18: 'scsitransport',
  19: 'ecryptfs',
  20: 'rdma',
  21: 'crypto',
  22: 'smc',
};
export const netlinkProtoName = (p: number): string => PROTOCOLS[p] ?? `protocol ${p}`;

let diag: { at: number; map: Map<number, NetlinkDiag> } | null = null;
function netlinkDiag(ino: number, who: string): NetlinkDiag | undefined {
  if (!diag || Date.now() - diag.at > 200 || !diag.map.has(ino)) {
    const m = netlinkSockets();
    if (typeof m === 'number')
      throw new CriuError(`${who}: sock_diag: error ${errnoName(m)} for netlink sockets`, {
        object: 'NETLINK_SOCK_DIAG (netlink sockets)',
        hint: 'the kernel needs CONFIG_NETLINK_DIAG to show netlink sockets',
      });
    diag = { at: Date.now(), map: m };
  }
  return diag.map.get(ino);
}

/** The groups as CRIU writes them: the diag bitmap's 32-bit words without the padding words at the end. */
function groupWords(g: number[] | undefined): number[] {
  if (!g?.length) return [];
  const w = [...g];
  // CRIU drops one empty last word (the bitmap is made of 64-bit longs); more only when CRIU would refuse anyway
  if (w[w.length - 1] === 0) w.pop();
  while (w.length > 1 && w[w.length - 1] === 0) w.pop();
  return w;
}

function groupList(words: number[]): number[] {
  const out: number[] = [];
  words.forEach((w, i) => {
    for (let b = 0; b < 32; b++) if ((w >>> b) & 1) out.push(i * 32 + b + 1);
  });
  return out;
}

/** the sk_opts_entry of an AF_NETLINK socket (dump_socket_opts adds SO_PASSCRED and SO_PASSSEC) */
function netlinkOpts(fd: number, who: string): SkOptsEntry {
  return { ...dumpSkOpts(fd, who), so_passcred: geti(fd, SOL_SOCKET, SO_PASSCRED) !== 0, so_passsec: geti(fd, SOL_SOCKET, SO_PASSSEC) !== 0 };
}

/** A NETLINK_* flag the kernel shows with getsockopt only (0 when this kernel does not know it). */
function nlFlag(fd: number, opt: number): number {
  try {
    return geti(fd, SOL_NETLINK, opt);
  } catch (e) {
    if (e instanceof SysError && e.errno === E.ENOPROTOOPT) return 0;
    throw e;
  }
}

function refuseFlags(fd: number, d: NetlinkDiag | undefined, what: string, who: string, ino: number): void {
  const obj = { object: `socket:[${ino}]` };
  for (const [bit, name] of REFUSED_FLAGS)
    if ((d?.flags ?? 0) & bit)
      throw new NotSupportedError(`${who}: ${what} with ${name}`, {
        ...obj,
        hint: 'netlink_sk_entry has no field for it (CRIU 4.2 loses it); clear the option first',
      });
  if (pollNow(fd, POLLIN) & POLLIN)
    throw new NotSupportedError(`${who}: ${what} with messages queued to be read`, {
      ...obj,
      hint: 'CRIU 4.2 refuses it too ("The socket has data to read"); dump when the task has read its messages',
    });
  for (const [opt, name, lost] of [
    [NETLINK_EXT_ACK, 'NETLINK_EXT_ACK', 'error answers come without extended acks'],
    [NETLINK_GET_STRICT_CHK, 'NETLINK_GET_STRICT_CHK', 'the kernel checks dump requests less strictly'],
  ] as const)
    if (nlFlag(fd, opt)) log.warn(`${who}: ${name} of ${what} is not kept (netlink_sk_entry has no field for it, CRIU 4.2 drops it too): ${lost}`);
}

function dumpNetlink(ctx: DumpFdCtx, id: number): FileEntry {
  const who = where(ctx, ctx.link.raw);
  const ino = ctx.link.ino!;
  const fd = ctx.takeFd();
  checkSockNetNs(fd, who);
  const d = netlinkDiag(ino, who);
  const protocol = d ? d.protocol : geti(fd, SOL_SOCKET, SO_PROTOCOL);
  const groups = groupWords(d?.groups);
  const what = `a netlink ${netlinkProtoName(protocol)} socket${d?.portid ? ` (port id ${d.portid})` : ''}`;
  refuseFlags(fd, d, what, who, ino);
  const ne: NetlinkSkEntry = {
    id,
    ino,
    protocol,
    state: d?.state ?? 0,
    flags: fileFlags(ctx),
    portid: d?.portid ?? 0,
    groups,
    dst_portid: d?.dstPortid ?? 0,
    dst_group: d?.dstGroup ?? 0,
    fown: dumpFown(ctx, fd, ctx.link.raw),
    opts: netlinkOpts(fd, who),
  };
  // CRIU names the network namespace of the sockets sock_diag showed
  if (d && ctx.inet) ne.ns_id = ctx.inet.netNsId;
  log.debug(
    `${who}: ${what}, groups ${groupList(groups).join(',') || 'none'}${ne.state === NETLINK_CONNECTED ? `, connected to ${ne.dst_portid}/${ne.dst_group}` : ''}`,
  );
  return { type: FdTypes.NETLINKSK, id, nlsk: ne };
}

// ---------------------------------------------------------------- restore

function sockaddrNl(pid: number, groups: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  b.writeUInt32LE(pid >>> 0, 4);
  b.writeUInt32LE(groups >>> 0, 8);
  return b;
}

function bindSaved(fd: number, ne: NetlinkSkEntry, who: string): void {
  const first = ne.groups?.[0] ?? 0;
  try {
    bindRaw(fd, sockaddrNl(ne.portid, first), `netlink port id ${ne.portid}`);
  } catch (e) {
    if (!(e instanceof SysError) || e.errno !== E.EADDRINUSE) throw e;
    // port ids are mostly the kernel's choice, made from a pid: CRIU takes a new one then
    bindRaw(fd, sockaddrNl(0, first), 'netlink port id 0');
    log.warn(`${who}: netlink socket ${ne.ino}: port id ${ne.portid} is taken, reassigned a new port (as CRIU does)`);
  }
}

function openNetlink(_ctx: RestoreFdCtx, e: FileEntry, _s: unknown, who: string): number {
  const ne = partOf(e, 'nlsk', who);
  const obj = { object: `socket:[${ne.ino}]` };
  const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, ne.protocol);
  try {
    const groups = groupList(ne.groups ?? []);
    // groups 1..32 come with the bind, the others (and all of them on an unbound socket) by membership
    if (ne.portid) bindSaved(fd, ne, who);
    for (const g of groups.filter((x) => !ne.portid || x > 32)) {
      try {
        seti(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g);
      } catch (err) {
        throw new CriuError(`${who}: netlink socket ${ne.ino}: cannot join group ${g}: ${(err as Error).message}`, obj);
      }
    }
    if (ne.state === NETLINK_CONNECTED) {
      const dg = ne.dst_group ? (1 << (ne.dst_group - 1)) >>> 0 : 0;
      connectRaw(fd, sockaddrNl(ne.dst_portid, dg), `netlink port id ${ne.dst_portid} group ${ne.dst_group}`);
    }
    restoreFileParams(fd, ne.flags, ne.fown);
    restoreSkOpts(fd, ne.opts);
    if (ne.opts.so_passcred) seti(fd, SOL_SOCKET, SO_PASSCRED, 1);
    if (ne.opts.so_passsec) seti(fd, SOL_SOCKET, SO_PASSSEC, 1);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

export const netlinkKind: FileKind = {
  name: 'netlink',
  type: FdTypes.NETLINKSK,
  field: 'nlsk',
  // above inet (590), which takes every socket unix does not
  priority: 597,
  match: (link, _info, at) => link.kind === 'socket' && link.ino !== undefined && at !== undefined && socketFamilyAt(at.pid, at.fd) === AF_NETLINK,
  dump: dumpNetlink,
  open: openNetlink,
};
