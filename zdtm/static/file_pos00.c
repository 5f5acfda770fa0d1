/* Regular files: positions, flags and content of several open descriptions. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define SZ (64 * 1024)

int main(int argc, char **argv)
{
	static char buf[SZ];
	uint32_t crc = 3;
	int fd1, fd2, fd3, fd4;
	off_t pos[4] = { 12345, 777, 12345, SZ };
	int flags[4];

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd1 = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd1 < 0)
		fail("open: %m");
	datagen(buf, SZ, &crc);
	if (write(fd1, buf, SZ) != SZ)
		fail("write: %m");
	fd2 = open(test_filename, O_RDONLY | O_NOATIME);
	if (fd2 < 0)
		fd2 = open(test_filename, O_RDONLY);
	fd3 = dup(fd1);
	fd4 = open(test_filename, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd2 < 0 || fd3 < 0 || fd4 < 0)
		fail("open: %m");
	lseek(fd1, pos[0], SEEK_SET);
	lseek(fd2, pos[1], SEEK_SET);
	lseek(fd4, 0, SEEK_END);
	int fds[4] = { fd1, fd2, fd3, fd4 };
	for (int i = 0; i < 4; i++)
		flags[i] = fcntl(fds[i], F_GETFL) | (fcntl(fds[i], F_GETFD) << 24);
	test_daemon();
	if (test_break()) {
		lseek(fd2, 1, SEEK_CUR);
		test_msg("break: moved fd %d by one byte", fd2);
	}
	test_waitsig();

	for (int i = 0; i < 4; i++) {
		off_t p = lseek(fds[i], 0, SEEK_CUR);
		int f = fcntl(fds[i], F_GETFL) | (fcntl(fds[i], F_GETFD) << 24);
		if (p != pos[i])
			fail("fd %d is at %lld, expected %lld", fds[i], (long long)p, (long long)pos[i]);
		if (f != flags[i])
			fail("fd %d has flags %#x, expected %#x", fds[i], f, flags[i]);
	}
	/* the dup shares the position */
	lseek(fd1, 100, SEEK_SET);
	if (lseek(fd3, 0, SEEK_CUR) != 100)
		fail("fd %d no longer shares fd %d's position", fd3, fd1);
	if (pread(fd2, buf, SZ, 0) != SZ || datachk(buf, SZ, &crc))
		fail("the content changed");
	pass();
}
