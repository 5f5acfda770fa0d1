/* A datagram receiver bound in a directory that is gone (CRIU's sk-unix-dgram-ghost): bound at
 * --dirname/sub/ghost.sock, a sender connected to it, a datagram queued, then the socket file
 * unlinked and sub removed. After the restore sub is still gone, the queued datagram is there,
 * and the sender still reaches the receiver. */
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], sub[PATH_MAX + 8], buf[16];
	int r, s;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir) || strlen(dir) > 80)
		fail("realpath %s: %m", test_dirname);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	if (mkdir(sub, 0755))
		fail("mkdir sub: %m");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/sub/ghost.sock", dir);
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(r, (void *)&sa, sizeof(sa)) || connect(s, (void *)&sa, sizeof(sa)))
		fail("bind/connect: %m");
	if (send(s, "queued", 6, 0) != 6)
		fail("send: %m");
	if (unlink(sa.sun_path) || rmdir(sub))
		fail("unlink/rmdir: %m");
	test_daemon();
	if (test_break()) {
		mkdir(sub, 0755);
		test_msg("break: made sub again");
	}
	test_waitsig();

	if (access(sub, F_OK) == 0)
		fail("the removed directory is back");
	if (recv(r, buf, sizeof(buf), MSG_DONTWAIT) != 6 || memcmp(buf, "queued", 6))
		fail("the queued datagram is gone");
	if (send(s, "more", 4, 0) != 4 || recv(r, buf, sizeof(buf), MSG_DONTWAIT) != 4)
		fail("the sender does not reach the receiver: %m");
	pass();
}
