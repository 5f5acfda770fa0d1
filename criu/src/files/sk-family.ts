// What the socket kinds other than unix and inet share: the family of a task's socket (read on
// a copy of it: the fd link does not tell), and the refusal of a socket of another network
// namespace.
import * as fs from 'node:fs';
import { close, ioctl, pidfdOpen, pidfdGetfd, getsockoptInt } from '../sys/libc.js';
import { SOL_SOCKET } from '../sys/socket-consts.js';
import { NotSupportedError } from '../errors.js';
import { socketNetnsIno } from '../net/tree-netns.js';

const SO_DOMAIN = 39,
  SIOCGSKNS = 0x894c;

/** The family of socket `fd` of task `pid` (undefined when it cannot be read). */
export function socketFamilyAt(pid: number, fd: number): number | undefined {
  let pidfd = -1,
    mine = -1;
  try {
    pidfd = pidfdOpen(pid);
    mine = pidfdGetfd(pidfd, fd);
    return getsockoptInt(mine, SOL_SOCKET, SO_DOMAIN);
  } catch {
    return undefined;
  } finally {
    if (mine >= 0) close(mine);
    if (pidfd >= 0) close(pidfd);
  }
}

/** The socket's network namespace is the tree's (its root's own, ns/net.ts, or the tool's), or a refusal naming it. */
export function checkSockNetNs(fd: number, who: string): void {
  const ns = ioctl(fd, SIOCGSKNS, null);
  try {
    const theirs = fs.fstatSync(ns).ino,
      mine = socketNetnsIno();
    if (theirs !== mine)
      throw new NotSupportedError(
        `${who}: a socket of another network namespace (net:[${theirs}], the tree's is net:[${mine}])`,
        "sockets of a network namespace other than the root task's are dumped with containers, not yet",
      );
  } finally {
    close(ns);
  }
}
