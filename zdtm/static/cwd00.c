/* The current directory. */
#include "zdtmtst.h"
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char want[PATH_MAX], now[PATH_MAX];
	struct stat st, st2;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0700))
		fail("mkdir %s: %m", test_dirname);
	if (!realpath(test_dirname, want) || chdir(want))
		fail("chdir %s: %m", test_dirname);
	if (stat(".", &st))
		fail("stat: %m");
	test_daemon();
	if (test_break()) {
		chdir("..");
		test_msg("break: chdir ..");
	}
	test_waitsig();

	if (!getcwd(now, sizeof(now)))
		fail("getcwd: %m");
	if (strcmp(now, want))
		fail("cwd is %s, expected %s", now, want);
	if (stat(".", &st2) || st.st_ino != st2.st_ino || st.st_dev != st2.st_dev)
		fail("cwd is another directory");
	chdir("/");
	rmdir(want);
	pass();
}
