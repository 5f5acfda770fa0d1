/*
 * /proc files of tasks that have exited, held open across checkpoint/restore (CRIU's dead pid
 * remap): the test forks two children, opens /proc/A/status, /proc/A/mountinfo and the /proc/A
 * directory, and /proc/B/stat, enters /proc/B as its cwd, then kills and reaps both.  After restore each fd still names the
 * same path (the directory "/proc/A (deleted)"), a read of status or stat fails with ESRCH,
 * mountinfo (which keeps the mount namespace it was opened in) still reads, a lookup in the
 * directory finds nothing, the cwd is still "/proc/B (deleted)" (getcwd fails with ENOENT), and
 * no task has PID A or B (the restore's helpers are gone).
 */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFD 4

static pid_t dead_child(void)
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		for (;;)
			pause();
	}
	return pid;
}

static void bury(pid_t pid)
{
	if (kill(pid, SIGKILL) || waitpid(pid, NULL, 0) != pid)
		fail("reap %d: %m", pid);
}

static void link_of(int fd, char *buf, size_t size)
{
	char p[64];
	ssize_t n;

	if (fd == AT_FDCWD)
		snprintf(p, sizeof(p), "/proc/self/cwd");
	else
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	n = readlink(p, buf, size - 1);
	if (n < 0)
		fail("readlink %s: %m", p);
	buf[n] = 0;
}

enum { GONE, KEPT, DIR };

/* what a dead task's /proc file does: reads fail with ESRCH, or still work for a file that kept
 * what it shows at open (mountinfo: KEPT); a directory finds nothing (ESRCH) */
static void dead(int fd, int kind, const char *what)
{
	char buf[64];
	int x;

	if (kind == KEPT) {
		if (pread(fd, buf, sizeof(buf), 0) <= 0)
			fail("%s: does not read: %m", what);
		return;
	}
	if (kind == DIR) {
		x = openat(fd, "status", O_RDONLY);
		if (x >= 0)
			fail("%s: status of a dead task opens", what);
		if (errno != ESRCH && errno != ENOENT)
			fail("%s: openat status: %m (ESRCH expected)", what);
		return;
	}
	if (pread(fd, buf, sizeof(buf), 0) >= 0)
		fail("%s: a dead task's /proc file reads", what);
	if (errno != ESRCH)
		fail("%s: read: %m (ESRCH expected)", what);
}

int main(int argc, char **argv)
{
	char path[64], before[NFD][4096], after[4096], cwd[4096];
	int fds[NFD], kind[NFD] = { GONE, KEPT, DIR, GONE };
	pid_t a, b;

	test_init(argc, argv);
	a = dead_child();
	b = dead_child();
	snprintf(path, sizeof(path), "/proc/%d/status", a);
	fds[0] = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", a);
	fds[1] = open(path, O_RDONLY);
	snprintf(path, sizeof(path), "/proc/%d", a);
	fds[2] = open(path, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "/proc/%d/stat", b);
	fds[3] = open(path, O_RDONLY);
	for (int i = 0; i < NFD; i++)
		if (fds[i] < 0)
			fail("open %d: %m", i);
	snprintf(path, sizeof(path), "/proc/%d", b);
	if (chdir(path))
		fail("chdir %s: %m", path);
	bury(a);
	bury(b);
	for (int i = 0; i < NFD; i++) {
		link_of(fds[i], before[i], sizeof(before[i]));
		dead(fds[i], kind[i], before[i]);
	}
	if (getcwd(cwd, sizeof(cwd)) || errno != ENOENT)
		fail("getcwd in a dead task's /proc: %m (ENOENT expected)");
	snprintf(path, sizeof(path), "/proc/%d (deleted)", b);
	test_msg("dead pids %d and %d", a, b);

	test_daemon();
	if (test_break()) {
		/* fd 0's place gets a live task's /proc file */
		int live = open("/proc/self/status", O_RDONLY);

		if (live < 0 || dup2(live, fds[0]) < 0)
			fail("break: %m");
		close(live);
		test_msg("break: fd %d is /proc/self/status now", fds[0]);
	}
	test_waitsig();

	for (int i = 0; i < NFD; i++) {
		link_of(fds[i], after, sizeof(after));
		if (strcmp(after, before[i]))
			fail("fd %d names %s, not %s", fds[i], after, before[i]);
		dead(fds[i], kind[i], before[i]);
	}
	if (getcwd(cwd, sizeof(cwd)) || errno != ENOENT)
		fail("getcwd after restore: %m (ENOENT expected)");
	link_of(AT_FDCWD, cwd, sizeof(cwd));
	if (strcmp(cwd, path))
		fail("the cwd is %s, not %s", cwd, path);
	if (kill(a, 0) == 0 || errno != ESRCH)
		fail("a task has PID %d", a);
	if (kill(b, 0) == 0 || errno != ESRCH)
		fail("a task has PID %d", b);
	pass();
}
