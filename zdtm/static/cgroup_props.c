/* cgroups of a tree (cgroup v2, wherever the host mounts it): the runner starts the program in
 * a cgroup delegated to it (desc flag "cgroup"), the program makes a/ and a/b/ below it with
 * cgroup.max.descendants and cgroup.max.depth set, enters a/ and puts its child in a/b/. The
 * runner removes a/ and a/b/ after each dump, so the restore must make them again, with their
 * properties, and put each task back in its own. The cgroup files are reached through a helper
 * with mount and cgroup namespaces of its own (a cgroup2 mount there shows the delegated cgroup
 * as its root, in every flavor, a user namespace's too); the tree itself has none at the dump.
 * Break mode changes a/'s cgroup.max.descendants after the setup. */
#define TEST_SUID
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char mnt[PATH_MAX];

/* the delegated cgroup's path as this task's /proc/self/cgroup shows it (the v2 line "0::") */
static void own_cgroup(pid_t pid, char *out, size_t size)
{
	char p[64], line[PATH_MAX + 8];
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
	f = fopen(p, "r");
	if (!f)
		fail("open %s: %m", p);
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(out, size, "%.*s", (int)size - 1, line + 3);
		}
	fclose(f);
	if (!out[0])
		fail("%s has no cgroup v2 line", p);
}

static void put(const char *rel, const char *val)
{
	char p[PATH_MAX + 64];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", mnt, rel);
	fd = open(p, O_WRONLY);
	if (fd < 0 || write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		fail("write %s to %s: %m", val, p);
	close(fd);
}

static void get(const char *rel, char *buf, size_t size)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/%s", mnt, rel);
	if (read_file(p, buf, size) < 0)
		fail("read %s: %m", p);
	buf[strcspn(buf, "\n")] = 0;
}

/* runs fn in a child with its own mount and cgroup namespaces and cgroup2 mounted at mnt; its
 * exit status is fn's (0 good); what it reports goes through the pipe fd */
static int in_helper(void (*fn)(int), int fd)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		if (unshare(CLONE_NEWNS | CLONE_NEWCGROUP))
			fail("unshare mount and cgroup namespaces: %m");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
			fail("make / private: %m");
		if (mount("cgroup2", mnt, "cgroup2", 0, NULL))
			fail("mount cgroup2 at %s: %m", mnt);
		fn(fd);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		fail("waitpid: %m");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t me, kid;
/* a/ as the helper's mount shows it: "a/" when the test is still in the delegated cgroup (the
 * helper's cgroup namespace is rooted where the test is), "" once the test is in a/ */
static const char *A = "a/";

static const char *in_a(const char *rel)
{
	static char buf[4][PATH_MAX];
	static int n;
	char *p = buf[n++ % 4];

	snprintf(p, PATH_MAX, "%s%s", A, rel);
	return p;
}

static void setup(int fd)
{
	char p[PATH_MAX + 16], v[32];

	(void)fd;
	snprintf(p, sizeof(p), "%s/a", mnt);
	if (mkdir(p, 0755))
		fail("mkdir %s: %m", p);
	snprintf(p, sizeof(p), "%s/a/b", mnt);
	if (mkdir(p, 0755))
		fail("mkdir %s: %m", p);
	put(in_a("cgroup.max.descendants"), "7");
	put(in_a("b/cgroup.max.depth"), "3");
	snprintf(v, sizeof(v), "%d", kid);
	put(in_a("b/cgroup.procs"), v);
	snprintf(v, sizeof(v), "%d", me);
	put(in_a("cgroup.procs"), v);
}

static void breaks(int fd)
{
	(void)fd;
	put(in_a("cgroup.max.descendants"), "8");
}

static void report(int fd)
{
	char a[64], b[64], out[160];

	get(in_a("cgroup.max.descendants"), a, sizeof(a));
	get(in_a("b/cgroup.max.depth"), b, sizeof(b));
	snprintf(out, sizeof(out), "%s %s", a, b);
	if (write(fd, out, strlen(out)) < 0)
		_exit(1);
}

static void ends_with(const char *path, const char *tail, const char *who)
{
	size_t n = strlen(path), t = strlen(tail);

	if (n < t || strcmp(path + n - t, tail))
		fail("%s is in cgroup %s, not in .../%s", who, path, tail + 1);
}

int main(int argc, char **argv)
{
	char base[PATH_MAX], now[PATH_MAX], vals[160] = "";
	int p[2], k[2];
	ssize_t n;

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755))
		fail("mkdir %s: %m", test_dirname);
	if (!realpath(test_dirname, mnt))
		fail("realpath %s: %m", test_dirname);
	me = getpid();
	own_cgroup(me, base, sizeof(base));
	if (!strcmp(base, "/"))
		fail("the program is in the root cgroup: the runner must start it in one of its own (desc flag \"cgroup\")");

	if (pipe(k))
		fail("pipe: %m");
	kid = fork();
	if (kid < 0)
		fail("fork: %m");
	if (kid == 0) {
		char c;
		close(k[1]);
		/* until the parent goes: its SIGTERM ends the test */
		while (read(k[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(k[0]);
	if (in_helper(setup, -1))
		fail("setting up the cgroups failed");
	A = "";
	test_daemon();
	if (test_break() && !in_helper(breaks, -1))
		test_msg("break: a/cgroup.max.descendants set to 8");
	test_waitsig();

	own_cgroup(me, now, sizeof(now));
	ends_with(now, "/a", "the test");
	if (strncmp(now, base, strlen(base)))
		fail("the test is in cgroup %s, not below %s", now, base);
	own_cgroup(kid, now, sizeof(now));
	ends_with(now, "/a/b", "its child");
	if (pipe(p))
		fail("pipe: %m");
	if (in_helper(report, p[1]))
		fail("reading the cgroups' properties failed");
	close(p[1]);
	n = read(p[0], vals, sizeof(vals) - 1);
	if (n < 0)
		fail("read: %m");
	vals[n < 0 ? 0 : n] = 0;
	if (strcmp(vals, "7 3"))
		fail("a/cgroup.max.descendants and a/b/cgroup.max.depth are \"%s\", not \"7 3\"", vals);
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	pass();
}
