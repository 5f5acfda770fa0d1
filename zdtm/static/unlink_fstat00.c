/* An open file whose name was removed: nlink 0, size, content, position. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SZ (100 * 1000)

int main(int argc, char **argv)
{
	static char buf[SZ];
	char link[PATH_MAX], path[64], want[PATH_MAX + 16];
	uint32_t crc = 9;
	struct stat st;
	ssize_t n;
	int fd;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0640);
	if (fd < 0)
		fail("open: %m");
	datagen(buf, SZ, &crc);
	if (write(fd, buf, SZ) != SZ)
		fail("write: %m");
	lseek(fd, 5555, SEEK_SET);
	if (!realpath(test_filename, want))
		fail("realpath: %m");
	strcat(want, " (deleted)");
	if (unlink(test_filename))
		fail("unlink: %m");
	test_daemon();
	if (test_break()) {
		pwrite(fd, "!", 1, SZ / 2);
		test_msg("break: wrote a byte into the unlinked file");
	}
	test_waitsig();

	if (fstat(fd, &st))
		fail("fstat: %m");
	if (st.st_nlink != 0)
		fail("nlink is %lu, expected 0", (unsigned long)st.st_nlink);
	if (st.st_size != SZ)
		fail("size is %lld, expected %d", (long long)st.st_size, SZ);
	if ((st.st_mode & 07777) != 0640)
		fail("mode is %o, expected 640", st.st_mode & 07777);
	if (lseek(fd, 0, SEEK_CUR) != 5555)
		fail("position is %lld, expected 5555", (long long)lseek(fd, 0, SEEK_CUR));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (strcmp(link, want))
		fail("the fd links to '%s', expected '%s'", link, want);
	if (pread(fd, buf, SZ, 0) != SZ || datachk(buf, SZ, &crc))
		fail("the content changed");
	if (access(test_filename, F_OK) == 0)
		fail("the name is back");
	pass();
}
