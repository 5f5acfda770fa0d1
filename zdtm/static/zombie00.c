/* Zombies: children that exited or were killed stay unreaped, with their statuses. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define NZ 5

int main(int argc, char **argv)
{
	pid_t pids[NZ];
	int want[NZ], i;

	test_init(argc, argv);
	for (i = 0; i < NZ; i++) {
		int p[2];
		char c;
		if (pipe(p))
			fail("pipe: %m");
		pids[i] = fork();
		if (pids[i] == 0) {
			close(p[0]);
			if (i % 2)
				_exit(10 + i);
			close(p[1]);
			for (;;)
				pause();
		}
		close(p[1]);
		if (i % 2) {
			want[i] = (10 + i) << 8;
		} else {
			kill(pids[i], i == 0 ? SIGKILL : SIGUSR1);
			want[i] = i == 0 ? SIGKILL : SIGUSR1;
		}
		read(p[0], &c, 1);	/* EOF once it is dead */
		close(p[0]);
		siginfo_t si;
		si.si_pid = 0;
		while (waitid(P_PID, pids[i], &si, WEXITED | WNOWAIT) || si.si_pid != pids[i])
			;
	}
	test_daemon();
	if (test_break()) {
		waitpid(pids[3], NULL, 0);
		test_msg("break: reaped zombie %d", pids[3]);
	}
	test_waitsig();

	for (i = 0; i < NZ; i++) {
		char st = '?';
		int status;
		if (proc_stat(pids[i], &st, NULL, NULL, NULL) || st != 'Z')
			fail("child %d is not a zombie (state %c)", pids[i], st);
		if (waitpid(pids[i], &status, WNOHANG) != pids[i])
			fail("can't reap %d: %m", pids[i]);
		if ((status & 0xffff) != want[i])
			fail("child %d: status %#x, expected %#x", pids[i], status, want[i]);
	}
	pass();
}
