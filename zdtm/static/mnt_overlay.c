/* An overlay mounted inside a mount namespace of the tree's own (flavor h: a copy of its
 * launcher's, made private; ns and uns: the tree's), below --dirname on a tmpfs of its own:
 * lower/ holds "base" and "gone", the overlay at merged/ (lowerdir, upperdir and workdir in the
 * tree's view) gets "new" written through it and "gone" removed (a whiteout in upper/), and a
 * file of it is held open. After the restore merged/ shows base and new and not gone, the held
 * fd reads its file, a write through merged/ lands in upper/, and mountinfo shows the overlay
 * with the same options. Break mode unmounts the overlay. */
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
#include <sys/vfs.h>
#include <unistd.h>

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

static char dir[PATH_MAX];

static const char *at(const char *name)
{
	return in_dir(dir, name);
}

static void put(const char *name, const char *text)
{
	int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd))
		fail("write %s: %m", at(name));
}

static void expect(const char *name, const char *text)
{
	char buf[256];

	if (read_file(at(name), buf, sizeof(buf)) < 0)
		fail("read %s: %m", at(name));
	if (strcmp(buf, text))
		fail("%s holds \"%s\", expected \"%s\"", at(name), buf, text);
}

/* the super options of the mount at merged/, from mountinfo */
static void options(char *out, size_t size)
{
	char line[PATH_MAX * 3], mp[PATH_MAX];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	out[0] = 0;
	if (!f)
		fail("open mountinfo: %m");
	while (fgets(line, sizeof(line), f)) {
		char *post = strstr(line, " - overlay ");

		if (post && sscanf(line, "%*d %*d %*s %*s %s", mp) == 1 && !strcmp(mp, at("merged")))
			snprintf(out, size, "%s", post);
	}
	fclose(f);
	if (!out[0])
		fail("no overlay at %s", at("merged"));
}

int main(int argc, char **argv)
{
	char opts[PATH_MAX * 4], before[PATH_MAX * 3], after[PATH_MAX * 3], buf[64];
	struct statfs sf;
	struct stat st;
	int held;

	test_set_suid();
	test_init(argc, argv);
	mount_test_dir(dir, "zdtm-ovl", "size=4m");
	if (mkdir(at("lower"), 0755) || mkdir(at("upper"), 0755) || mkdir(at("work"), 0755) || mkdir(at("merged"), 0755))
		fail("mkdir in %s: %m", dir);
	put("lower/base", "from the lower layer");
	put("lower/gone", "removed through the overlay");
	snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", at("lower"), at("upper"), at("work"));
	if (mount("zdtm-ovl", at("merged"), "overlay", 0, opts))
		fail("mount an overlay at %s (%s): %m", at("merged"), opts);
	put("merged/new", "written through the overlay");
	if (unlink(at("merged/gone")))
		fail("unlink %s: %m", at("merged/gone"));
	held = open(at("merged/base"), O_RDONLY);
	if (held < 0)
		fail("open %s: %m", at("merged/base"));
	options(before, sizeof(before));

	test_daemon();
	if (test_break()) {
		if (umount2(at("merged"), MNT_DETACH))
			fail("umount %s: %m", at("merged"));
		test_msg("break: %s unmounted", at("merged"));
	}
	test_waitsig();

	if (statfs(at("merged"), &sf) || sf.f_type != OVERLAYFS_SUPER_MAGIC)
		fail("%s is not an overlay", at("merged"));
	options(after, sizeof(after));
	if (strcmp(before, after))
		fail("the overlay's options differ:\n  before%s  after %s", before, after);
	expect("merged/base", "from the lower layer");
	expect("merged/new", "written through the overlay");
	if (!stat(at("merged/gone"), &st) || errno != ENOENT)
		fail("%s is back", at("merged/gone"));
	memset(buf, 0, sizeof(buf));
	if (pread(held, buf, sizeof(buf) - 1, 0) < 0 || strcmp(buf, "from the lower layer"))
		fail("the held fd reads \"%s\"", buf);
	put("merged/after", "written after the restore");
	expect("upper/after", "written after the restore");
	pass();
}
