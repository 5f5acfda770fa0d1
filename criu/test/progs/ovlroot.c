/* A container whose root filesystem is an overlay (podman's layout): ovlroot DIR makes a mount
 * namespace of its own, mounts an overlay of DIR/lower (the image, holding this program and a
 * file "image") with DIR/upper and DIR/work at DIR/merged, pivots into it and detaches the rest,
 * so the overlay is its only mount, and runs itself again from there. It writes its pid to /pid
 * (DIR/upper/pid). Then it counts into
 * /count (a file of the upper layer), holds /image open for reading (a lower file) and /log
 * open for appending (an upper file). At SIGTERM it checks its fds and the count and writes its
 * verdict to /out (DIR/upper/out from outside). Built -static: the overlay has no libc.
 *   ovlroot DIR cgroup: as runc on a cgroup v2 host, also a cgroup namespace of its own (rooted
 *   at the cgroup it is started in) with cgroup2 mounted at /cg and proc at /proc, a cgroup /cg/child made and
 *   entered; at SIGTERM /proc/self/cgroup must read 0::/child and /cg/child/cgroup.procs hold it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define OVERLAYFS_SUPER_MAGIC 0x794c7630

static volatile sig_atomic_t stop;
static void on_term(int s)
{
	(void)s;
	stop = 1;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void verdict(const char *v)
{
	int fd = open("/out", O_CREAT | O_WRONLY | O_TRUNC, 0644);

	if (fd < 0 || write(fd, v, strlen(v)) < 0 || write(fd, "\n", 1) < 0)
		exit(2);
	close(fd);
	exit(strcmp(v, "PASS") != 0);
}

int main(int argc, char **argv)
{
	char p[4096], opts[4096 * 3], buf[64];
	struct stat st, st2;
	struct statfs sf;
	long n = 0;
	int image, logfd, cg;
	FILE *f;

	if (argc < 2)
		return 2;
	cg = argc > 2 && !strcmp(argv[2], "cgroup");
	if (!strcmp(argv[1], "--in"))
		goto in;
	if (unshare(CLONE_NEWNS | (cg ? CLONE_NEWCGROUP : 0)) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("unshare");
	snprintf(opts, sizeof(opts), "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", argv[1], argv[1], argv[1]);
	snprintf(p, sizeof(p), "%s/merged", argv[1]);
	if (mount("ovlroot", p, "overlay", 0, opts))
		die("mount overlay");
	if (chdir(p) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir("/"))
		die("pivot_root");
	/* stdio is the launcher's (outside this namespace): a container's runtime would give files of its own */
	close(0);
	close(1);
	close(2);
	/* run from the overlay (the exe of a container's process is a file of its root) */
	execl("/ovlroot", "ovlroot", "--in", cg ? "cgroup" : NULL, (char *)NULL);
	die("exec /ovlroot");
in:
	if (cg) {
		int fd;

		snprintf(buf, sizeof(buf), "%d", getpid());
		if (mount("cgroup2", "/cg", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) || mkdir("/cg/child", 0755))
			die("mount cgroup2");
		if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
			die("mount proc");
		fd = open("/cg/child/cgroup.procs", O_WRONLY);
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0 || close(fd))
			die("enter /cg/child");
	}
	f = fopen("/pid", "w");
	if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f))
		die("pid");
	image = open("/image", O_RDONLY);
	logfd = open("/log", O_CREAT | O_WRONLY | O_APPEND, 0644);
	if (image < 0 || logfd < 0 || write(logfd, "started\n", 8) != 8)
		die("open");
	signal(SIGTERM, on_term);
	setsid();
	while (!stop) {
		int fd = open("/count", O_CREAT | O_WRONLY | O_TRUNC, 0644);
		int len = snprintf(buf, sizeof(buf), "%ld\n", ++n);

		if (fd < 0 || write(fd, buf, len) != len || close(fd))
			verdict("FAIL: write /count");
		usleep(50000);
	}
	if (statfs("/", &sf) || sf.f_type != OVERLAYFS_SUPER_MAGIC)
		verdict("FAIL: / is not an overlay");
	f = fopen("/count", "r");
	if (!f || fscanf(f, "%63s", buf) != 1 || atol(buf) != n)
		verdict("FAIL: /count does not hold the count");
	fclose(f);
	memset(buf, 0, sizeof(buf));
	if (pread(image, buf, sizeof(buf) - 1, 0) < 0 || strcmp(buf, "the image's file\n"))
		verdict("FAIL: the fd of /image does not read the lower file");
	if (cg) {
		char procs[4096] = "", me[32], own[4096] = "\n";
		int fd = open("/proc/self/cgroup", O_RDONLY);

		/* the unified hierarchy's line (v1 hierarchies have lines of their own on a hybrid host) */
		if (fd < 0 || read(fd, own + 1, sizeof(own) - 2) < 0 || close(fd) || !strstr(own, "\n0::/child\n"))
			verdict("FAIL: /proc/self/cgroup does not read 0::/child");
		fd = open("/cg/child/cgroup.procs", O_RDONLY);
		snprintf(me, sizeof(me), "%d\n", getpid());
		if (fd < 0 || read(fd, procs, sizeof(procs) - 1) < 0 || close(fd) || strcmp(procs, me))
			verdict("FAIL: /cg/child/cgroup.procs does not hold this task");
	}
	if (fstat(logfd, &st) || stat("/log", &st2) || st.st_ino != st2.st_ino || write(logfd, "ended\n", 6) != 6)
		verdict("FAIL: the fd of /log is not /log");
	verdict("PASS");
}
