/* Transition: two workers fork children that exit at once, as fast as they can, until
 * SIGTERM: the tree changes between any two listings of it (the dump must still catch it
 * whole, freezing it task by task). Each worker checks every child's exit code and counts; the
 * root checks that both workers ran to the end with their counts going on after the restore. */
#include "zdtmtst.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 2

static int worker(int out)
{
	unsigned long forks = 0;
	int status;

	while (test_go()) {	/* the library's SIGTERM handler, inherited */
		pid_t pid = fork();
		if (pid < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return 10;
		}
		if (pid == 0)
			_exit(getpid() & 0x7f);
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return 11;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != (pid & 0x7f))
			return 12;
		forks++;
	}
	return write(out, &forks, sizeof(forks)) == sizeof(forks) ? 0 : 13;
}

int main(int argc, char **argv)
{
	pid_t w[WORKERS];
	int p[2], i, status;
	unsigned long n;

	test_init(argc, argv);
	if (pipe(p))
		fail("pipe: %m");
	for (i = 0; i < WORKERS; i++) {
		w[i] = fork();
		if (w[i] < 0)
			fail("fork: %m");
		if (w[i] == 0) {
			close(p[0]);
			_exit(worker(p[1]));
		}
	}
	close(p[1]);
	test_daemon();
	if (test_break()) {
		kill(w[1], SIGKILL);
		test_msg("break: killed worker %d", w[1]);
	}
	test_waitsig();
	for (i = 0; i < WORKERS; i++) {
		kill(w[i], SIGTERM);
		if (waitpid(w[i], &status, 0) != w[i])
			fail("waitpid(worker %d): %m", w[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			fail("worker %d ended with status %#x (10+: fork, wait or a child's exit code went wrong)", w[i], status);
		if (read(p[0], &n, sizeof(n)) != sizeof(n) || !n)
			fail("worker %d: no forks counted", w[i]);
		test_msg("a worker forked %lu children", n);
	}
	pass();
}
