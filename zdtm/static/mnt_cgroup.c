/* A container's cgroup mount (runc's /sys/fs/cgroup on a cgroup v2 host): in the cgroup the
 * runner delegates to it (desc flag "cgroup"), the program makes cgroup and mount namespaces of
 * its own (flavor h; ns and uns: the tree's, desc flag "cgroupns"), mounts
 * cgroup2 below --dirname (its root is the namespace's root: the delegated cgroup), makes a
 * cgroup "child" there and enters it, and binds that cgroup's directory beside the mount.
 * After the restore: /proc/self/cgroup reads "0::/child", the cgroup2 mount is rooted at "/"
 * and lists child, the bind is rooted at "/child" and is that directory, and its cgroup.procs
 * holds this task. Break mode unmounts the bind. (The harness dumps with --ext-mount-map auto;
 * criu/test/mnt-prop.spec.ts dumps such a mount without it.) */
#define TEST_SUID
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
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

/* the root and the filesystem type of the topmost mount at DIR/NAME */
static void mount_of(const char *name, char *root, char *fstype)
{
	char line[PATH_MAX * 2 + 512], r[PATH_MAX], mp[PATH_MAX], t[64];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	int found = 0;

	if (!f)
		fail("open mountinfo: %m");
	while (fgets(line, sizeof(line), f)) {
		char *post = strstr(line, " - ");

		if (!post || sscanf(line, "%*d %*d %*s %s %s", r, mp) != 2 || strcmp(mp, at(name)) || sscanf(post + 3, "%63s", t) != 1)
			continue;
		strcpy(root, r);
		strcpy(fstype, t);
		found = 1;
	}
	fclose(f);
	if (!found)
		fail("no mount at %s", at(name));
}

static void check(void)
{
	char buf[4096], root[PATH_MAX], type[64], me[32];
	struct stat a, b;

	if (read_file("/proc/self/cgroup", buf, sizeof(buf)) < 0)
		fail("read /proc/self/cgroup: %m");
	if (!strstr(buf, "0::/child\n"))
		fail("/proc/self/cgroup reads \"%s\", not 0::/child", buf);
	mount_of("cg", root, type);
	if (strcmp(root, "/") || strcmp(type, "cgroup2"))
		fail("%s: a %s mount with root %s, expected cgroup2 rooted at /", at("cg"), type, root);
	mount_of("cgb", root, type);
	if (strcmp(root, "/child") || strcmp(type, "cgroup2"))
		fail("%s: a %s mount with root %s, expected cgroup2 rooted at /child", at("cgb"), type, root);
	if (stat(at("cg/child"), &a) || stat(at("cgb"), &b) || a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		fail("%s is not the directory of %s", at("cgb"), at("cg/child"));
	if (read_file(at("cgb/cgroup.procs"), buf, sizeof(buf)) < 0)
		fail("read %s: %m", at("cgb/cgroup.procs"));
	snprintf(me, sizeof(me), "%d\n", getpid());
	if (strncmp(buf, me, strlen(me)) && !strstr(buf, me))
		fail("%s holds \"%s\", not this task %d", at("cgb/cgroup.procs"), buf, getpid());
}

int main(int argc, char **argv)
{
	char me[32];
	int fd;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (!getenv("ZDTM_NEWNS") && unshare(CLONE_NEWCGROUP | CLONE_NEWNS))
		fail("unshare the cgroup and mount namespaces: %m");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		fail("make the mounts private: %m");
	if (mkdir(test_dirname, 0700) || !realpath(test_dirname, dir))
		fail("mkdir %s: %m", test_dirname);
	if (mkdir(at("cg"), 0755) || mount("cgroup2", at("cg"), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		fail("mount cgroup2 at %s: %m", at("cg"));
	if (mkdir(at("cg/child"), 0755))
		fail("mkdir %s: %m", at("cg/child"));
	snprintf(me, sizeof(me), "%d", getpid());
	fd = open(at("cg/child/cgroup.procs"), O_WRONLY);
	if (fd < 0 || write(fd, me, strlen(me)) != (ssize_t)strlen(me) || close(fd))
		fail("enter %s: %m", at("cg/child"));
	if (mkdir(at("cgb"), 0755) || mount(at("cg/child"), at("cgb"), NULL, MS_BIND, NULL))
		fail("bind %s at %s: %m", at("cg/child"), at("cgb"));
	check();

	test_daemon();
	if (test_break()) {
		if (umount2(at("cgb"), MNT_DETACH))
			fail("umount %s: %m", at("cgb"));
		test_msg("break: %s unmounted", at("cgb"));
	}
	test_waitsig();

	check();
	pass();
}
