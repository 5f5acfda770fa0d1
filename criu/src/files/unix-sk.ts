// What the dump and the restore of unix sockets share: the options CRIU keeps for them, the
// constants of the image, and the sockaddr_un of a name (a path, or an
// abstract name starting with a NUL byte, as sock_diag gives it and unix_sk_entry.name keeps it).
import type { SkOptsEntry, UnixSkEntry } from '../images/gen/types.js';
import { getsockoptInt, setsockopt, shutdown } from '../sys/libc.js';
import { AF_UNIX, SOL_SOCKET } from '../sys/socket-consts.js';
import { restoreFileParams } from './fdparams.js';
import { dumpSkOpts, restoreSkOpts } from './inet-opts.js';

const SO_PASSCRED = 16,
  SO_PASSSEC = 34;
export const MSG_DONTWAIT = 0x40;
/** sk_state values sock_diag shows for unix sockets */
export const TCP_ESTABLISHED = 1,
  TCP_CLOSE = 7,
  TCP_LISTEN = 10;
/** unix_sk_entry.uflags: dumped by a plugin's DUMP_UNIX_SK (CRIU's USK_CALLBACK) */
export const USK_CALLBACK = 1 << 2;
export { SK_QUEUES } from './unix-queue.js';
/** unix_sk_entry.uflags: a peer outside the tree, written for the sockets connected to it (CRIU's USK_EXTERN) */
export const USK_EXTERN = 1 << 0;

export function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

/** The path of a path-bound socket (the kernel keeps its NUL at the end), null for none or an abstract name. */
export function pathOf(name: Buffer): string | null {
  if (!name.length || name[0] === 0) return null;
  const end = name.indexOf(0);
  return name.subarray(0, end < 0 ? name.length : end).toString();
}

/** The name for messages: a path as it is, an abstract name with '@' for its NUL bytes. */
export const nameText = (name: Buffer): string => pathOf(name) ?? name.toString('latin1').replace(/\0/g, '@');

/** struct sockaddr_un for `name` (the length the kernel gave it, so an abstract name keeps its size) */
export function sockaddrUn(name: Buffer): Buffer {
  const sa = Buffer.alloc(2 + name.length);
  sa.writeUInt16LE(AF_UNIX, 0);
  name.copy(sa, 2);
  return sa;
}

/** The socket options CRIU keeps for a unix socket (dump_socket_opts, with SO_PASSCRED and SO_PASSSEC for AF_UNIX). */
export function dumpUnixOpts(fd: number, who: string): SkOptsEntry {
  return {
    ...dumpSkOpts(fd, who),
    so_passcred: getsockoptInt(fd, SOL_SOCKET, SO_PASSCRED) !== 0,
    so_passsec: getsockoptInt(fd, SOL_SOCKET, SO_PASSSEC) !== 0,
  };
}

/** The status flags and owner, the options and the shutdown state back on a restored socket (CRIU's restore_sk_common, in its order). */
export function restoreUnixCommon(fd: number, u: UnixSkEntry): void {
  // status flags (O_NONBLOCK, O_ASYNC) and the SIGIO owner and signal
  restoreFileParams(fd, u.flags, u.fown);
  if (u.opts) {
    restoreSkOpts(fd, u.opts);
    if (u.opts.so_passcred) setsockopt(fd, SOL_SOCKET, SO_PASSCRED, int32(1));
    if (u.opts.so_passsec) setsockopt(fd, SOL_SOCKET, SO_PASSSEC, int32(1));
  }
  // sk_shutdown: 1 read, 2 write, 3 both (SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2)
  const sh = Number(u.shutdown ?? 0);
  if (sh) shutdown(fd, sh - 1);
}
