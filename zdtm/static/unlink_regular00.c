/* Removed files inside removed directories (CRIU's unlink_regular00, without its tmpfs mount):
 * one still linked elsewhere (a link remap, --link-remap in the .desc: link_remap.N goes to the
 * nearest directory that exists), one with no link left (a ghost, made in the nearest directory
 * that exists); after the restore both hold their contents and positions, and neither the
 * directories nor any remap is left behind. */
#include "zdtmtst.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MSG "Hello!!!111"

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		fail("opendir %s: %m", dir);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	char sub[PATH_MAX], mid[PATH_MAX], sub2[PATH_MAX + 8], fname[PATH_MAX + 16], lname[PATH_MAX + 16], gname[PATH_MAX + 16], buf[64];
	int fd, gd;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0777))
		fail("mkdir: %m");
	snprintf(sub, sizeof(sub), "%s/subdir", test_dirname);
	snprintf(mid, sizeof(mid), "%s/subdir2", test_dirname);
	snprintf(sub2, sizeof(sub2), "%s/deeper", mid);
	snprintf(fname, sizeof(fname), "%s/testfile", sub);
	snprintf(lname, sizeof(lname), "%s/testfile", test_dirname);
	snprintf(gname, sizeof(gname), "%s/ghost", sub2);
	if (mkdir(sub, 0777) || mkdir(mid, 0777) || mkdir(sub2, 0777))
		fail("mkdir: %m");
	fd = open(fname, O_RDWR | O_CREAT, 0644);
	gd = open(gname, O_RDWR | O_CREAT, 0600);
	if (fd < 0 || gd < 0)
		fail("open: %m");
	if (link(fname, lname))
		fail("link: %m");
	if (unlink(fname) || rmdir(sub) || unlink(gname) || rmdir(sub2) || rmdir(mid))
		fail("unlink/rmdir: %m");
	if (write(fd, MSG, sizeof(MSG)) != sizeof(MSG) || write(gd, "ghost!", 6) != 6)
		fail("write: %m");
	lseek(gd, 2, SEEK_SET);
	test_daemon();
	if (test_break()) {
		pwrite(fd, "J", 1, 0);
		test_msg("break: changed the linked file");
	}
	test_waitsig();

	memset(buf, 0, sizeof(buf));
	if (pread(fd, buf, sizeof(MSG), 0) != sizeof(MSG) || strcmp(buf, MSG))
		fail("the linked file holds '%s'", buf);
	memset(buf, 0, sizeof(buf));
	if (lseek(gd, 0, SEEK_CUR) != 2 || pread(gd, buf, 6, 0) != 6 || strcmp(buf, "ghost!"))
		fail("the ghost holds '%s' at %lld", buf, (long long)lseek(gd, 0, SEEK_CUR));
	if (access(sub, F_OK) == 0 || access(mid, F_OK) == 0)
		fail("a removed directory is back");
	if (entries(test_dirname) != 1)
		fail("%s holds %d entries, expected only testfile", test_dirname, entries(test_dirname));
	pass();
}
