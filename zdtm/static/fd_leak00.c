/* No fd of the tool leaks into the task: the set of open fds is the same after as at setup. */
#include "zdtmtst.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXFD 1024

static int list_fds(char *set)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;
	if (!d)
		return -1;
	memset(set, 0, MAXFD);
	while ((de = readdir(d))) {
		int fd;
		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d) || fd >= MAXFD)
			continue;
		set[fd] = 1;
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	static char before[MAXFD], after[MAXFD];
	int p[2], n, fd;

	test_init(argc, argv);
	/* a few fds of our own, one of them high */
	if (pipe(p))
		fail("pipe: %m");
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 200) < 0)
		fail("open: %m");
	test_daemon();	/* closes the library's handshake pipe */
	n = list_fds(before);
	if (test_break()) {
		open("/dev/null", O_RDONLY);	/* a new, unexpected fd */
		test_msg("break: opened one more fd");
	}
	test_waitsig();

	if (list_fds(after) < 0)
		fail("can't list fds");
	for (int i = 0; i < MAXFD; i++) {
		if (after[i] && !before[i]) {
			char path[64], link[256] = "";
			snprintf(path, sizeof(path), "/proc/self/fd/%d", i);
			ssize_t l = readlink(path, link, sizeof(link) - 1);
			link[l > 0 ? l : 0] = 0;
			fail("fd %d (%s) appeared", i, link);
		}
		if (before[i] && !after[i])
			fail("fd %d disappeared", i);
	}
	test_msg("%d fds, unchanged", n);
	pass();
}
