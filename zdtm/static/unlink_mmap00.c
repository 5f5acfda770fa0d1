/* Private mappings of a file removed since (CRIU's unlink_mmap00): two regions of different
 * protections, one written (its page is the task's own copy); after the restore the file's
 * pages and the private copy are as before, and the mappings still name the removed file. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096

static void put(int fd, off_t off, char c)
{
	if (pwrite(fd, &c, 1, off) != 1)
		fail("pwrite: %m");
}

int main(int argc, char **argv)
{
	char *a, *b, line[PATH_MAX + 128], want[PATH_MAX + 16];
	int fd;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open: %m");
	put(fd, 0, 'a');
	put(fd, PAGE, 'b');
	put(fd, 2 * PAGE - 1, 'c');
	a = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
	b = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PAGE);
	if (a == MAP_FAILED || b == MAP_FAILED)
		fail("mmap: %m");
	b[1] = 'p'; /* a private copy of this page */
	if (!realpath(test_filename, want))
		fail("realpath: %m");
	strcat(want, " (deleted)");
	if (unlink(test_filename))
		fail("unlink: %m");
	close(fd);
	test_daemon();
	if (test_break()) {
		b[PAGE - 1] = 'X';
		test_msg("break: wrote into the private copy");
	}
	test_waitsig();

	if (a[0] != 'a')
		fail("1st region: '%c', expected 'a'", a[0]);
	if (b[0] != 'b' || b[1] != 'p' || b[PAGE - 1] != 'c')
		fail("2nd region: '%c%c…%c', expected 'bp…c'", b[0], b[1], b[PAGE - 1]);
	if (vma_line(a, line, sizeof(line)) || !strstr(line, want))
		fail("the 1st mapping is '%s', expected one of '%s'", line, want);
	if (vma_line(b, line, sizeof(line)) || !strstr(line, want))
		fail("the 2nd mapping is '%s', expected one of '%s'", line, want);
	if (access(test_filename, F_OK) == 0)
		fail("the name is back");
	pass();
}
