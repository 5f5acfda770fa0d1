// What the dumps of TCP/UDP sockets (inet.ts) and of raw and ping sockets (inet-raw.ts) write
// alike: the inet_sk_entry of CRIU's dump_one_inet_fd (addresses as 32-bit words, flags, fown,
// socket and IP options, the network namespace of a socket inet_diag showed, IPV6_V6ONLY and the
// interface of a link-local address), and the address conversions both restores use.
import type { DumpFdCtx } from './kind.js';
import type { InetSkEntry } from '../images/gen/types.js';
import { dumpFown, fileFlags } from './fdparams.js';
import { SOL_IPV6, IPV6_V6ONLY, geti, boundDev, dumpSkOpts } from './inet-opts.js';
import { AF_INET6 } from '../sys/net.js';
import { CriuError } from '../errors.js';

/** Addresses as inet_sk_entry keeps them: 32-bit words of the address bytes as they lie in memory. */
export const words = (b: Buffer, family: number): number[] => Array.from({ length: family === AF_INET6 ? 4 : 1 }, (_, i) => b.readUInt32LE(i * 4));
/** The 16 address bytes of an entry's words. */
export function bytesOf(w: number[] | undefined, family: number): Buffer {
  const b = Buffer.alloc(16);
  (w ?? []).slice(0, family === AF_INET6 ? 4 : 1).forEach((x, i) => b.writeUInt32LE(x >>> 0, i * 4));
  return b;
}

/** link-local (fe80::/10) and link/node-scoped multicast addresses need the interface to bind */
export function needsScopeId(a: Buffer): boolean {
  if (a[0] === 0xff && (a[1] & 0x0f) <= 2 && (a[1] & 0x03) !== 0) return true;
  return a[0] === 0xfe && (a[1] & 0xc0) === 0x80;
}

/** The state and addresses of a socket, as CRIU's inet_sk_desc. */
export interface InetDesc {
  state: number;
  src: Buffer;
  srcPort: number;
  dst: Buffer;
  dstPort: number;
  wqueue: number;
  /** shown by a diag (inet_diag, raw_diag): the entry then names the network namespace */
  fromDiag?: boolean;
}

/**
 * The inet_sk_entry of socket `fd` (the tool's copy of the task's fd of `ctx`); `own` holds the
 * parts of its kind (ip_opts, tcp_opts), `what` and `who` name it in a refusal.
 */
export function inetSkEntry(
  ctx: DumpFdCtx,
  fd: number,
  id: number,
  k: { family: number; type: number; proto: number },
  d: InetDesc,
  own: Pick<InetSkEntry, 'ip_opts' | 'tcp_opts'>,
  what: string,
  who: string,
): InetSkEntry {
  const ino = ctx.link.ino!;
  const ie: InetSkEntry = {
    id,
    ino,
    family: k.family,
    type: k.type,
    proto: k.proto,
    state: d.state,
    src_port: d.srcPort,
    dst_port: d.dstPort,
    flags: fileFlags(ctx),
    backlog: d.wqueue,
    src_addr: words(d.src, k.family),
    dst_addr: words(d.dst, k.family),
    fown: dumpFown(ctx, fd, ctx.link.raw),
    opts: dumpSkOpts(fd, who),
    ...own,
  };
  // CRIU names the network namespace of the sockets a diag showed
  if (d.fromDiag && ctx.inet) ie.ns_id = ctx.inet.netNsId;
  if (k.family === AF_INET6) {
    ie.v6only = geti(fd, SOL_IPV6, IPV6_V6ONLY) !== 0;
    if (d.srcPort && needsScopeId(d.src)) {
      const dev = boundDev(fd);
      if (!dev) throw new CriuError(`${who}: ${what}: bound to a link-local address, but to no interface`, { object: `socket:[${ino}]` });
      ie.ifname = dev;
    }
  }
  return ie;
}
