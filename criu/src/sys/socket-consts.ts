// The socket constants every socket module uses (linux/socket.h, linux/net.h): one place, so
// that the unix, inet and netlink code and the launcher's transport agree.
export const AF_UNIX = 1,
  AF_INET = 2,
  AF_INET6 = 10,
  AF_NETLINK = 16;
export const SOCK_STREAM = 1,
  SOCK_DGRAM = 2,
  SOCK_RAW = 3,
  SOCK_SEQPACKET = 5,
  SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1,
  SCM_RIGHTS = 1;
