/* /proc/self/exe: the program re-executes itself from a copy at --filename, so its
 * exe link points to that file; the link (path and inode) must stay. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static void copy_self(const char *dst)
{
	int in = open("/proc/self/exe", O_RDONLY), out;
	struct stat st;

	if (in < 0 || fstat(in, &st))
		exit(1);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0)
		exit(1);
	for (off_t off = 0; off < st.st_size;)
		if (sendfile(out, in, &off, st.st_size - off) <= 0)
			exit(1);
	if (geteuid() == 0)
		fchown(out, ZDTM_UID, ZDTM_GID);	/* the test may rename it */
	close(in);
	close(out);
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], exe2[PATH_MAX], moved[PATH_MAX + 8], real[PATH_MAX];
	struct stat st, st2;
	ssize_t n;

	if (!getenv("ZDTM_SELFEXE_COPY")) {
		char *fn = NULL;
		for (int i = 1; i < argc; i++)
			if (!strncmp(argv[i], "--filename=", 11))
				fn = argv[i] + 11;
		if (fn) {
			copy_self(fn);
			setenv("ZDTM_SELFEXE_COPY", "1", 1);
			execv(fn, argv);
			exit(1);
		}
	}
	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	if (!realpath(test_filename, real))
		fail("realpath %s: %m", test_filename);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		fail("readlink: %m");
	exe[n] = 0;
	if (strcmp(exe, real))
		fail("exe is %s, expected the copy %s", exe, real);
	if (stat("/proc/self/exe", &st))
		fail("stat: %m");
	test_daemon();
	if (test_break()) {
		snprintf(moved, sizeof(moved), "%s.moved", real);
		if (rename(real, moved))
			fail("break: rename: %m");
		test_msg("break: renamed the executable");
	}
	test_waitsig();

	n = readlink("/proc/self/exe", exe2, sizeof(exe2) - 1);
	if (n < 0)
		fail("readlink: %m");
	exe2[n] = 0;
	if (strcmp(exe, exe2))
		fail("/proc/self/exe is %s, expected %s", exe2, exe);
	if (stat("/proc/self/exe", &st2))
		fail("stat: %m");
	if (st.st_dev != st2.st_dev || st.st_ino != st2.st_ino)
		fail("/proc/self/exe is another file now");
	pass();
}
