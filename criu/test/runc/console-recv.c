// runc's console socket (runc run/restore --console-socket SOCK): listens on SOCK, accepts one
// connection, receives the pty master runc sends in it (one fd by SCM_RIGHTS), then copies what
// the container writes to its terminal into OUT until the master reads EOF or EIO (the slave side
// is gone). READY is created once SOCK listens, so the caller knows when to start runc.
// Usage: console-recv SOCK OUT READY
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what) {
  fprintf(stderr, "console-recv: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: console-recv SOCK OUT READY\n");
    return 2;
  }
  int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof(a.sun_path)) {
    fprintf(stderr, "console-recv: socket path too long\n");
    return 2;
  }
  strcpy(a.sun_path, argv[1]);
  if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0) die("bind");
  if (listen(ls, 1) < 0) die("listen");
  int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) die("open OUT");
  int rd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (rd < 0) die("open READY");
  close(rd);

  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) die("accept");
  char buf[4096];
  union {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int) * 4)];
  } ctl;
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
  ssize_t n = recvmsg(c, &m, MSG_CMSG_CLOEXEC);
  if (n < 0) die("recvmsg");
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  if (!h || h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(int))) {
    fprintf(stderr, "console-recv: the message (%zd bytes) carries no single fd\n", n);
    return 1;
  }
  int master;
  memcpy(&master, CMSG_DATA(h), sizeof(int));
  fprintf(stderr, "console-recv: got fd %d (name %.*s)\n", master, (int)n, buf);
  close(c);
  close(ls);
  for (;;) {
    n = read(master, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (write(out, buf, n) != n) die("write OUT");
  }
  fprintf(stderr, "console-recv: master read %s\n", n == 0 ? "EOF" : strerror(errno));
  return 0;
}
