/* A file opened, linked to a second name, its first name removed and its size changed (CRIU's
 * unlink_fstat03, dumped with --link-remap): after the restore the fd is on the same file
 * (inode), with its size, and the second name still leads to it. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FSIZE 1000

int main(int argc, char **argv)
{
	char link_name[4096], buf[FSIZE];
	struct stat fst, fst2, lst;
	int fd;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open: %m");
	snprintf(link_name, sizeof(link_name), "%s.link", test_filename);
	if (link(test_filename, link_name))
		fail("link: %m");
	if (unlink(test_filename))
		fail("unlink: %m");
	memset(buf, '0', sizeof(buf));
	if (write(fd, buf, sizeof(buf)) != sizeof(buf))
		fail("write: %m");
	if (fstat(fd, &fst))
		fail("fstat: %m");
	test_daemon();
	if (test_break()) {
		if (ftruncate(fd, FSIZE / 2))
			fail("ftruncate: %m");
		test_msg("break: truncated the file");
	}
	test_waitsig();

	if (fstat(fd, &fst2))
		fail("fstat: %m");
	if (fst.st_ino != fst2.st_ino || fst.st_dev != fst2.st_dev)
		fail("the fd is on another file after the restore");
	if (fst2.st_size != FSIZE || lseek(fd, 0, SEEK_END) != FSIZE)
		fail("the file's size is %lld, expected %d", (long long)fst2.st_size, FSIZE);
	if (fst2.st_nlink != 1)
		fail("the file has %lu links, expected 1 (link remaps left behind?)", (unsigned long)fst2.st_nlink);
	if (stat(link_name, &lst) || lst.st_ino != fst.st_ino)
		fail("%s is not the file any more", link_name);
	if (access(test_filename, F_OK) == 0)
		fail("the removed name is back");
	unlink(link_name);
	pass();
}
