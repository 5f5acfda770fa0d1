/*
 * A lease being broken on an open file description that two tasks share (needs --file-locks):
 * the test sets a write lease on an O_RDWR fd, a writer's non-blocking open breaks it (to
 * F_UNLCK), a child inherits the fd, and the test keeps only a dup() of it.  After restore the
 * one lease is still being broken, seen through the test's dup and the child's fd alike (one lease
 * line each: the shared description is not leased twice), and the test got one lease signal.
 */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t notices;

static void on_sigio(int sig)
{
	(void)sig;
	notices++;
}

/* 0 if fd's fdinfo has exactly one lease line, BREAKING towards UNLCK */
static int breaking(int fd)
{
	char path[64], buf[4096], st[32], ty[32];
	char *l;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (l = strstr(buf, " LEASE "); l; l = strstr(l + 1, " LEASE ")) {
		if (sscanf(l, " LEASE %31s %31s", st, ty) != 2 || strcmp(st, "BREAKING") || strcmp(ty, "UNLCK")) {
			test_msg("fd %d: lease %s %s", fd, st, ty);
			return -1;
		}
		n++;
	}
	if (n != 1)
		test_msg("fd %d: %d lease lines (fdinfo: %s)", fd, n, buf);
	return n == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int fd, dupfd, x, go[2], status;
	pid_t child;
	char c;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	signal(SIGIO, on_sigio);
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open: %m");
	if (fcntl(fd, F_SETLEASE, F_WRLCK))
		fail("F_SETLEASE: %m");
	x = open(test_filename, O_WRONLY | O_NONBLOCK);
	if (x >= 0 || errno != EWOULDBLOCK)
		fail("the writer's open does not break the lease (%d, %m)", x);
	if (notices != 1)
		fail("%d lease signals for the break", (int)notices);
	if (pipe(go))
		fail("pipe: %m");
	child = fork();
	if (child < 0)
		fail("fork: %m");
	if (child == 0) {
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		_exit(breaking(fd) || fcntl(fd, F_GETLEASE) != F_UNLCK ? 1 : 0);
	}
	dupfd = dup(fd);
	if (dupfd < 0)
		fail("dup: %m");
	close(fd);
	if (breaking(dupfd))
		fail("the lease is not being broken before the dump");

	test_daemon();
	if (test_break()) {
		if (fcntl(dupfd, F_SETLEASE, F_UNLCK))
			fail("break: F_SETLEASE F_UNLCK: %m");
		test_msg("break: the lease was given up");
	}
	test_waitsig();

	if (breaking(dupfd))
		fail("the test's dup: the lease is not being broken");
	if (fcntl(dupfd, F_GETLEASE) != F_UNLCK)
		fail("F_GETLEASE %d, expected F_UNLCK", fcntl(dupfd, F_GETLEASE));
	x = open(test_filename, O_WRONLY | O_NONBLOCK);
	if (x >= 0 || errno != EWOULDBLOCK)
		fail("a writer's open after restore does not wait on the lease (%d, %m)", x);
	if (write(go[1], "g", 1) != 1 || waitpid(child, &status, 0) != child)
		fail("the child: %m");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("the child's fd does not show the lease being broken (status 0x%x)", status);
	if (notices != 1)
		fail("%d lease signals, 1 expected (none at restore)", (int)notices);
	pass();
}
