/* memfd: name, seals, size, content, and a shared mapping of it. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SZ (1 << 20)

int main(int argc, char **argv)
{
	static char buf[SZ];
	char link[256], path[64];
	uint32_t crc = 51;
	uint8_t *m;
	struct stat st;
	int fd, seals;

	test_init(argc, argv);
	fd = memfd_create("zdtm-memfd00", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (fd < 0)
		fail("memfd_create: %m");
	datagen(buf, SZ, &crc);
	if (write(fd, buf, SZ) != SZ)
		fail("write: %m");
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		fail("F_ADD_SEALS: %m");
	m = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		fail("mmap: %m");
	lseek(fd, 1234, SEEK_SET);
	test_daemon();
	if (test_break()) {
		pwrite(fd, "?", 1, 4096);
		test_msg("break: wrote one byte into the memfd");
	}
	test_waitsig();

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (strcmp(link, "/memfd:zdtm-memfd00 (deleted)"))
		fail("the memfd links to '%s'", link);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals != (F_SEAL_SHRINK | F_SEAL_GROW))
		fail("seals are %#x, expected %#x", seals, F_SEAL_SHRINK | F_SEAL_GROW);
	if (fstat(fd, &st) || st.st_size != SZ)
		fail("size is %lld", (long long)st.st_size);
	if (lseek(fd, 0, SEEK_CUR) != 1234)
		fail("position is %lld", (long long)lseek(fd, 0, SEEK_CUR));
	if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		fail("FD_CLOEXEC is lost");
	if (pread(fd, buf, SZ, 0) != SZ || datachk(buf, SZ, &crc))
		fail("the content changed");
	if (datachk(m, SZ, &crc))
		fail("the mapping's content changed");
	pwrite(fd, "!", 1, 100);
	if (m[100] != '!')
		fail("the mapping no longer shares the memfd's pages");
	pass();
}
