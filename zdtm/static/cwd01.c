/* A removed current directory stays current (and removed). */
#include "zdtmtst.h"
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char want[PATH_MAX + 16], link[PATH_MAX], buf[PATH_MAX];
	struct stat st;
	ssize_t n;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0700))
		fail("mkdir %s: %m", test_dirname);
	if (!realpath(test_dirname, want) || chdir(want))
		fail("chdir %s: %m", test_dirname);
	if (rmdir(want))
		fail("rmdir: %m");
	strcat(want, " (deleted)");
	test_daemon();
	if (test_break()) {
		chdir("/");
		test_msg("break: chdir /");
	}
	test_waitsig();

	n = readlink("/proc/self/cwd", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (strcmp(link, want))
		fail("cwd is '%s', expected '%s'", link, want);
	if (stat(".", &st))
		fail("stat: %m");
	if (st.st_nlink != 0 || !S_ISDIR(st.st_mode))
		fail("cwd has nlink %lu mode %o", (unsigned long)st.st_nlink, st.st_mode);
	errno = 0;
	if (getcwd(buf, sizeof(buf)) || errno != ENOENT)
		fail("getcwd did not fail with ENOENT");
	pass();
}
