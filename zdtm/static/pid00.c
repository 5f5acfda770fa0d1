/* pids: our pid, a child's pid and its ppid stay the same. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t start_child(int *rfd, int *wfd)
{
	int req[2], resp[2];
	pid_t pid;

	if (pipe(req) || pipe(resp))
		fail("pipe: %m");
	pid = fork();
	if (pid < 0)
		fail("fork: %m");
	if (pid == 0) {
		char c;
		pid_t ids[3];
		close(req[1]);
		close(resp[0]);
		while (read(req[0], &c, 1) == 1) {
			ids[0] = getpid();
			ids[1] = syscall(SYS_getpid);
			ids[2] = getppid();
			if (write(resp[1], ids, sizeof(ids)) != sizeof(ids))
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	*wfd = req[1];
	*rfd = resp[0];
	return pid;
}

int main(int argc, char **argv)
{
	pid_t me, child, ids[3];
	int rfd, wfd;

	test_init(argc, argv);
	me = getpid();
	child = start_child(&rfd, &wfd);
	test_daemon();
	if (test_break()) {
		/* replace the child by a new one: a different pid */
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		close(rfd);
		close(wfd);
		start_child(&rfd, &wfd);
		test_msg("break: the child was replaced");
	}
	test_waitsig();

	if (getpid() != me || syscall(SYS_getpid) != me)
		fail("pid changed: %d/%ld, expected %d", getpid(), syscall(SYS_getpid), me);
	if (write(wfd, "?", 1) != 1 || read(rfd, ids, sizeof(ids)) != sizeof(ids))
		fail("the child does not answer");
	if (ids[0] != child || ids[1] != child)
		fail("the child's pid is %d/%d, expected %d", ids[0], ids[1], child);
	if (ids[2] != me)
		fail("the child's ppid is %d, expected %d", ids[2], me);
	close(wfd);
	if (waitpid(child, NULL, 0) != child)
		fail("waitpid(%d): %m", child);
	pass();
}
