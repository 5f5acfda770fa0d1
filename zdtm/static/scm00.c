/* Fds in flight (SCM_RIGHTS) on a unix datagram socketpair: the write end of a pipe the task
 * closed (held by no task), a file the task still has open at offset 2 (the same open file
 * description), the end of another socketpair the task closed, and the queue's own socket's
 * peer. After the restore each message comes with its fd: the pipe carries bytes to the read end
 * the task kept, the file shares its offset with the task's fd, the socket reaches its pair,
 * and the peer end sends to the queue's socket. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CARRIER
#define CARRIER SOCK_DGRAM
#endif

static void send_fds(int sk, const char *tag, int *fds, int n)
{
	char ctl[CMSG_SPACE(sizeof(int) * 4)];
	struct iovec iov = { .iov_base = (void *)tag, .iov_len = strlen(tag) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
	struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);

	memset(ctl, 0, sizeof(ctl));
	ch->cmsg_level = SOL_SOCKET;
	ch->cmsg_type = SCM_RIGHTS;
	ch->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(ch), fds, sizeof(int) * n);
	if (sendmsg(sk, &mh, 0) != (int)strlen(tag))
		fail("sendmsg %s: %m", tag);
}

/* one message: its tag must be `tag`, its fds are put in fds (n of them) */
static void recv_fds(int sk, const char *tag, int *fds, int n)
{
	char ctl[CMSG_SPACE(sizeof(int) * 8)], buf[16];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *ch;
	int r = recvmsg(sk, &mh, MSG_DONTWAIT);

	if (r != (int)strlen(tag) || memcmp(buf, tag, r))
		fail("the message %s is not there (%d bytes)", tag, r);
	ch = CMSG_FIRSTHDR(&mh);
	if (!ch || ch->cmsg_type != SCM_RIGHTS || ch->cmsg_len != CMSG_LEN(sizeof(int) * n))
		fail("the message %s came without its %d fds", tag, n);
	memcpy(fds, CMSG_DATA(ch), sizeof(int) * n);
}

int main(int argc, char **argv)
{
	int sv[2], p[2], q[2], f, got[2];
	char c;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	if (socketpair(AF_UNIX, CARRIER, 0, sv) || pipe(p) || socketpair(AF_UNIX, SOCK_STREAM, 0, q))
		fail("socketpair/pipe: %m");
	f = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (f < 0 || write(f, "hello", 5) != 5 || lseek(f, 2, SEEK_SET) != 2)
		fail("file: %m");
	send_fds(sv[0], "pipe", &p[1], 1);
	close(p[1]);
	send_fds(sv[0], "file", &f, 1);
	got[0] = q[1];
	got[1] = sv[0];
	send_fds(sv[0], "socks", got, 2);
	close(q[1]);
	test_daemon();
	if (test_break()) {
		recv_fds(sv[1], "pipe", got, 1);
		close(got[0]);
		test_msg("break: took the pipe out of the queue and closed it");
	}
	test_waitsig();

	recv_fds(sv[1], "pipe", got, 1);
	if (write(got[0], "x", 1) != 1 || read(p[0], &c, 1) != 1 || c != 'x')
		fail("the pipe sent in flight does not reach its read end");
	close(got[0]);
	if (read(p[0], &c, 1) != 0)
		fail("the pipe has another writer");
	recv_fds(sv[1], "file", got, 1);
	if (lseek(got[0], 0, SEEK_CUR) != 2)
		fail("the file in flight is at offset %ld, not 2", (long)lseek(got[0], 0, SEEK_CUR));
	if (read(got[0], &c, 1) != 1 || c != 'l' || lseek(f, 0, SEEK_CUR) != 3)
		fail("the file in flight is not the task's open file (offset %ld)", (long)lseek(f, 0, SEEK_CUR));
	recv_fds(sv[1], "socks", got, 2);
	if (write(got[0], "q", 1) != 1 || read(q[0], &c, 1) != 1 || c != 'q')
		fail("the socket in flight does not reach its pair");
	if (send(got[1], "z", 1, 0) != 1 || recv(sv[1], &c, 1, MSG_DONTWAIT) != 1 || c != 'z')
		fail("the peer end in flight does not reach the queue's socket");
	if (recv(sv[1], &c, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("more messages than were queued");
	pass();
}
