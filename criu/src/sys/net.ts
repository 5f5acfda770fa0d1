// The socket calls of inet sockets (bind, listen, connect, the names, poll) and the sockaddr
// encoding, through koffi as in libc.ts.
import { libc, check, SysError } from './libc.js';
import koffi from './koffi.js';
import { AF_INET, AF_INET6 } from './socket-consts.js';
export { AF_INET, AF_INET6 } from './socket-consts.js';

const f = {
  bind: libc.func('int bind(int fd, void *addr, uint32_t len)'),
  listen: libc.func('int listen(int fd, int backlog)'),
  connect: libc.func('int connect(int fd, void *addr, uint32_t len)'),
  getsockname: libc.func('int getsockname(int fd, _Inout_ void *addr, _Inout_ uint32_t *len)'),
  getpeername: libc.func('int getpeername(int fd, _Inout_ void *addr, _Inout_ uint32_t *len)'),
  poll: libc.func('int poll(_Inout_ void *fds, unsigned long n, int timeout)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *name)'),
};

/** An address as CRIU keeps it: the port, and the address bytes (4 or 16). */
export interface SockAddr {
  family: number;
  port: number;
  addr: Buffer;
  scopeId?: number;
}

export function encodeSockaddr(a: SockAddr): Buffer {
  if (a.family === AF_INET) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(a.port, 2);
    a.addr.copy(b, 4, 0, 4);
    return b;
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(a.port, 2);
  a.addr.copy(b, 8, 0, 16);
  b.writeUInt32LE(a.scopeId ?? 0, 24);
  return b;
}

/** The address in a sockaddr_in/in6, or null for another family (an unbound socket's AF_UNSPEC). */
export function decodeSockaddr(b: Buffer): SockAddr | null {
  const family = b.readUInt16LE(0);
  if (family === AF_INET) return { family, port: b.readUInt16BE(2), addr: Buffer.from(b.subarray(4, 8)) };
  if (family === AF_INET6) return { family, port: b.readUInt16BE(2), addr: Buffer.from(b.subarray(8, 24)), scopeId: b.readUInt32LE(24) };
  return null;
}

export function bind(fd: number, a: SockAddr): void {
  const b = encodeSockaddr(a);
  check(f.bind(fd, b, b.length) as number, 'bind', [fd, formatAddr(a)]);
}
export function listen(fd: number, backlog: number): void {
  check(f.listen(fd, backlog) as number, 'listen', [fd, backlog]);
}
export function connect(fd: number, a: SockAddr): void {
  const b = encodeSockaddr(a);
  check(f.connect(fd, b, b.length) as number, 'connect', [fd, formatAddr(a)]);
}

/** bind to a sockaddr already encoded (a unix socket's sockaddr_un); `what` names it in an error */
export function bindRaw(fd: number, sa: Buffer, what: string): void {
  check(f.bind(fd, sa, sa.length) as number, 'bind', [fd, what]);
}
/** connect to a sockaddr already encoded (a unix socket's sockaddr_un); `what` names it in an error */
export function connectRaw(fd: number, sa: Buffer, what: string): void {
  check(f.connect(fd, sa, sa.length) as number, 'connect', [fd, what]);
}

function name(call: 'getsockname' | 'getpeername', fd: number): SockAddr | null {
  const b = Buffer.alloc(128);
  const len = new Uint32Array([b.length]);
  const r = (call === 'getsockname' ? f.getsockname : f.getpeername)(fd, b, len) as number;
  if (r < 0) {
    const e = koffi.errno();
    if (e === 107 /* ENOTCONN */) return null;
    throw new SysError(call, e, [fd]);
  }
  return decodeSockaddr(b);
}
export const getsockname = (fd: number): SockAddr | null => name('getsockname', fd);
/** The peer, or null when the socket is not connected. */
export const getpeername = (fd: number): SockAddr | null => name('getpeername', fd);

/** poll() on one fd with no wait: the events that are ready. */
export function pollNow(fd: number, events: number): number {
  const p = Buffer.alloc(8);
  p.writeInt32LE(fd, 0);
  p.writeInt16LE(events, 4);
  check(f.poll(p, 1, 0) as number, 'poll', [fd, events]);
  return p.readUInt16LE(6);
}

/** The index of a network interface by name (0 when there is none). */
export const ifNameToIndex = (n: string): number => f.if_nametoindex(n) as number;

/** "1.2.3.4:80", "[::1]:80" */
export function formatAddr(a: SockAddr): string {
  if (a.family === AF_INET) return `${[...a.addr.subarray(0, 4)].join('.')}:${a.port}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(a.addr.readUInt16BE(i).toString(16));
  // the longest run of zero groups becomes "::"
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const s = bestLen > 1 ? `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}` : groups.join(':');
  return `[${s}]:${a.port}`;
}
