/* A task in a mount namespace of its own (a copy of its launcher's, made private) with a tmpfs
 * mounted on --dirname: files in it, one held open at a position, a bind of one of its
 * directories inside it. Everything the namespace had before is an external mount for the
 * tool (--ext-mount-map auto, in the .desc). Break mode empties a file of the tmpfs. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define TMPFS_MAGIC 0x01021994

static void put(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0640);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd))
		fail("write %s: %m", p);
}

static void expect(const char *dir, const char *name, const char *text)
{
	char p[PATH_MAX], buf[256] = "";
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_RDONLY);
	if (fd < 0)
		fail("open %s: %m", p);
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		fail("read %s: %m", p);
	close(fd);
	if (strcmp(buf, text))
		fail("%s holds \"%s\", expected \"%s\"", p, buf, text);
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX], p[PATH_MAX + 16], q[PATH_MAX + 16], line[PATH_MAX + 256];
	struct stat st, st2;
	struct statfs sf;
	int held, found = 0;
	FILE *mi;

	test_set_suid();
	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	private_mount_ns();
	if (mkdir(test_dirname, 0700) || !realpath(test_dirname, dir))
		fail("mkdir %s: %m", test_dirname);
	if (mount("zdtm-mnt", dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0711,size=1m"))
		fail("mount tmpfs at %s: %m", dir);
	put(dir, "file", "in a mount namespace");
	snprintf(p, sizeof(p), "%s/sub", dir);
	snprintf(q, sizeof(q), "%s/bind", dir);
	if (mkdir(p, 0750) || mkdir(q, 0755))
		fail("mkdir in %s: %m", dir);
	put(p, "inner", "seen through the bind");
	if (mount(p, q, NULL, MS_BIND, NULL))
		fail("bind %s at %s: %m", p, q);
	snprintf(p, sizeof(p), "%s/held", dir);
	held = open(p, O_CREAT | O_RDWR, 0600);
	if (held < 0 || write(held, "held", 4) != 4 || fstat(held, &st))
		fail("open %s: %m", p);

	test_daemon();
	if (test_break()) {
		snprintf(q, sizeof(q), "%s/file", dir);
		truncate(q, 0);
		test_msg("break: %s emptied", q);
	}
	test_waitsig();

	expect(dir, "file", "in a mount namespace");
	expect(dir, "bind/inner", "seen through the bind");
	expect(dir, "sub/inner", "seen through the bind");
	if (lseek(held, 0, SEEK_CUR) != 4)
		fail("the held fd is at %ld, not 4", (long)lseek(held, 0, SEEK_CUR));
	if (stat(p, &st2) || fstat(held, &st) || st.st_ino != st2.st_ino || st.st_dev != st2.st_dev)
		fail("the held fd is not %s", p);
	if (statfs(dir, &sf) || sf.f_type != TMPFS_MAGIC)
		fail("%s is not a tmpfs", dir);
	if (stat(dir, &st) || (st.st_mode & 07777) != 0711)
		fail("%s has mode 0%o, not 0711", dir, st.st_mode & 07777);
	mi = fopen("/proc/self/mountinfo", "r");
	if (!mi)
		fail("open mountinfo: %m");
	while (fgets(line, sizeof(line), mi)) {
		char root[PATH_MAX], mp[PATH_MAX];
		if (sscanf(line, "%*d %*d %*s %s %s", root, mp) == 2 && !strcmp(mp, dir) && strstr(line, " - tmpfs zdtm-mnt rw,size=1024k,mode=711"))
			found = 1;
	}
	fclose(mi);
	if (!found)
		fail("no tmpfs zdtm-mnt at %s in mountinfo", dir);
	pass();
}
