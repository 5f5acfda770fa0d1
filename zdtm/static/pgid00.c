/* Process groups: a child in ours, a child leading a new group, a child that joined
 * that group, and a group whose leader has exited (a pgid without a leader). */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define NT 5
static void brk_handler(int s) { (void)s; setpgid(0, 0); }

static pid_t spawn(pid_t join)
{
	int p[2];
	char c;
	pid_t pid;
	if (pipe(p))
		fail("pipe: %m");
	pid = fork();
	if (pid == 0) {
		signal(SIGUSR1, brk_handler);
		if (join >= 0 && setpgid(0, join))
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	if (join >= 0)
		setpgid(pid, join ?: pid);	/* both sides, no race */
	close(p[1]);
	if (read(p[0], &c, 1) != 0)
		fail("child did not start");
	close(p[0]);
	return pid;
}

int main(int argc, char **argv)
{
	pid_t pids[NT], pgrp[NT], g;
	int i;

	test_init(argc, argv);
	pids[0] = spawn(-1);		/* in our group */
	pids[1] = spawn(0);		/* leads a new group */
	pids[2] = spawn(pids[1]);	/* joins it */
	pids[3] = spawn(0);		/* leads a group ... */
	pids[4] = spawn(pids[3]);	/* ... joined by this one ... */
	kill(pids[3], SIGKILL);		/* ... and exits */
	waitpid(pids[3], NULL, 0);
	for (i = 0; i < NT; i++)
		if (i != 3 && proc_stat(pids[i], NULL, NULL, &pgrp[i], NULL))
			fail("can't read %d's stat", pids[i]);
	if (pgrp[0] != getpid() || pgrp[1] != pids[1] || pgrp[2] != pids[1] || pgrp[4] != pids[3])
		fail("the setup is wrong");
	test_daemon();
	if (test_break()) {
		kill(pids[2], SIGUSR1);	/* makes it setpgid(0, 0) */
		/* until it has, however long that takes here */
		while (!proc_stat(pids[2], NULL, NULL, &g, NULL) && g != pids[2])
			usleep(1000);
		test_msg("break: child %d made its own group", pids[2]);
	}
	test_waitsig();

	if (getpgrp() != getpid())
		fail("our pgrp is %d", getpgrp());
	for (i = 0; i < NT; i++) {
		if (i == 3)
			continue;
		if (proc_stat(pids[i], NULL, NULL, &g, NULL))
			fail("task %d is gone", pids[i]);
		if (g != pgrp[i])
			fail("task %d: pgrp %d, expected %d", pids[i], g, pgrp[i]);
		if (getpgid(pids[i]) != pgrp[i])
			fail("getpgid(%d) = %d", pids[i], getpgid(pids[i]));
	}
	for (i = 0; i < NT; i++)
		if (i != 3)
			kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	pass();
}
