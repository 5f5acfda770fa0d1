/* fds on the memory devices (/dev/null, zero, full, random, urandom), opened by path: after the
 * restore each is the same device (rdev) with its flags, and behaves as that device. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const struct {
	const char *path;
	int minor, flags;
} devs[] = {
	{ "/dev/null", 3, O_RDWR }, { "/dev/zero", 5, O_RDONLY }, { "/dev/full", 7, O_WRONLY },
	{ "/dev/random", 8, O_RDONLY | O_NONBLOCK }, { "/dev/urandom", 9, O_RDONLY },
};
#define N (sizeof(devs) / sizeof(devs[0]))

int main(int argc, char **argv)
{
	int fds[N];
	char buf[64];
	struct stat st;

	test_init(argc, argv);
	for (unsigned i = 0; i < N; i++) {
		fds[i] = open(devs[i].path, devs[i].flags);
		if (fds[i] < 0)
			fail("open %s: %m", devs[i].path);
	}
	test_daemon();
	if (test_break()) {
		int z = open("/dev/zero", O_RDWR);
		dup2(z, fds[0]);
		close(z);
		test_msg("break: the /dev/null fd is /dev/zero now");
	}
	test_waitsig();

	for (unsigned i = 0; i < N; i++) {
		if (fstat(fds[i], &st))
			fail("fstat %s: %m", devs[i].path);
		if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != devs[i].minor)
			fail("fd %d is %u:%u, expected %s (1:%d)", fds[i], major(st.st_rdev), minor(st.st_rdev), devs[i].path, devs[i].minor);
		if ((fcntl(fds[i], F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != devs[i].flags)
			fail("%s: flags %o, expected %o", devs[i].path, fcntl(fds[i], F_GETFL), devs[i].flags);
	}
	if (read(fds[0], buf, sizeof(buf)) != 0 || write(fds[0], buf, 8) != 8)
		fail("/dev/null does not act as /dev/null");
	memset(buf, 1, sizeof(buf));
	if (read(fds[1], buf, sizeof(buf)) != sizeof(buf) || buf[0] || buf[63])
		fail("/dev/zero does not give zeros");
	if (write(fds[2], buf, 1) != -1 || errno != ENOSPC)
		fail("/dev/full does not say ENOSPC");
	if (read(fds[4], buf, sizeof(buf)) != sizeof(buf))
		fail("/dev/urandom: %m");
	pass();
}
