/* Unix sockets bound to relative names (CRIU's sk-unix-rel): the task works in --dirname and
 * binds a stream listener to "rel.sock" and a datagram receiver to "rel.dgram", with a client
 * connected and accepted and a datagram queued. After the restore the names are still the
 * relative ones (getsockname), a new client finds the listener by its relative name from the
 * directory, and the old connection and the receiver work. */
#include "zdtmtst.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static void named(int fd, const char *want)
{
	struct sockaddr_un got;
	socklen_t len = sizeof(got);

	if (getsockname(fd, (void *)&got, &len) || len <= sizeof(sa_family_t) || strcmp(got.sun_path, want))
		fail("the socket is not bound to the relative name %s", want);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, sd = { .sun_family = AF_UNIX };
	int l, c, a, r, s, n;
	char buf[16];

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (chdir(test_dirname))
		fail("chdir: %m");
	strcpy(sa.sun_path, "rel.sock");
	strcpy(sd.sun_path, "rel.dgram");
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (l < 0 || r < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 4) || bind(r, (void *)&sd, sizeof(sd)))
		fail("bind: %m");
	if (connect(c, (void *)&sa, sizeof(sa)) || (a = accept(l, NULL, NULL)) < 0 || connect(s, (void *)&sd, sizeof(sd)))
		fail("connect: %m");
	if (send(s, "dgram", 5, 0) != 5)
		fail("send: %m");
	test_daemon();
	if (test_break()) {
		unlink("rel.sock");
		test_msg("break: unlinked rel.sock");
	}
	test_waitsig();

	named(l, "rel.sock");
	named(r, "rel.dgram");
	if (recv(r, buf, sizeof(buf), MSG_DONTWAIT) != 5 || memcmp(buf, "dgram", 5))
		fail("the queued datagram is gone");
	if (send(s, "again", 5, 0) != 5 || recv(r, buf, sizeof(buf), MSG_DONTWAIT) != 5)
		fail("the sender is not connected to the receiver any more: %m");
	if (send(c, "ab", 2, 0) != 2 || recv(a, buf, sizeof(buf), MSG_DONTWAIT) != 2)
		fail("the accepted connection is broken: %m");
	close(c);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(c, (void *)&sa, sizeof(sa)))
		fail("a new client cannot connect to rel.sock: %m");
	n = accept(l, NULL, NULL);
	if (n < 0 || send(n, "hi", 2, 0) != 2 || recv(c, buf, sizeof(buf), 0) != 2)
		fail("the new connection does not work: %m");
	pass();
}
