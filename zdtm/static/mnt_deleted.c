/* Bind mounts whose sources were removed (mountinfo's "ROOT//deleted"), in a mount namespace of
 * the tree's own (flavor h: a copy of its launcher's, made private; ns and uns: the tree's),
 * below --dirname on a tmpfs of its own: a directory src/ bound at b/ and a file srcf bound at
 * bf, both sources removed after the bind. After the restore b/ and bf are still mounts (CRIU's
 * way: each source made again for its bind, then removed), mountinfo shows them with their
 * removed roots as before, the sources are gone from the tmpfs, and b/ takes no new files (a
 * removed directory). Break mode unmounts bf. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

static const char *at(const char *name)
{
	return in_dir(dir, name);
}

/* the root of the topmost mount at DIR/NAME, "" when there is none */
static void root_of(const char *name, char *root, size_t size)
{
	char line[PATH_MAX * 3], r[PATH_MAX], mp[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	root[0] = 0;
	if (!f)
		fail("open mountinfo: %m");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %*s %s %s", r, mp) == 2 && !strcmp(mp, at(name)))
			snprintf(root, size, "%s", r);
	fclose(f);
}

int main(int argc, char **argv)
{
	char b_root[PATH_MAX], bf_root[PATH_MAX], now[PATH_MAX];
	struct stat st;
	int fd;

	test_set_suid();
	test_init(argc, argv);
	mount_test_dir(dir, "zdtm-del", "size=1m");
	if (mkdir(at("src"), 0755) || mkdir(at("b"), 0755) || mount(at("src"), at("b"), NULL, MS_BIND, NULL) || rmdir(at("src")))
		fail("bind %s at %s and remove it: %m", at("src"), at("b"));
	fd = open(at("srcf"), O_CREAT | O_WRONLY, 0644);
	if (fd < 0 || close(fd) || (fd = open(at("bf"), O_CREAT | O_WRONLY, 0644)) < 0 || close(fd) ||
	    mount(at("srcf"), at("bf"), NULL, MS_BIND, NULL) || unlink(at("srcf")))
		fail("bind %s at %s and remove it: %m", at("srcf"), at("bf"));
	root_of("b", b_root, sizeof(b_root));
	root_of("bf", bf_root, sizeof(bf_root));
	if (!strstr(b_root, "//deleted") || !strstr(bf_root, "//deleted"))
		fail("the binds' roots are %s and %s, not removed ones", b_root, bf_root);

	test_daemon();
	if (test_break()) {
		if (umount2(at("bf"), MNT_DETACH))
			fail("umount %s: %m", at("bf"));
		test_msg("break: %s unmounted", at("bf"));
	}
	test_waitsig();

	root_of("b", now, sizeof(now));
	if (strcmp(now, b_root))
		fail("%s: root %s, expected %s", at("b"), now[0] ? now : "(no mount)", b_root);
	root_of("bf", now, sizeof(now));
	if (strcmp(now, bf_root))
		fail("%s: root %s, expected %s", at("bf"), now[0] ? now : "(no mount)", bf_root);
	if (!lstat(at("src"), &st) || !lstat(at("srcf"), &st))
		fail("a removed source is back in %s", dir);
	if (open(at("b/new"), O_CREAT | O_WRONLY, 0644) >= 0 || errno != ENOENT)
		fail("%s takes new files: not a removed directory", at("b"));
	if (stat(at("bf"), &st) || !S_ISREG(st.st_mode))
		fail("%s is not a file", at("bf"));
	pass();
}
