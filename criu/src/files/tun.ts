// tun/tap fds (CRIU's tun.c): an fd of /dev/net/tun, attached with TUNSETIFF to a tun or tap
// link of the tree's network namespace (or not attached yet). As CRIU writes it, the file is two
// entries of one id in files.img: a REG one (the path, its flags, position and owner) and a TUNF
// one (the link's name, whether this queue is detached, the namespace's id); the loader merges
// them (restore/images.ts), the writer splits them (dump/write.ts). The link itself (its flags,
// owner, group, vnet header size and send buffer) is the network namespace's netdev entry
// (ns/net-links.ts): its vnet header size and send buffer are read here, from the tree's fd,
// where nothing else can attach to it. At the restore the link is made persistent first
// (ns/net-links.ts), each fd is opened in the tree's namespace and attached with the link's
// flags (a detached queue detached again), and a link that was not persistent at the dump is
// made so again by its first fd, so that it goes with its last one, as before. The link's side
// of the ioctls (its queue info at the dump, its making at the restore) is here too
// (tunQueueOf, makeTunLink), called by ns/net-links.ts.
import * as fs from 'node:fs';
import type { FileKind } from './kind.js';
import { FileError, partOf } from './kind.js';
import { fileFlags, dumpFown, restoreFileParams, where, O_CLOEXEC } from './fdparams.js';
import { FdTypes, type FileEntry, type TunLinkEntry } from '../images/gen/types.js';
import { ioctl, close, SysError, errnoName, E } from '../sys/libc.js';
import { CriuError, NotSupportedError } from '../errors.js';
import { inTreeNetns, treeNetnsPid } from '../net/tree-netns.js';
import { log } from '../log.js';

export const TUN = {
  SETIFF: 0x400454ca,
  SETPERSIST: 0x400454cb,
  SETOWNER: 0x400454cc,
  SETGROUP: 0x400454ce,
  GETIFF: 0x800454d2,
  GETSNDBUF: 0x800454d3,
  SETSNDBUF: 0x400454d4,
  GETVNETHDRSZ: 0x800454d7,
  SETVNETHDRSZ: 0x400454d8,
  SETQUEUE: 0x400454d9,
  SETIFINDEX: 0x400454da,
} as const;
export const IFF = {
  TUN: 1,
  TAP: 2,
  MULTI_QUEUE: 0x100,
  ATTACH_QUEUE: 0x200,
  DETACH_QUEUE: 0x400,
  PERSIST: 0x800,
  NO_PI: 0x1000,
  VNET_HDR: 0x4000,
  TUN_EXCL: 0x8000,
};
const TUN_DEV = '/dev/net/tun';
const EBADFD = 77; // not in os.constants.errno

/** struct ifreq with a name and flags */
export function ifreq(name: string, flags: number): Buffer {
  const b = Buffer.alloc(40);
  b.write(name.slice(0, 15), 0, 'latin1');
  b.writeUInt16LE(flags & 0xffff, 16);
  return b;
}

const intOf = (fd: number, req: number): number => {
  const b = Buffer.alloc(4);
  ioctl(fd, req, b);
  return b.readInt32LE(0);
};

/** the per-link values only an attached fd shows: its vnet header size and send buffer */
export interface TunQueueInfo {
  vnethdr: number;
  sndbuf: number;
}
const queueInfo = (fd: number): TunQueueInfo => ({ vnethdr: intOf(fd, TUN.GETVNETHDRSZ), sndbuf: intOf(fd, TUN.GETSNDBUF) });

/** one ioctl step of making or attaching a tun link, its failure named by `fail` */
function step(what: string, f: () => void, fail: (why: string) => Error): void {
  try {
    f();
  } catch (err) {
    throw fail(`${what}: ${err instanceof SysError ? errnoName(err.errno) : (err as Error).message}`);
  }
}

// ---- dump: what the tree's fds show of their links, by link name (the tree has one network namespace); cleared after each dump
const seen = new Map<string, TunQueueInfo>();
/** the vnet header size and send buffer of link `name`, as a tree's fd on it showed them (ns/net-links.ts, when it writes the netdev entries) */
export const seenQueue = (name: string): TunQueueInfo | undefined => seen.get(name);

/**
 * The vnet header size and send buffer of link `name` (with these flags), through an fd attached
 * to it here, with this thread in its namespace; undefined when a queue of the tree holds it
 * (EBUSY): the tree's fd then tells (seenQueue).
 */
