/* Unix sockets whose path is gone (CRIU's ghost sockets, "deleted" in the image): a stream
 * listener in --dirname with a connection accepted and one not accepted yet, its socket file
 * unlinked; a datagram receiver whose socket file was replaced by a regular file, with a sender
 * connected to it. After the restore the listener still has its name, nothing is on its path,
 * the pending connection is accepted, the sender still reaches the receiver, and the regular
 * file is still there with its content. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
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
	struct sockaddr_un sa = { .sun_family = AF_UNIX }, sd = { .sun_family = AF_UNIX }, got;
	socklen_t len = sizeof(got);
	char dir[PATH_MAX], buf[16];
	int l, c1, c2, a1, a2, r, s, f;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir) || strlen(dir) > 80)
		fail("realpath %s: %m", test_dirname);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.90s/gone.sock", dir);
	snprintf(sd.sun_path, sizeof(sd.sun_path), "%.90s/repl.sock", dir);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	r = socket(AF_UNIX, SOCK_DGRAM, 0);
	c1 = socket(AF_UNIX, SOCK_STREAM, 0);
	c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	s = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (bind(l, (void *)&sa, sizeof(sa)) || listen(l, 4) || bind(r, (void *)&sd, sizeof(sd)))
		fail("bind: %m");
	if (connect(c1, (void *)&sa, sizeof(sa)) || (a1 = accept(l, NULL, NULL)) < 0 || connect(c2, (void *)&sa, sizeof(sa)) ||
	    connect(s, (void *)&sd, sizeof(sd)))
		fail("connect: %m");
	if (unlink(sa.sun_path) || unlink(sd.sun_path))
		fail("unlink: %m");
	f = open(sd.sun_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (f < 0 || write(f, "keep", 4) != 4 || close(f))
		fail("the file on repl.sock: %m");
	test_daemon();
	if (test_break()) {
		f = open(sa.sun_path, O_WRONLY | O_CREAT, 0644);
		close(f);
		test_msg("break: made a file on gone.sock");
	}
	test_waitsig();

	if (access(sa.sun_path, F_OK) == 0)
		fail("something is on the listener's deleted path");
	if (getsockname(l, (void *)&got, &len) || strcmp(got.sun_path, sa.sun_path))
		fail("the listener lost its name");
	a2 = accept(l, NULL, NULL);
	if (a2 < 0 || send(c2, "p", 1, 0) != 1 || recv(a2, buf, sizeof(buf), MSG_DONTWAIT) != 1)
		fail("the pending connection does not work: %m");
	if (send(c1, "q", 1, 0) != 1 || recv(a1, buf, sizeof(buf), MSG_DONTWAIT) != 1)
		fail("the accepted connection does not work: %m");
	if (send(s, "d", 1, 0) != 1 || recv(r, buf, sizeof(buf), MSG_DONTWAIT) != 1 || buf[0] != 'd')
		fail("the sender does not reach the receiver whose path was replaced: %m");
	f = open(sd.sun_path, O_RDONLY);
	if (f < 0 || read(f, buf, sizeof(buf)) != 4 || memcmp(buf, "keep", 4))
		fail("the regular file on repl.sock is gone or changed");
	pass();
}
