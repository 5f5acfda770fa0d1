/* Unix datagram sockets: a receiver bound to a path in --dirname, a sender connected to it and
 * an unconnected sender using sendto(), three datagrams queued on the receiver. After the
 * restore the receiver holds the datagrams in their order and with their boundaries (as CRIU
 * keeps them: their sender's address is not kept), the connected sender is still connected to
 * the receiver's path, and both senders reach it again. */
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

static void expect(int fd, const char *want)
{
	char buf[64];
	int n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n != (int)strlen(want) || memcmp(buf, want, n))
		fail("the receiver has %d bytes, not the datagram \"%s\"", n, want);
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, got;
	socklen_t len = sizeof(got);
	char dir[PATH_MAX], buf[64];
	int r, s1, s2;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir))
		fail("realpath: %m");
	if (strlen(dir) > 80)
		fail("--dirname is too long for a socket path: %s", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/recv.sock", dir);
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	s1 = socket(AF_UNIX, SOCK_DGRAM, 0);
	s2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (r < 0 || s1 < 0 || s2 < 0 || bind(r, (void *)&sa, sizeof(sa)))
		fail("socket/bind: %m");
	if (connect(s1, (void *)&sa, sizeof(sa)))
		fail("connect: %m");
	if (send(s1, "one", 3, 0) != 3 || sendto(s2, "two two", 7, 0, (void *)&sa, sizeof(sa)) != 7 || send(s1, "three", 5, 0) != 5)
		fail("send: %m");
	test_daemon();
	if (test_break()) {
		if (recv(r, buf, sizeof(buf), 0) != 3)
			fail("recv: %m");
		test_msg("break: took the first datagram");
	}
	test_waitsig();

	expect(r, "one");
	expect(r, "two two");
	expect(r, "three");
	if (recv(r, buf, sizeof(buf), MSG_DONTWAIT) != -1 || errno != EAGAIN)
		fail("more datagrams than were queued");
	if (getpeername(s1, (void *)&got, &len) || strcmp(got.sun_path, sa.sun_path))
		fail("the connected sender is not connected to %s any more", sa.sun_path);
	len = sizeof(got);
	if (getsockname(r, (void *)&got, &len) || strcmp(got.sun_path, sa.sun_path))
		fail("the receiver is not on %s any more", sa.sun_path);
	if (send(s1, "four", 4, 0) != 4 || sendto(s2, "five", 4, 0, (void *)&sa, sizeof(sa)) != 4)
		fail("send after the restore: %m");
	expect(r, "four");
	expect(r, "five");
	pass();
}
