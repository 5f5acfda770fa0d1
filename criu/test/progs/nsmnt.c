/* A tree in a mount namespace of its own, laid out as the zdtm ns flavor's (native/ns-launch.c),
 * for criu/test/ns-mnt.spec.ts:
 *
 *   nsmnt ROOTDIR HOSTTMP MODE [break]
 *
 * forks (the caller goes on), unshare(CLONE_NEWNS), makes every mount private, mounts a tmpfs
 * at ROOTDIR with read-only binds of /usr and /etc (and the /bin, /lib* symlinks), HOSTTMP bound
 * read-write at /tmp, a /dev tmpfs with null and zero bound in, devpts (newinstance,
 * ptmxmode=0666,mode=0620), /dev/shm and /run tmpfs, /run/sub a bind of /dev/shm/sub, /proc;
 * MODE "ramfs" adds a ramfs at /run/ram (a mount the tool does not handle). It pivots into
 * the new root and exec()s /tmp/nsmnt (HOSTTMP must hold a copy of this program), which holds
 * files open on the tmpfs and on a bind, a removed one (a ghost) too, writes a tmpfs file, works in /run, writes /tmp/pid
 * and waits for SIGTERM; then checks everything and writes PASS or FAIL to /tmp/out. Break
 * mode truncates a tmpfs file before the checks (FAIL).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *root;
static volatile sig_atomic_t stop;
static FILE *out;
static int failed;

static void on_term(int s) { (void)s; stop = 1; }

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "nsmnt: %s %s: %s\n", what, arg, strerror(errno));
	exit(2);
}

#define CHECK(c, ...) do { if (!(c)) { failed = 1; fprintf(out, "FAIL: " __VA_ARGS__); fputc('\n', out); } } while (0)

static void at(char *buf, size_t n, const char *p) { snprintf(buf, n, "%s%s", root, p); }

static void mk(const char *p, mode_t m)
{
	char b[4096];
	at(b, sizeof b, p);
	if (mkdir(b, m) && errno != EEXIST) die("mkdir", b);
}

static void bind(const char *src, const char *dst, unsigned long ro)
{
	char b[4096];
	struct stat st;
	at(b, sizeof b, dst);
	if (stat(src, &st)) die("stat", src);
	if (S_ISDIR(st.st_mode)) mk(dst, 0755);
	else close(open(b, O_CREAT | O_WRONLY, 0644));
	if (mount(src, b, NULL, MS_BIND, NULL)) die("bind", src);
	if (ro && mount(NULL, b, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL)) die("remount ro", b);
}

static void fsmount_(const char *src, const char *dst, const char *type, unsigned long fl, const char *data)
{
	char b[4096];
	at(b, sizeof b, dst);
	if (mount(src, b, type, fl, data)) die("mount", b);
}

static void setup(const char *hosttmp, const char *mode)
{
	char b[4096];
	if (unshare(CLONE_NEWNS)) die("unshare", "CLONE_NEWNS");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) die("make private", "/");
	if (mount("nsmnt-root", root, "tmpfs", 0, "mode=0755")) die("mount tmpfs", root);
	bind("/usr", "/usr", 1);
	bind("/etc", "/etc", 1);
	static const char *links[][2] = { { "usr/bin", "/bin" }, { "usr/sbin", "/sbin" }, { "usr/lib", "/lib" }, { "usr/lib64", "/lib64" } };
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		at(b, sizeof b, links[i][1]);
		if (symlink(links[i][0], b)) die("symlink", b);
	}
	bind(hosttmp, "/tmp", 0);
	mk("/dev", 0755);
	fsmount_("nsmnt-dev", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755");
	bind("/dev/null", "/dev/null", 0);
	bind("/dev/zero", "/dev/zero", 0);
	mk("/dev/pts", 0755);
	fsmount_("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
	mk("/dev/shm", 01777);
	fsmount_("nsmnt-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mk("/dev/shm/sub", 0750);
	mk("/proc", 0555);
	fsmount_("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mk("/run", 0755);
	fsmount_("nsmnt-run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mk("/run/sub", 0755);
	at(b, sizeof b, "/dev/shm/sub");
	char d[4096];
	at(d, sizeof d, "/run/sub");
	if (mount(b, d, NULL, MS_BIND, NULL)) die("bind", b);
	if (!strcmp(mode, "ramfs")) {
		mk("/run/ram", 0755);
		fsmount_("nsmnt-ram", "/run/ram", "ramfs", 0, NULL);
	}
	if (chdir(root)) die("chdir", root);
	if (syscall(SYS_pivot_root, ".", ".")) die("pivot_root", root);
	if (umount2(".", MNT_DETACH)) die("detach", "the old root");
	if (chdir("/")) die("chdir", "/");
}

static long fsize(int fd) { struct stat st; return fstat(fd, &st) ? -1 : st.st_size; }

static int same(int fd, const char *p)
{
	struct stat a, b;
	return !fstat(fd, &a) && !stat(p, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int stage2(int brk)
{
	char buf[256];
	out = fopen("/tmp/out", "w");
	if (!out) return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);

	int data = open("/run/data", O_CREAT | O_RDWR, 0640);
	if (data < 0 || write(data, "hello tmpfs", 11) != 11) die("write", "/run/data");
	int etc = open("/etc/passwd", O_RDONLY);
	int keep = open("/tmp/keep", O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (etc < 0 || keep < 0 || write(keep, "bound", 5) != 5) die("open", "/etc/passwd or /tmp/keep");
	FILE *c = fopen("/dev/shm/sub/closed", "w");
	if (!c || fputs("kept contents", c) < 0 || fclose(c)) die("write", "/dev/shm/sub/closed");
	int devnull = open("/dev/null", O_WRONLY);
	/* a ghost: removed while held, made again in the tree's view at the restore */
	int ghost = open("/run/ghost", O_CREAT | O_RDWR, 0600);
	if (ghost < 0 || write(ghost, "ghost data", 10) != 10 || unlink("/run/ghost")) die("ghost", "/run/ghost");
	if (chdir("/run")) die("chdir", "/run");

	FILE *pf = fopen("/tmp/pid.tmp", "w");
	if (!pf) die("open", "/tmp/pid.tmp");
	fprintf(pf, "%d\n", getpid());
	fclose(pf);
	rename("/tmp/pid.tmp", "/tmp/pid");

	while (!stop) pause();
	struct stat st;
	if (brk) truncate("/dev/shm/sub/closed", 0);

	CHECK(lseek(data, 0, SEEK_CUR) == 11, "tmpfs fd position %ld", (long)lseek(data, 0, SEEK_CUR));
	memset(buf, 0, sizeof buf);
	CHECK(pread(data, buf, sizeof buf - 1, 0) == 11 && !strcmp(buf, "hello tmpfs"), "tmpfs fd reads \"%s\"", buf);
	CHECK(write(data, "!", 1) == 1 && fsize(data) == 12, "write to the tmpfs fd");
	CHECK(same(data, "/run/data"), "the tmpfs fd is not /run/data");
	CHECK(same(etc, "/etc/passwd"), "the fd on the ro bind is not /etc/passwd");
	CHECK(same(keep, "/tmp/keep") && fsize(keep) == 5, "the fd on the rw bind");
	CHECK(write(devnull, "x", 1) == 1 && same(devnull, "/dev/null"), "/dev/null");
	int r = open("/dev/shm/sub/closed", O_RDONLY);
	memset(buf, 0, sizeof buf);
	CHECK(r >= 0 && read(r, buf, sizeof buf - 1) == 13 && !strcmp(buf, "kept contents"), "/dev/shm/sub/closed holds \"%s\"", buf);
	r = open("/run/sub/closed", O_RDONLY);
	memset(buf, 0, sizeof buf);
	CHECK(r >= 0 && read(r, buf, sizeof buf - 1) == 13, "/run/sub/closed (the bind of /dev/shm/sub) holds \"%s\"", buf);
	memset(buf, 0, sizeof buf);
	CHECK(pread(ghost, buf, sizeof buf - 1, 0) == 10 && !strcmp(buf, "ghost data") && !fstat(ghost, &st) && st.st_nlink == 0 && access("/run/ghost", F_OK) < 0,
	      "the removed /run/ghost holds \"%s\"", buf);
	CHECK(getcwd(buf, sizeof buf) && !strcmp(buf, "/run"), "cwd %s", buf);
	CHECK(!stat("/dev/shm/sub", &st) && (st.st_mode & 07777) == 0750, "/dev/shm/sub mode 0%o", st.st_mode & 07777);
	CHECK(!stat("/dev/pts/ptmx", &st) && (st.st_mode & 0777) == 0666, "/dev/pts/ptmx mode 0%o (ptmxmode)", st.st_mode & 0777);
	CHECK(access("/usr/bin", F_OK) == 0 && open("/etc/criu-ts-nsmnt", O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS, "/etc is not a read-only bind");
	fputs(failed ? "FAIL\n" : "PASS\n", out);
	return failed;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "stage2"))
		return stage2(argc > 2 && !strcmp(argv[2], "break"));
	if (argc < 4) {
		fprintf(stderr, "usage: nsmnt ROOTDIR HOSTTMP MODE [break]\n");
		return 2;
	}
	root = argv[1];
	if (fork()) return 0;
	setsid();
	setup(argv[2], argv[3]);
	int fd = open("/dev/null", O_RDWR);
	dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
	if (fd > 2) close(fd);
	execl("/tmp/nsmnt", "nsmnt", "stage2", argc > 4 ? argv[4] : "", (char *)NULL);
	return 3;
}
