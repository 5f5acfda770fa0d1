/* zdtm-ns-launch: starts a zdtm test program in the `ns` or `uns` flavor.
 *
 *   zdtm-ns-launch [--user BASE] [--cgroupns] --root DIR --tmp DIR [--ro PATH]... --pidfile FILE
 *                  --inner-pidfile FILE -- PROG ARGS...
 *
 * The launcher clones the init of new pid, mount, net, uts and ipc namespaces (and, with
 * --user, of a user namespace whose ids 0..65535 are host ids BASE..BASE+65535; with
 * --cgroupns, of a cgroup namespace rooted at the launcher's cgroup). The init
 * builds a root on a tmpfs mounted at DIR: read-only bind mounts of /usr, /lib*, /bin, /sbin,
 * /etc and every --ro PATH (symlinks such as /bin -> usr/bin are copied as symlinks), the host
 * directory --tmp bound read-write at /tmp, a small /dev, a fresh /proc; it pivots into it,
 * brings up lo, and starts PROG ARGS (which daemonize by the zdtm protocol and write
 * --inner-pidfile, a path inside the namespace). Once the program's launcher has exited with 0
 * the host launcher writes the init's host pid into --pidfile and exits 0; otherwise it exits
 * with the program's status.
 *
 * The init stays the root of the tree: it reaps the namespace's orphans, forwards SIGTERM to the
 * test (the pid in --inner-pidfile) and exits with the test's status once the test has exited
 * (the kernel then kills what is left of the namespace).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_RO 32

static const char *root_dir, *tmp_dir, *pidfile, *inner_pidfile;
static const char *ro[MAX_RO];
static int nr_ro;
static long user_base = -1;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;

	fprintf(stderr, "zdtm-ns-launch[%d]: ", getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(120);
}

static void mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) && errno != EEXIST)
			die("mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		die("mkdir %s", buf);
}

static unsigned long locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv))
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

/* Binds host PATH at the same path under the new root (read-only unless rw). */
static void bind_path(const char *path, const char *at, int rw)
{
	char dst[PATH_MAX], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(dst, sizeof(dst), "%s%s", root_dir, at);
	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return;
		die("lstat %s", path);
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			die("readlink %s", path);
		link[n] = 0;
		char parent[PATH_MAX];
		snprintf(parent, sizeof(parent), "%s", dst);
		*strrchr(parent, '/') = 0;
		if (*parent)
			mkdir_p(parent, 0755);
		if (symlink(link, dst) && errno != EEXIST)
			die("symlink %s", dst);
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		mkdir_p(dst, 0755);
	} else {
		char parent[PATH_MAX];
		int fd;
		snprintf(parent, sizeof(parent), "%s", dst);
		*strrchr(parent, '/') = 0;
		mkdir_p(parent, 0755);
		fd = open(dst, O_CREAT | O_WRONLY, 0644);
		if (fd < 0)
			die("create %s", dst);
		close(fd);
	}
	if (mount(path, dst, NULL, MS_BIND | MS_REC, NULL))
		die("bind %s at %s", path, dst);
	if (!rw && mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(path), NULL))
		die("remount %s read-only", dst);
}

