/* An established TCP connection with both ends in the tree (dumped with --tcp-established):
 * data is queued both ways, unread by the receiver, and one side has filled its peer's receive
 * window so that part of its send queue was never sent. After the restore each side reads
 * exactly what was queued (checked by crc), the connection is still ESTABLISHED and carries a
 * new exchange both ways.
 * ZDTM_IPV6: the same over ::1. ZDTM_CLOSE_WAIT: the client shut its side down before the dump
 * (client FIN_WAIT2, server CLOSE_WAIT): after the restore the server reads the data, then
 * end-of-file, and its reply still reaches the client. */
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef ZDTM_IPV6
#define FAMILY AF_INET6
#else
#define FAMILY AF_INET
#endif

#define SMALL 3000

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l))
		fail("TCP_INFO: %m");
	return ti.tcpi_state;
}

/* read exactly len bytes (blocking) */
static void read_all(int fd, char *buf, size_t len, const char *what)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n <= 0)
			fail("%s: read %zu of %zu bytes: %s", what, off, len, n ? strerror(errno) : "end of file");
		off += n;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	static char small[SMALL], big[8 << 20], got[8 << 20];
	uint32_t crc_small = 1, crc_big = 2;
	size_t big_len = 0;
	int l, c, s, one = 1;
	char b;

	test_init(argc, argv);
	l = socket(FAMILY, SOCK_STREAM, 0);
	if (l < 0)
		fail("socket: %m");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (FAMILY == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	if (bind(l, (void *)&ss, len) || listen(l, 1))
		fail("bind/listen: %m");
	len = sizeof(ss);
	if (getsockname(l, (void *)&ss, &len))
		fail("getsockname: %m");
	c = socket(FAMILY, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&ss, len))
		fail("connect: %m");
	s = accept(l, NULL, NULL);
	if (s < 0)
		fail("accept: %m");

	/* client -> server: a small message, left unread in the server's receive queue */
	datagen(small, SMALL, &crc_small);
	if (write(c, small, SMALL) != SMALL)
		fail("write to the server: %m");
	/* server -> client: until the client's window is full, so that some is never sent */
	datagen(big, sizeof(big), &crc_big);
	fcntl(s, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = write(s, big + big_len, 4096);
		if (n < 0) {
			if (errno != EAGAIN)
				fail("write to the client: %m");
			break;
		}
		big_len += n;
		if (big_len + 4096 > sizeof(big))
			fail("the client's window never filled");
	}
	fcntl(s, F_SETFL, 0);
	test_msg("queued %d bytes to the server, %zu to the client\n", SMALL, big_len);
#ifdef ZDTM_CLOSE_WAIT
	if (shutdown(c, SHUT_WR))
		fail("shutdown: %m");
	{
		struct pollfd p = { .fd = s, .events = POLLRDHUP };
		/* wait for the FIN to arrive (the server is in CLOSE_WAIT then) */
		while (tcp_state(s) != TCP_CLOSE_WAIT)
			poll(&p, 1, 10);
	}
#endif

	test_daemon();
	if (test_break()) {
		/* the server reads one byte of what the client queued */
		if (read(s, &b, 1) != 1)
			fail("break: read: %m");
	}
	test_waitsig();

#ifdef ZDTM_CLOSE_WAIT
	if (tcp_state(s) != TCP_CLOSE_WAIT || tcp_state(c) != TCP_FIN_WAIT2)
		fail("states after the restore: server %d (CLOSE_WAIT is 8), client %d (FIN_WAIT2 is 5)", tcp_state(s), tcp_state(c));
#else
	if (tcp_state(s) != TCP_ESTABLISHED || tcp_state(c) != TCP_ESTABLISHED)
		fail("not ESTABLISHED after the restore: server %d, client %d", tcp_state(s), tcp_state(c));
#endif
	/* the server gets exactly the small message */
	fcntl(s, F_SETFL, O_NONBLOCK);
	{
		ssize_t n = read(s, got, sizeof(got));
		if (n != SMALL)
			fail("server: %zd bytes queued, %d expected", n, SMALL);
		if (datachk(got, SMALL, &crc_small))
			fail("server: the queued bytes differ");
		n = read(s, got, 1);
#ifdef ZDTM_CLOSE_WAIT
		if (n != 0)
			fail("server: end of file expected after the data, got %zd (%m)", n);
#else
		if (n != -1 || errno != EAGAIN)
			fail("server: more than was queued (%zd)", n);
#endif
	}
	fcntl(s, F_SETFL, 0);
	/* the client gets all of the big one, sent and unsent parts */
	read_all(c, got, big_len, "client");
	if (memcmp(got, big, big_len))
		fail("client: the queued bytes differ");
	/* and the connection goes on */
	if (write(s, "pong", 4) != 4)
		fail("server write after the restore: %m");
	read_all(c, got, 4, "client, new data");
	if (memcmp(got, "pong", 4))
		fail("client: new data differs");
#ifndef ZDTM_CLOSE_WAIT
	if (write(c, "ping", 4) != 4)
		fail("client write after the restore: %m");
	read_all(s, got, 4, "server, new data");
	if (memcmp(got, "ping", 4))
		fail("server: new data differs");
#endif
	close(s);
#ifdef ZDTM_CLOSE_WAIT
	if (read(c, got, 1) != 0)
		fail("client: end of file expected after the server closed");
#endif
	close(c);
	close(l);
	pass();
	return 0;
}
