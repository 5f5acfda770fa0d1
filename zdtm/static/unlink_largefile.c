/* A big removed file (CRIU's unlink_largefile): 2 GiB of hole, then 2 MB of data, more than
 * the default --ghost-limit of 1 MiB (the .desc gives --ghost-limit 4M); after the restore the
 * size, the data and the hole are as before. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OFF 0x80002000LL
#define SZ (2 * 1000 * 1000)

int main(int argc, char **argv)
{
	static char buf[SZ];
	char hole[4096], z[4096] = { 0 };
	uint32_t crc = 3;
	struct stat st;
	int fd;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC | O_LARGEFILE, 0644);
	if (fd < 0)
		fail("open: %m");
	datagen(buf, SZ, &crc);
	if (pwrite(fd, buf, SZ, OFF) != SZ)
		fail("pwrite: %m");
	if (unlink(test_filename))
		fail("unlink: %m");
	test_daemon();
	if (test_break()) {
		pwrite(fd, "!", 1, OFF + SZ / 2);
		test_msg("break: wrote a byte into the file");
	}
	test_waitsig();

	if (fstat(fd, &st))
		fail("fstat: %m");
	if (st.st_size != OFF + SZ)
		fail("size %lld, expected %lld", (long long)st.st_size, OFF + SZ);
	if (st.st_blocks * 512 > 4 * SZ)
		fail("%lld bytes on disk: the hole was filled", (long long)st.st_blocks * 512);
	if (pread(fd, hole, sizeof(hole), OFF / 2) != sizeof(hole) || memcmp(hole, z, sizeof(z)))
		fail("the hole holds data");
	if (pread(fd, buf, SZ, OFF) != SZ || datachk(buf, SZ, &crc))
		fail("the data changed");
	pass();
}
