/*
 * An exclusive flock() held across checkpoint/restore (needs --file-locks), with a child
 * blocked waiting for it on a description of its own.  After restore another process cannot
 * take the lock, the waiter still waits, and once the test unlocks, the waiter gets it.
 */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

/* 0 if a fresh open of the file in a new process can take LOCK_EX at once, 1 if it would block */
static int other_blocked(void)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd = open(test_filename, O_RDONLY);

		if (fd < 0)
			_exit(2);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			_exit(0);
		_exit(errno == EWOULDBLOCK ? 1 : 3);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		fail("checker: %m");
	if (WEXITSTATUS(status) > 1)
		fail("checker failed with %d", WEXITSTATUS(status));
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	int fd, res[2];
	pid_t waiter;
	char c;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open: %m");
	if (flock(fd, LOCK_EX))
		fail("flock: %m");
	if (pipe(res))
		fail("pipe: %m");
	waiter = fork();
	if (waiter < 0)
		fail("fork: %m");
	if (waiter == 0) {
		int wfd = open(test_filename, O_RDONLY);

		close(res[0]);
		if (wfd < 0 || flock(wfd, LOCK_EX))	/* blocks until the test unlocks */
			_exit(1);
		if (write(res[1], "L", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(res[1]);
	/* the waiter is blocked in flock() before the dump */
	for (;;) {
		char st;

		if (proc_stat(waiter, &st, NULL, NULL, NULL))
			fail("waiter gone");
		if (st == 'S')
			break;
		usleep(1000);
	}
	test_daemon();
	if (test_break()) {
		/* released: the waiter takes it and is killed, so nobody holds it any more */
		flock(fd, LOCK_UN);
		if (read(res[0], &c, 1) != 1)
			fail("break: the waiter did not get the lock");
		kill(waiter, SIGKILL);
		waitpid(waiter, NULL, 0);
		test_msg("break: the flock was released");
	}
	test_waitsig();

	if (!other_blocked())
		fail("another process took the exclusive flock: it was not restored");
	/* the test holds it: a second LOCK_EX through its own description succeeds at once */
	if (flock(fd, LOCK_EX | LOCK_NB))
		fail("the test does not hold its flock (%m)");
	if (fcntl(res[0], F_SETFL, O_NONBLOCK) || read(res[0], &c, 1) != -1 || errno != EAGAIN)
		fail("the waiter got the lock while the test held it");
	if (flock(fd, LOCK_UN))
		fail("unlock: %m");
	fcntl(res[0], F_SETFL, 0);
	if (read(res[0], &c, 1) != 1 || c != 'L')
		fail("the waiter did not get the lock once it was released");
	kill(waiter, SIGKILL);
	waitpid(waiter, NULL, 0);
	pass();
}
