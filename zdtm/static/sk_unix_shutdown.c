/* Shut down unix sockets: a stream socketpair with one end shut for writing after it sent a
 * message, one shut for reading, one shut both ways, and a seqpacket pair shut for writing.
 * After the restore each direction that was shut stays shut (EOF for the reader, EPIPE for the
 * writer), the bytes sent before the shutdown are still there, and the open directions work. */
#include "zdtmtst.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void eof(int fd, const char *what)
{
	char c;
	int n = recv(fd, &c, 1, MSG_DONTWAIT);

	if (n != 0)
		fail("%s: a read gives %d (errno %d), not the end of the stream", what, n, n < 0 ? errno : 0);
}

static void epipe(int fd, const char *what)
{
	if (send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != -1 || errno != EPIPE)
		fail("%s: a write is not refused with EPIPE (%m)", what);
}

static void works(int from, int to, const char *what)
{
	char c;

	if (send(from, "w", 1, MSG_NOSIGNAL) != 1 || recv(to, &c, 1, MSG_DONTWAIT) != 1 || c != 'w')
		fail("%s: the open direction does not carry a byte (%m)", what);
}

int main(int argc, char **argv)
{
	int a[2], b[2], c[2], d[2];
	char buf[16];

	test_init(argc, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, a) || socketpair(AF_UNIX, SOCK_STREAM, 0, b) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, c) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, d))
		fail("socketpair: %m");
	if (send(a[0], "data", 4, 0) != 4 || send(d[0], "rec", 3, 0) != 3)
		fail("send: %m");
	if (shutdown(a[0], SHUT_WR) || shutdown(b[0], SHUT_RD) || shutdown(c[0], SHUT_RDWR) || shutdown(d[0], SHUT_WR))
		fail("shutdown: %m");
	test_daemon();
	if (test_break()) {
		shutdown(a[1], SHUT_WR);
		test_msg("break: shut the other end of the first pair for writing too");
	}
	test_waitsig();

	if (recv(a[1], buf, sizeof(buf), MSG_DONTWAIT) != 4 || memcmp(buf, "data", 4))
		fail("the bytes sent before the shutdown are gone");
	eof(a[1], "SHUT_WR, the other end");
	epipe(a[0], "SHUT_WR");
	works(a[1], a[0], "SHUT_WR, back");
	eof(b[0], "SHUT_RD");
	epipe(b[1], "SHUT_RD, the other end");
	works(b[0], b[1], "SHUT_RD, back");
	eof(c[0], "SHUT_RDWR");
	eof(c[1], "SHUT_RDWR, the other end");
	epipe(c[0], "SHUT_RDWR");
	epipe(c[1], "SHUT_RDWR, the other end");
	if (recv(d[1], buf, sizeof(buf), MSG_DONTWAIT) != 3 || memcmp(buf, "rec", 3))
		fail("the seqpacket record sent before the shutdown is gone");
	eof(d[1], "seqpacket SHUT_WR, the other end");
	epipe(d[0], "seqpacket SHUT_WR");
	works(d[1], d[0], "seqpacket SHUT_WR, back");
	pass();
}
