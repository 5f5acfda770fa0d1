/* An fd table shared by CLONE_FILES between two processes (not threads): an fd the child opens
 * after the restore is seen by the parent, and a file position moves for both. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(16)));
static volatile int go, child_fd = -1;
static int pipefd[2];

static int child(void *arg)
{
	char c;
	/* wait until the parent says, then open a file in the shared table */
	if (read(pipefd[0], &c, 1) != 1)
		_exit(2);
	child_fd = open("/dev/null", O_RDONLY);
	c = (char)child_fd;
	if (write(pipefd[1], &c, 1) != 1)
		_exit(3);
	for (;;)
		pause();
	return 0;
}

int main(int argc, char **argv)
{
	pid_t kid;
	char c;
	int fd;

	test_init(argc, argv);
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "0123456789", 10) != 10 || lseek(fd, 3, SEEK_SET) != 3)
		fail("can't set up %s: %m", test_filename);
	if (pipe(pipefd))
		fail("pipe: %m");
	kid = clone(child, stack + sizeof stack, CLONE_FILES | SIGCHLD, NULL);
	if (kid < 0)
		fail("clone: %m");
	test_daemon();
	if (test_break()) {
		/* the parent moves to a table of its own: the child's fds no longer show up here */
		if (unshare(CLONE_FILES))
			fail("unshare: %m");
		test_msg("break: unshared the fd table");
	}
	test_waitsig();
	if (write(pipefd[1], "x", 1) != 1)
		fail("write: %m");
	usleep(100000);
	if (read(pipefd[0], &c, 1) != 1 || c < 0)
		fail("the child did not answer");
	/* the fd the child opened is in our table too */
	{
		char link[64], path[64];
		int n;
		snprintf(link, sizeof link, "/proc/self/fd/%d", c);
		n = readlink(link, path, sizeof path - 1);
		path[n > 0 ? n : 0] = 0;
		if (n <= 0 || strcmp(path, "/dev/null"))
			fail("the child's new fd %d is not in our table (it is '%s' here)", c, path);
	}
	if (lseek(fd, 0, SEEK_CUR) != 3)
		fail("file position lost");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	pass();
}
