/* A removed file mapped shared and private and held by an fd: after the restore the shared
 * mapping, the private one and the fd are on one file again (a write through the shared
 * mapping shows in the fd and in the private mapping's untouched pages), with its contents. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096
#define SZ (3 * PAGE)

int main(int argc, char **argv)
{
	static char buf[SZ], back[SZ];
	char *sh, *pr, line[PATH_MAX + 128], want[PATH_MAX + 16];
	uint32_t crc = 7, crc2;
	struct stat st;
	int fd;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		fail("open: %m");
	if (ftruncate(fd, SZ))
		fail("ftruncate: %m");
	sh = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	pr = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (sh == MAP_FAILED || pr == MAP_FAILED)
		fail("mmap: %m");
	datagen(buf, SZ, &crc);
	memcpy(sh, buf, SZ); /* into the file, through the shared mapping */
	pr[2 * PAGE] = ~buf[2 * PAGE]; /* the private mapping's own copy of its last page */
	if (!realpath(test_filename, want))
		fail("realpath: %m");
	strcat(want, " (deleted)");
	if (unlink(test_filename))
		fail("unlink: %m");
	test_daemon();
	if (test_break()) {
		sh[PAGE + 5] ^= 1;
		test_msg("break: changed a byte of the file through the shared mapping");
	}
	test_waitsig();

	crc2 = crc;
	if (datachk(sh, SZ, &crc2))
		fail("the shared mapping's contents changed");
	if (pread(fd, back, SZ, 0) != SZ || memcmp(back, buf, SZ))
		fail("the file's contents (read through the fd) changed");
	if (memcmp(pr, buf, 2 * PAGE) || pr[2 * PAGE] != (char)~buf[2 * PAGE] || memcmp(pr + 2 * PAGE + 1, buf + 2 * PAGE + 1, PAGE - 1))
		fail("the private mapping's contents changed");
	/* one file: a write through the shared mapping is in the fd and in the private mapping */
	sh[10] = ~sh[10];
	if (pread(fd, back, 16, 0) != 16 || back[10] != sh[10])
		fail("the fd is not on the file of the shared mapping");
	if (pr[10] != sh[10])
		fail("the private mapping is not on the file of the shared mapping");
	if (fstat(fd, &st) || st.st_nlink != 0 || st.st_size != SZ || (st.st_mode & 07777) != 0600)
		fail("the fd's file: nlink %lu size %lld mode %o", (unsigned long)st.st_nlink, (long long)st.st_size, st.st_mode & 07777);
	if (vma_line(sh, line, sizeof(line)) || !strstr(line, want) || !strstr(line, " rw-s "))
		fail("the shared mapping is '%s', expected one of '%s'", line, want);
	if (vma_line(pr, line, sizeof(line)) || !strstr(line, want) || !strstr(line, " rw-p "))
		fail("the private mapping is '%s', expected one of '%s'", line, want);
	if (access(test_filename, F_OK) == 0)
		fail("the name is back");
	pass();
}
