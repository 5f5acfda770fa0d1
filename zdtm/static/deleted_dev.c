/* A device node made, opened and removed (CRIU's deleted_dev): a ghost device; after the
 * restore the fd is on a character device 1:3 (/dev/null's) of the same mode, and the name is
 * gone. */
#define TEST_SUID
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	mode_t mode = S_IFCHR | 0700;
	dev_t dev = makedev(1, 3);
	struct stat st;
	int fd;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	if (mknod(test_filename, mode, dev))
		fail("mknod: %m");
	fd = open(test_filename, O_RDWR);
	if (fd < 0)
		fail("open: %m");
	if (unlink(test_filename))
		fail("unlink: %m");
	test_daemon();
	if (test_break()) {
		int z = open("/dev/zero", O_RDWR);
		dup2(z, fd);
		close(z);
		test_msg("break: the fd is /dev/zero now");
	}
	test_waitsig();

	if (fstat(fd, &st))
		fail("fstat: %m");
	if (st.st_mode != mode || st.st_rdev != dev)
		fail("mode %o rdev %u:%u, expected %o 1:3", st.st_mode, major(st.st_rdev), minor(st.st_rdev), mode);
	if (st.st_nlink != 0)
		fail("nlink %lu, expected 0", (unsigned long)st.st_nlink);
	if (write(fd, "x", 1) != 1)
		fail("write: %m");
	if (unlink(test_filename) != -1 || errno != ENOENT)
		fail("the name is back");
	pass();
}
