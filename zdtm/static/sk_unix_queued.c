/* A unix stream server bound to a path in --dirname with two clients in the tree whose
 * connections it has not accepted yet (CRIU's "in-flight connections"). After the restore both
 * connections wait on the server again: it accepts two, each client's words reach the socket
 * accepted for it and the answer comes back. */
#include "zdtmtst.h"
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int pending(int l)
{
	struct pollfd p = { .fd = l, .events = POLLIN };
	return poll(&p, 1, 0) == 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], buf[16];
	int l, c[2], a, i, n, x;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir))
		fail("realpath: %m");
	if (strlen(dir) > 80)
		fail("--dirname is too long for a socket path: %s", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/srv.sock", dir);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 4))
		fail("bind/listen: %m");
	for (i = 0; i < 2; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		if (c[i] < 0 || connect(c[i], (void *)&sa, sizeof(sa)))
			fail("connect: %m");
	}
	test_daemon();
	if (test_break()) {
		a = accept(l, NULL, NULL);
		if (a < 0)
			fail("accept: %m");
		close(a);
		test_msg("break: accepted and closed one connection");
	}
	test_waitsig();

	for (i = 0; i < 2; i++)
		if (send(c[i], i ? "B" : "A", 1, MSG_NOSIGNAL) != 1)
			fail("client %d cannot send: %m", i);
	for (i = 0; i < 2; i++) {
		if (!pending(l))
			fail("the server has %d connections waiting, not 2", i);
		a = accept(l, NULL, NULL);
		if (a < 0)
			fail("accept: %m");
		n = recv(a, buf, sizeof(buf), 0);
		if (n != 1 || (buf[0] != 'A' && buf[0] != 'B'))
			fail("an accepted socket read %d bytes", n);
		x = buf[0] - 'A';
		if (send(a, buf[0] == 'A' ? "a" : "b", 1, 0) != 1)
			fail("send: %m");
		if (recv(c[x], buf, sizeof(buf), MSG_DONTWAIT) != 1 || buf[0] != "ab"[x])
			fail("client %d did not get its answer", x);
		close(a);
	}
	if (pending(l))
		fail("more connections than were queued");
	pass();
}
