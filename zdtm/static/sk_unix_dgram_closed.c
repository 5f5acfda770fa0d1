/* A datagram socket connected to a receiver that has closed since: the kernel still holds the
 * dead peer until the next send, which fails (ECONNREFUSED, then ENOTCONN). After the restore a
 * send still fails (the socket reaches nobody: ECONNREFUSED or ENOTCONN), and the socket can be
 * connected to a new receiver. */
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

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, sb = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], buf[8];
	int r, s, r2;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir) || strlen(dir) > 80)
		fail("realpath %s: %m", test_dirname);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/old.sock", dir);
	snprintf(sb.sun_path, sizeof(sb.sun_path), "%.90s/new.sock", dir);
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	r2 = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(r, (void *)&sa, sizeof(sa)) || connect(s, (void *)&sa, sizeof(sa)) || bind(r2, (void *)&sb, sizeof(sb)))
		fail("bind/connect: %m");
	close(r);
	test_daemon();
	if (test_break()) {
		connect(s, (void *)&sb, sizeof(sb));
		test_msg("break: connected the sender to a live receiver");
	}
	test_waitsig();

	if (send(s, "x", 1, MSG_DONTWAIT) != -1 || (errno != ECONNREFUSED && errno != ENOTCONN))
		fail("a send to the closed receiver does not fail as it should (%m)");
	if (connect(s, (void *)&sb, sizeof(sb)) || send(s, "y", 1, 0) != 1 || recv(r2, buf, sizeof(buf), MSG_DONTWAIT) != 1)
		fail("the socket cannot reach a new receiver: %m");
	pass();
}