static void setup_root(void)
{
	static const char *sys_ro[] = { "/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc" };
	static const char *devs[] = { "null", "zero", "full", "random", "urandom", "tty", "net/tun" };
	char p[PATH_MAX];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("make / private");
	if (mount("zdtm-root", root_dir, "tmpfs", 0, "mode=0755"))
		die("mount tmpfs at %s", root_dir);
	for (size_t i = 0; i < sizeof(sys_ro) / sizeof(sys_ro[0]); i++)
		bind_path(sys_ro[i], sys_ro[i], 0);
	for (int i = 0; i < nr_ro; i++)
		bind_path(ro[i], ro[i], 0);
	bind_path(tmp_dir, "/tmp", 1);

	snprintf(p, sizeof(p), "%s/dev", root_dir);
	mkdir_p(p, 0755);
	if (mount("zdtm-dev", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755"))
		die("mount /dev");
	for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++) {
		char src[64], dst[PATH_MAX];
		int fd;
		snprintf(src, sizeof(src), "/dev/%s", devs[i]);
		snprintf(dst, sizeof(dst), "%s/dev/%s", root_dir, devs[i]);
		if (strchr(devs[i], '/')) {	/* net/tun: its directory first */
			snprintf(p, sizeof(p), "%s/dev/%.*s", root_dir, (int)(strchr(devs[i], '/') - devs[i]), devs[i]);
			mkdir_p(p, 0755);
		}
		fd = open(dst, O_CREAT | O_WRONLY, 0666);
		if (fd >= 0)
			close(fd);
		if (mount(src, dst, NULL, MS_BIND, NULL))
			unlink(dst);	/* no such device here (tty without a terminal is fine) */
	}
	static const char *links[][2] = {
		{ "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" },
		{ "/proc/self/fd/1", "stdout" }, { "/proc/self/fd/2", "stderr" },
		{ "pts/ptmx", "ptmx" },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/dev/%s", root_dir, links[i][1]);
		if (symlink(links[i][0], p))
			die("symlink %s", p);
	}
	snprintf(p, sizeof(p), "%s/dev/shm", root_dir);
	mkdir_p(p, 01777);
	if (mount("zdtm-shm", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"))
		die("mount /dev/shm");
	snprintf(p, sizeof(p), "%s/dev/pts", root_dir);
	mkdir_p(p, 0755);
	mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");

	snprintf(p, sizeof(p), "%s/proc", root_dir);
	mkdir_p(p, 0555);
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		die("mount /proc");
	snprintf(p, sizeof(p), "%s/run", root_dir);
	mkdir_p(p, 0755);
	if (mount("zdtm-run", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"))
		die("mount /run");

	if (chdir(root_dir))
		die("chdir %s", root_dir);
	if (syscall(SYS_pivot_root, ".", "."))
		die("pivot_root");
	if (umount2(".", MNT_DETACH))
		die("detach the old root");
	if (chdir("/"))
		die("chdir /");
}

static void lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (!ioctl(s, SIOCGIFFLAGS, &ifr)) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("write %s", path);
	close(fd);
}

static void write_pidfile(const char *path, pid_t pid)
{
	char tmp[PATH_MAX], buf[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("create %s", tmp);
	n = snprintf(buf, sizeof(buf), "%d\n", pid);
	if (write(fd, buf, n) != n || close(fd))
		die("write %s", tmp);
	if (rename(tmp, path))
		die("rename %s", tmp);
}

static int code_of(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t read_pid(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY), n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atoi(buf);
}

/* PID 1 of the new namespaces. */
static int init_main(int go_fd, int ready_fd, char **argv)
{
	sigset_t mask;
	pid_t launcher, test = -1;
	int status, fd;
	char c;

	if (read(go_fd, &c, 1) != 1)
		exit(121);	/* the host launcher gave up */
	close(go_fd);
	/* pidns: the tree's root leads its own session, as a dump requires of a root that is not a
	 * shell job (CRIU's pstree.c); outside, its session would be 0 inside the namespace */
	if (setsid() < 0)
		die("setsid");
	if (user_base >= 0) {
		gid_t none[1];
		if (setresgid(0, 0, 0) || setresuid(0, 0, 0) || setgroups(0, none))
			die("become root in the user namespace");
	}
	if (sethostname("zdtm", 4))
		die("sethostname");
	setup_root();
	lo_up();

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	launcher = fork();
	if (launcher < 0)
		die("fork");
	if (launcher == 0) {
		sigprocmask(SIG_UNBLOCK, &mask, NULL);
		close(ready_fd);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
		execvp(argv[0], argv);
		die("exec %s", argv[0]);
	}
	/* the program's launcher writes the inner pidfile and exits once the test is ready */
	for (;;) {
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			die("waitpid");
		if (pid != launcher)
			continue;
		if (code_of(status) != 0)
			exit(code_of(status));
		break;
	}
	test = read_pid(inner_pidfile);
	if (test <= 0)
		die("no pid in %s", inner_pidfile);
	if (write(ready_fd, "R", 1) != 1)
		die("notify the host launcher");
	close(ready_fd);

	/* from now on nothing of the host is open here */
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&mask, &si);

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			kill(test, sig);
			continue;
		}
		for (;;) {
			pid_t pid = waitpid(-1, &status, WNOHANG);
			if (pid <= 0)
				break;
			if (pid == test)
				exit(code_of(status));
		}
	}
}

int main(int argc, char **argv)
{
	int go[2], ready[2], i, status;
	unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC;
	pid_t init;
	char c, buf[128], path[64];

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--cgroupns")) {
			flags |= CLONE_NEWCGROUP;
			continue;
		}
		if (i + 1 >= argc)
			goto usage;
		if (!strcmp(a, "--user"))
			user_base = atol(argv[++i]);
		else if (!strcmp(a, "--root"))
			root_dir = argv[++i];
		else if (!strcmp(a, "--tmp"))
			tmp_dir = argv[++i];
		else if (!strcmp(a, "--ro") && nr_ro < MAX_RO)
			ro[nr_ro++] = argv[++i];
		else if (!strcmp(a, "--pidfile"))
			pidfile = argv[++i];
		else if (!strcmp(a, "--inner-pidfile"))
			inner_pidfile = argv[++i];
		else
			goto usage;
	}
	if (i >= argc || !root_dir || !tmp_dir || !pidfile || !inner_pidfile)
		goto usage;

	if (user_base >= 0)
		flags |= CLONE_NEWUSER;
	if (pipe2(go, O_CLOEXEC) || pipe2(ready, O_CLOEXEC))
		die("pipe");
	init = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (init < 0)
		die("clone");
	if (init == 0) {
		close(go[1]);
		close(ready[0]);
		exit(init_main(go[0], ready[1], argv + i));
	}
	close(go[0]);
	close(ready[1]);
	if (user_base >= 0) {
		snprintf(buf, sizeof(buf), "0 %ld 65536\n", user_base);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", init);
		write_file(path, buf);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", init);
		write_file(path, buf);
	}
	if (write(go[1], "g", 1) != 1)
		die("start the init");
	close(go[1]);
	if (read(ready[0], &c, 1) == 1) {
		write_pidfile(pidfile, init);
		return 0;
	}
	if (waitpid(init, &status, 0) != init)
		die("waitpid");
	fprintf(stderr, "zdtm-ns-launch: the test did not start (status %d)\n", code_of(status));
	return code_of(status) ? code_of(status) : 1;

usage:
	fprintf(stderr, "usage: zdtm-ns-launch [--user BASE] [--cgroupns] --root DIR --tmp DIR [--ro PATH]... "
			"--pidfile FILE --inner-pidfile FILE -- PROG ARGS...\n");
	return 2;
}
