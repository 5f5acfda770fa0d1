/* A container's mount layout in a mount namespace of its own (flavor h: a copy of its
 * launcher's, made private; ns and uns: the tree's), below --dirname: a tmpfs holding a proc mount and a device-like file, binds of the
 * tree's own proc mount made read-only (runc's /proc/sys, /proc/bus), a bind of a tmpfs file
 * over a proc file (runc's masked /proc/keys), a read-only empty tmpfs over a proc directory
 * (runc's masked /proc/acpi). After the restore each must be there with its flags: the file
 * bind reads as the tmpfs file, the read-only binds refuse writes, proc is this pid namespace's.
 * Break mode unmounts the file bind. */
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
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#define PROC_SUPER_MAGIC 0x9fa0
#define TMPFS_MAGIC 0x01021994

static char dir[PATH_MAX];

static const char *at(const char *name)
{
	return in_dir(dir, name);
}

static void read_text(const char *p, char *buf, size_t size)
{
	int fd = open(p, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		fail("open %s: %m", p);
	n = read(fd, buf, size - 1);
	if (n < 0)
		fail("read %s: %m", p);
	buf[n] = 0;
	close(fd);
}

static void is_fs(const char *p, long magic, int ro)
{
	struct statfs sf;
	struct statvfs sv;

	if (statfs(p, &sf) || statvfs(p, &sv))
		fail("statfs %s: %m", p);
	if (sf.f_type != magic)
		fail("%s is on filesystem 0x%lx, not 0x%lx", p, (long)sf.f_type, magic);
	if (!!(sv.f_flag & ST_RDONLY) != ro)
		fail("%s is %s, expected %s", p, sv.f_flag & ST_RDONLY ? "read-only" : "writable", ro ? "read-only" : "writable");
}

int main(int argc, char **argv)
{
	char buf[256];
	int fd, host;

	test_set_suid();
	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	/* flavor h: a mount namespace of its own; ns and uns (ZDTM_NEWNS=1): the tree's own one already */
	host = !getenv("ZDTM_NEWNS");
	if (host) {
		private_mount_ns();
	}
	if (mkdir(test_dirname, 0700) || !realpath(test_dirname, dir))
		fail("mkdir %s: %m", test_dirname);
	if (mount("zdtm-ct", dir, "tmpfs", MS_NOSUID, "mode=0755,size=1m"))
		fail("mount tmpfs at %s: %m", dir);
	if (mkdir(at("proc"), 0555) || mkdir(at("dev"), 0755))
		fail("mkdir in %s: %m", dir);
	fd = open(at("dev/masked"), O_CREAT | O_WRONLY, 0444);
	if (fd < 0 || write(fd, "masked\n", 7) != 7 || close(fd))
		fail("create %s: %m", at("dev/masked"));
	if (mount("proc", at("proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		fail("mount proc at %s: %m", at("proc"));
	/* read-only binds of the proc mount over its own directories */
	if (mount(at("proc/sys"), at("proc/sys"), NULL, MS_BIND, NULL) ||
	    mount(NULL, at("proc/sys"), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
		fail("read-only bind of %s: %m", at("proc/sys"));
	if (mount(at("proc/bus"), at("proc/bus"), NULL, MS_BIND, NULL) ||
	    mount(NULL, at("proc/bus"), NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL))
		fail("read-only bind of %s: %m", at("proc/bus"));
	/* a tmpfs file over a proc file, an empty read-only tmpfs over a proc directory */
	if (mount(at("dev/masked"), at("proc/keys"), NULL, MS_BIND, NULL))
		fail("bind %s over %s: %m", at("dev/masked"), at("proc/keys"));
	if (mount("tmpfs", at("proc/driver"), "tmpfs", MS_RDONLY, NULL))
		fail("mount a read-only tmpfs at %s: %m", at("proc/driver"));

	test_daemon();
	if (test_break()) {
		if (umount2(at("proc/keys"), MNT_DETACH))
			fail("break: umount %s: %m", at("proc/keys"));
		test_msg("break: %s unmounted", at("proc/keys"));
	}
	test_waitsig();

	read_text(at("proc/keys"), buf, sizeof(buf));
	if (strcmp(buf, "masked\n"))
		fail("%s reads \"%.40s\", not the masking file", at("proc/keys"), buf);
	is_fs(at("proc"), PROC_SUPER_MAGIC, 0);
	is_fs(at("proc/sys"), PROC_SUPER_MAGIC, 1);
	is_fs(at("proc/bus"), PROC_SUPER_MAGIC, 1);
	is_fs(at("proc/driver"), TMPFS_MAGIC, 1);
	is_fs(at("dev"), TMPFS_MAGIC, 0);
	/* the proc mount shows this task's pid namespace */
	snprintf(buf, sizeof(buf), "%s/%d", at("proc"), getpid());
	if (access(buf, F_OK))
		fail("%s is missing: proc is not of this pid namespace", buf);
	pass();
}
