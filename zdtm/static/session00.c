/* Sessions: we lead one; a child leads another with a grandchild in its own group;
 * two more children stay in ours, one in a new process group. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define NT 4
static void brk_handler(int s) { (void)s; setsid(); }

static pid_t spawn(int kind, int *out)
{
	int p[2];
	pid_t pid;
	if (pipe(p))
		fail("pipe: %m");
	pid = fork();
	if (pid == 0) {
		pid_t g = 0;
		signal(SIGUSR1, brk_handler);
		if (kind == 0) {		/* new session with a grandchild in another group */
			setsid();
			g = fork();
			if (g == 0) {
				setpgid(0, 0);
				for (;;)
					pause();
			}
			setpgid(g, g);
		} else if (kind == 1) {
			setpgid(0, 0);
		}
		if (write(p[1], &g, sizeof(g)) != sizeof(g))
			_exit(1);
		for (;;)
			pause();
	}
	if (read(p[0], out, sizeof(*out)) != sizeof(*out))
		fail("child %d did not start", pid);
	close(p[0]);
	close(p[1]);
	return pid;
}

int main(int argc, char **argv)
{
	pid_t pids[NT], sid[NT], pgrp[NT], s, g;
	int i, gc;

	test_init(argc, argv);
	pids[0] = spawn(0, &gc);
	pids[1] = gc;
	pids[2] = spawn(1, &gc);
	pids[3] = spawn(2, &gc);
	for (i = 0; i < NT; i++)
		if (proc_stat(pids[i], NULL, NULL, &pgrp[i], &sid[i]))
			fail("can't read %d's stat", pids[i]);
	if (sid[0] != pids[0] || sid[1] != pids[0] || pgrp[1] != pids[1] || sid[2] != getpid() ||
	    pgrp[2] != pids[2] || sid[3] != getpid() || pgrp[3] != getpid())
		fail("the setup is wrong");
	test_daemon();
	if (test_break()) {
		kill(pids[3], SIGUSR1);	/* makes it setsid() */
		/* until it has, however long that takes here */
		while (!proc_stat(pids[3], NULL, NULL, NULL, &s) && s != pids[3])
			usleep(1000);
		test_msg("break: child %d made a new session", pids[3]);
	}
	test_waitsig();

	if (getsid(0) != getpid() || getpgrp() != getpid())
		fail("we are no longer the session and group leader: sid %d pgrp %d", getsid(0), getpgrp());
	for (i = 0; i < NT; i++) {
		if (proc_stat(pids[i], NULL, NULL, &g, &s))
			fail("task %d is gone", pids[i]);
		if (s != sid[i] || g != pgrp[i])
			fail("task %d: sid %d pgrp %d, expected %d %d", pids[i], s, g, sid[i], pgrp[i]);
	}
	for (i = 0; i < NT; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	pass();
}
