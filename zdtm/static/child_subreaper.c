/* PR_SET_CHILD_SUBREAPER: an orphaned grandchild is reparented to us. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int p[2], v = -1, status;
	pid_t mid, gc, ppid;

	test_init(argc, argv);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))
		fail("prctl: %m");
	if (pipe(p))
		fail("pipe: %m");
	mid = fork();
	if (mid == 0) {
		pid_t g = fork();
		if (g == 0) {
			for (;;)
				pause();
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		_exit(0);
	}
	if (read(p[0], &gc, sizeof(gc)) != sizeof(gc))
		fail("no grandchild");
	waitpid(mid, NULL, 0);
	if (proc_stat(gc, NULL, &ppid, NULL, NULL) || ppid != getpid())
		fail("the grandchild's parent is %d, not us", ppid);
	test_daemon();
	if (test_break()) {
		prctl(PR_SET_CHILD_SUBREAPER, 0);
		test_msg("break: no longer a subreaper");
	}
	test_waitsig();

	if (prctl(PR_GET_CHILD_SUBREAPER, &v) || v != 1)
		fail("PR_GET_CHILD_SUBREAPER is %d", v);
	if (proc_stat(gc, NULL, &ppid, NULL, NULL) || ppid != getpid())
		fail("the grandchild %d has parent %d, not us", gc, ppid);
	kill(gc, SIGKILL);
	if (waitpid(gc, &status, 0) != gc || !WIFSIGNALED(status))
		fail("can't reap the grandchild: %m");
	pass();
}
