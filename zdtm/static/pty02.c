/* A hung-up pty slave: its master was closed, the task keeps the slave. After the restore it
 * is still hung up (reads give end of file, writes fail with EIO) and its index is free. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int m, s;
	char path[64], c;

	test_init(argc, argv);
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, path, sizeof(path)))
		fail("posix_openpt: %m");
	s = open(path, O_RDWR | O_NOCTTY);
	if (s < 0)
		fail("open %s: %m", path);
	close(m);
	if (write(s, "x", 1) != -1 || errno != EIO)
		fail("the slave is not hung up after its master's close");

	test_daemon();
	if (test_break()) {
		/* a working pty on the slave's fd number */
		m = posix_openpt(O_RDWR | O_NOCTTY);
		if (m >= 0 && !grantpt(m) && !unlockpt(m) && !ptsname_r(m, path, sizeof(path))) {
			int n = open(path, O_RDWR | O_NOCTTY);
			dup2(n, s);
			close(n);
		}
		test_msg("break: fd %d is a working pty now", s);
	}
	test_waitsig();

	errno = 0;
	if (write(s, "x", 1) != -1 || errno != EIO)
		fail("a write on the hung-up slave gave %s, not EIO", errno ? strerror(errno) : "success");
	if (read(s, &c, 1) != 0)
		fail("a read on the hung-up slave is not end of file: %m");
	pass();
}
