// `criu check` probes for the netlink, packet and raw socket kinds, each made for real: a socket
// of the kind is opened and the kernel must show it. CRIU's names where CRIU has the check
// (`sk_ns`: SIOCGSKNS, check_sk_netns; `net_diag_raw`: raw diag for IPv4 and IPv6,
// check_net_diag_raw), our own for the diag families CRIU only loads (`netlink_diag`,
// `packet_diag`; CRIU's preload_socket_modules).
import * as fs from 'node:fs';
import { socket, close, ioctl } from '../sys/libc.js';
import { AF_INET, AF_INET6, AF_NETLINK, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_RAW } from '../sys/socket-consts.js';
import { netlinkSockets, packetSockets, rawSockets, AF_PACKET } from './netdiag.js';
import { bindRaw } from '../sys/net.js';
import { CriuError } from '../errors.js';

export interface SocketProbe {
  name: string;
  required: boolean;
  what: string;
  cost?: string;
  run: () => void;
}

/** A socket of (family, type, proto) open while `fn` runs with its inode. */
function withSocket(family: number, type: number, proto: number, fn: (ino: number) => void): void {
  const fd = socket(family, type | SOCK_CLOEXEC, proto);
  try {
    fn(fs.fstatSync(fd).ino);
  } finally {
    close(fd);
  }
}

const shown = (m: Map<number, unknown> | number, ino: number, what: string): void => {
  if (typeof m === 'number') throw new CriuError(`${what} answers error ${m}`);
  if (!m.has(ino)) throw new CriuError(`${what} does not show a socket just made`);
};

export const socketProbes: SocketProbe[] = [
  {
    name: 'sk_ns',
    required: false,
    what: "SIOCGSKNS (a socket's network namespace)",
    cost: 'sockets cannot be dumped',
    run: () => {
      const fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      try {
        close(ioctl(fd, 0x894c, null));
      } finally {
        close(fd);
      }
    },
  },
  {
    name: 'netlink_diag',
    required: false,
    what: 'netlink sockets in sock_diag (CONFIG_NETLINK_DIAG)',
    cost: 'netlink sockets cannot be dumped',
    run: () => {
      const fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
      try {
        // a netlink socket is shown once bound
        const sa = Buffer.alloc(12);
        sa.writeUInt16LE(AF_NETLINK, 0);
        bindRaw(fd, sa, 'netlink port id 0');
        shown(netlinkSockets(), fs.fstatSync(fd).ino, 'netlink diag');
      } finally {
        close(fd);
      }
    },
  },
  {
    name: 'packet_diag',
    required: false,
    what: 'packet sockets in sock_diag (CONFIG_PACKET_DIAG; needs CAP_NET_RAW)',
    cost: 'packet sockets cannot be dumped',
    run: () => withSocket(AF_PACKET, SOCK_RAW, 0, (ino) => shown(packetSockets(), ino, 'packet diag')),
  },
  {
    name: 'net_diag_raw',
    required: false,
    what: 'raw sockets in sock_diag (CONFIG_INET_RAW_DIAG; needs CAP_NET_RAW)',
    cost: 'raw sockets are read from /proc/net/raw instead',
    run: () => {
      for (const family of [AF_INET, AF_INET6]) withSocket(family, SOCK_RAW, 255, (ino) => shown(rawSockets(), ino, 'raw diag'));
    },
  },
];
