/* Unix sockets on abstract names: a stream server listening with a client connected to the
 * socket it accepted (bytes queued both ways), a datagram receiver with a sender connected to
 * it and a datagram queued. After the restore each keeps its abstract name, a new client
 * connects to the server by its name, and the queued data is all there. */
#include "zdtmtst.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t abstract(struct sockaddr_un *sa, const char *what)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* the NUL byte first, then a name of this run */
	return offsetof(struct sockaddr_un, sun_path) + 1 +
	       snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "criu-ts-zdtm-%s-%d", what, getpid());
}

static void expect(int fd, const char *want, const char *what)
{
	char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	if (poll(&p, 1, 2000) != 1)
		fail("%s: nothing to read", what);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != (int)strlen(want) || memcmp(buf, want, n))
		fail("%s: read %d bytes, not \"%s\"", what, n, want);
}

static void same_name(int fd, const struct sockaddr_un *sa, socklen_t len, const char *what)
{
	struct sockaddr_un got;
	socklen_t gl = sizeof(got);

	if (getsockname(fd, (void *)&got, &gl) || gl != len || memcmp(&got, sa, len))
		fail("%s: not on its abstract name any more", what);
}

int main(int argc, char **argv)
{
	struct sockaddr_un ss, ds;
	socklen_t sl, dl;
	int l, c, a, r, s, n;
	char buf[16];

	test_init(argc, argv);
	sl = abstract(&ss, "stream");
	dl = abstract(&ds, "dgram");
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (void *)&ss, sl) || listen(l, 4))
		fail("stream bind/listen: %m");
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&ss, sl))
		fail("connect: %m");
	a = accept(l, NULL, NULL);
	if (a < 0 || write(c, "hello", 5) != 5 || write(a, "world", 5) != 5)
		fail("accept/write: %m");
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (r < 0 || s < 0 || bind(r, (void *)&ds, dl) || connect(s, (void *)&ds, dl) || send(s, "dgram", 5, 0) != 5)
		fail("dgram: %m");
	test_daemon();
	if (test_break()) {
		if (recv(r, buf, sizeof(buf), 0) != 5)
			fail("recv: %m");
		test_msg("break: took the queued datagram");
	}
	test_waitsig();

	same_name(l, &ss, sl, "the stream server");
	same_name(r, &ds, dl, "the dgram receiver");
	expect(r, "dgram", "the dgram receiver");
	expect(a, "hello", "the accepted socket");
	expect(c, "world", "the client");
	if (send(s, "again", 5, 0) != 5)
		fail("the dgram sender cannot send: %m");
	expect(r, "again", "the dgram receiver");
	n = socket(AF_UNIX, SOCK_STREAM, 0);
	if (n < 0 || connect(n, (void *)&ss, sl))
		fail("a new client cannot connect by the abstract name: %m");
	a = accept(l, NULL, NULL);
	if (a < 0 || write(n, "ping", 4) != 4)
		fail("accept after the restore: %m");
	expect(a, "ping", "the new connection");
	pass();
}
