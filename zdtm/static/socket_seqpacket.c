/* SOCK_SEQPACKET unix sockets: a socketpair with records queued both ways, and a listener bound
 * to a path in --dirname with one connection accepted (records queued on the accepted socket and
 * on its client) and one not accepted yet. After the restore every record comes out whole and in
 * order (seqpacket keeps the boundaries), the pending connection is accepted and works. */
#include "zdtmtst.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void put(int fd, const char *s)
{
	if (send(fd, s, strlen(s), 0) != (int)strlen(s))
		fail("send \"%s\": %m", s);
}

static void expect(int fd, const char *want)
{
	char buf[64];
	int n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n != (int)strlen(want) || memcmp(buf, want, n))
		fail("read %d bytes, not the record \"%s\"", n, want);
}

static void nothing(int fd)
{
	char buf[8];

	if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("more records than were queued");
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX];
	int sp[2], l, c1, c2, a1, a2;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir) || strlen(dir) > 80)
		fail("realpath %s: %m", test_dirname);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/seq.sock", dir);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp))
		fail("socketpair: %m");
	put(sp[0], "first");
	put(sp[0], "2");
	put(sp[0], "third record");
	put(sp[1], "back");
	l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 4))
		fail("bind/listen: %m");
	c1 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	c2 = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	if (c1 < 0 || c2 < 0 || connect(c1, (void *)&sa, sizeof(sa)))
		fail("connect: %m");
	a1 = accept(l, NULL, NULL);
	if (a1 < 0 || connect(c2, (void *)&sa, sizeof(sa)))
		fail("accept/connect: %m");
	put(c1, "to the server");
	put(c1, "x");
	put(a1, "to the client");
	test_daemon();
	if (test_break()) {
		char b[64];

		if (recv(sp[1], b, sizeof(b), 0) < 0)
			fail("break: recv: %m");
		test_msg("break: read one record of the pair");
	}
	test_waitsig();

	expect(sp[1], "first");
	expect(sp[1], "2");
	expect(sp[1], "third record");
	nothing(sp[1]);
	expect(sp[0], "back");
	nothing(sp[0]);
	expect(a1, "to the server");
	expect(a1, "x");
	nothing(a1);
	expect(c1, "to the client");
	a2 = accept(l, NULL, NULL);
	if (a2 < 0)
		fail("the pending connection is gone: %m");
	put(c2, "late");
	expect(a2, "late");
	put(a2, "reply");
	expect(c2, "reply");
	put(sp[0], "again");
	expect(sp[1], "again");
	pass();
}