export function tunQueueOf(name: string, flags: number): TunQueueInfo | undefined {
  const fd = fs.openSync(TUN_DEV, fs.constants.O_RDWR);
  try {
    ioctl(fd, TUN.SETIFF, ifreq(name, flags & ~IFF.PERSIST));
    return queueInfo(fd);
  } catch (e) {
    if (!(e instanceof SysError && e.errno === E.EBUSY)) throw e;
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Restore, this thread in the tree's namespace: a tun link made persistent, with its ifindex, flags, owner, group, vnet header size and send buffer (CRIU's restore_tun_link) */
export function makeTunLink(name: string, ifindex: number, t: TunLinkEntry): void {
  const fd = fs.openSync(TUN_DEV, fs.constants.O_RDWR);
  const fail = (why: string): Error => new CriuError(`making tun link ${name} (ifindex ${ifindex}): ${why}`, { object: `link ${name}` });
  const int = (v: number): Buffer => Buffer.from(new Int32Array([v]).buffer);
  try {
    step('TUNSETIFINDEX', () => ioctl(fd, TUN.SETIFINDEX, int(ifindex)), fail);
    step('TUNSETIFF', () => ioctl(fd, TUN.SETIFF, ifreq(name, (t.flags & ~IFF.PERSIST) | IFF.TUN_EXCL)), fail);
    step('TUNSETVNETHDRSZ', () => ioctl(fd, TUN.SETVNETHDRSZ, int(t.vnethdr)), fail);
    step('TUNSETSNDBUF', () => ioctl(fd, TUN.SETSNDBUF, int(t.sndbuf)), fail);
    if (t.owner >= 0) step('TUNSETOWNER', () => ioctl(fd, TUN.SETOWNER, t.owner), fail);
    if (t.group >= 0) step('TUNSETGROUP', () => ioctl(fd, TUN.SETGROUP, t.group), fail);
    // kept by itself until the tree's fds attach (attach below), which drop this when the link had it not
    step('TUNSETPERSIST', () => ioctl(fd, TUN.SETPERSIST, 1), fail);
  } finally {
    fs.closeSync(fd);
  }
}

// ---- restore: the links' entries (ns/net-links.ts gives them), for the fds' flags
let links = new Map<string, TunLinkEntry>();
export function setTunLinks(l: Map<string, TunLinkEntry>): void {
  links = l;
}

export const tunKind: FileKind = {
  name: 'tun',
  type: FdTypes.TUNF,
  field: 'tunf',
  priority: 460,
  match: (_link, info) => info.other.iff !== undefined,
  hooks: { afterDump: () => seen.clear() },
  dump: (ctx, id): FileEntry => {
    const what = where(ctx, 'tun');
    if (treeNetnsPid() < 0)
      throw new NotSupportedError(`${what}: a tun device of the tool's own network namespace`, {
        task: ctx.pid,
        object: `fd ${ctx.fd}`,
        hint: 'Net namespace is required to dump tun link: the tree must have a network namespace of its own',
      });
    const fd = ctx.takeFd();
    const reg = { id, flags: fileFlags(ctx), pos: ctx.info.pos, fown: dumpFown(ctx, fd, 'tun'), name: TUN_DEV };
    const ifr = Buffer.alloc(40);
    let netdev: string | undefined;
    let detached = false;
    try {
      ioctl(fd, TUN.GETIFF, ifr);
      netdev = ifr.toString('latin1', 0, 16).replace(/\0.*$/s, '');
      const flags = ifr.readUInt16LE(16);
      detached = (flags & IFF.DETACH_QUEUE) !== 0;
      seen.set(netdev, queueInfo(fd));
      log.info(`Dumping tun-file ${ctx.fd} with id 0x${id.toString(16)}: attached to device ${netdev} (flags ${flags.toString(16)})`);
    } catch (e) {
      // EBADFD: an open /dev/net/tun not attached to any device yet
      if (!(e instanceof SysError && e.errno === EBADFD)) throw e;
    }
    return { type: FdTypes.TUNF, id, tunf: { id, ...(netdev ? { netdev } : {}), ...(detached ? { detached } : {}) }, reg };
  },
  open: (_ctx, e, _s, who) => {
    const t = partOf(e, 'tunf', who);
    const reg = e.reg;
    return inTreeNetns(() => {
      let fd: number;
      try {
        fd = fs.openSync(TUN_DEV, fs.constants.O_RDWR | O_CLOEXEC);
      } catch (err) {
        throw new FileError(who, `cannot open ${TUN_DEV}: ${(err as Error).message}`, { object: TUN_DEV, hint: 'the tun module must be loaded' });
      }
      try {
        if (t.netdev) attach(fd, t.netdev, t.detached === true, who);
        restoreFileParams(fd, reg?.flags ?? fs.constants.O_RDWR, reg?.fown);
        return fd;
      } catch (err) {
        close(fd);
        throw err;
      }
    });
  },
};

/** the fd attached to link `name` with its flags; a detached queue detached again; a link that was not persistent made so again */
function attach(fd: number, name: string, detached: boolean, who: string): void {
  const l = links.get(name);
  if (!l)
    throw new FileError(who, `the tun file's link ${name} is not in the network namespace's images`, {
      object: `link ${name}`,
      hint: 'the images are damaged',
    });
  const fail = (why: string): Error => new FileError(who, `tun file of link ${name}: ${why}`, { object: `link ${name}` });
  step('TUNSETIFF', () => ioctl(fd, TUN.SETIFF, ifreq(name, l.flags & ~IFF.PERSIST)), fail);
  if (detached) step('TUNSETQUEUE IFF_DETACH_QUEUE', () => ioctl(fd, TUN.SETQUEUE, ifreq('', IFF.DETACH_QUEUE)), fail);
  if (!(l.flags & IFF.PERSIST)) step('TUNSETPERSIST 0', () => ioctl(fd, TUN.SETPERSIST, 0), fail);
}
