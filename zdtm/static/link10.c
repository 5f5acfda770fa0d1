/* Two hard-linked names of one file, each opened, then both removed (CRIU's link10): after the
 * restore both fds are on one file (a write through one shows in the other). */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char name2[4096], c;
	struct stat a, b;
	int fd, fd2;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	snprintf(name2, sizeof(name2), "%s.lnk", test_filename);
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC | O_EXCL, 0644);
	if (fd < 0)
		fail("open: %m");
	if (write(fd, "hello", 5) != 5)
		fail("write: %m");
	if (link(test_filename, name2))
		fail("link: %m");
	fd2 = open(name2, O_RDONLY);
	if (fd2 < 0)
		fail("open %s: %m", name2);
	unlink(name2);
	unlink(test_filename);
	test_daemon();
	if (test_break()) {
		close(fd2);
		fd2 = open("/proc/self/exe", O_RDONLY);
		test_msg("break: fd %d is on another file", fd2);
	}
	test_waitsig();

	if (fstat(fd, &a) || fstat(fd2, &b))
		fail("fstat: %m");
	if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		fail("the fds are on two files: %lu and %lu", (unsigned long)a.st_ino, (unsigned long)b.st_ino);
	if (a.st_nlink != 0)
		fail("nlink is %lu, expected 0", (unsigned long)a.st_nlink);
	if (pwrite(fd, "J", 1, 0) != 1 || pread(fd2, &c, 1, 0) != 1 || c != 'J')
		fail("a write through one fd is not in the other");
	pass();
}
