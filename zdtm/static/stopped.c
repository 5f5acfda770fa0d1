/* A stopped task stays stopped, and continues when told. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int p[2], status;
	pid_t child;
	char st = '?', c;

	test_init(argc, argv);
	if (pipe(p))
		fail("pipe: %m");
	child = fork();
	if (child == 0) {
		close(p[0]);
		raise(SIGSTOP);
		if (write(p[1], "C", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (waitpid(child, &status, WUNTRACED) != child || !WIFSTOPPED(status))
		fail("the child did not stop");
	test_daemon();
	if (test_break()) {
		kill(child, SIGCONT);
		/* until it runs again, however long that takes here */
		while (!proc_stat(child, &st, NULL, NULL, NULL) && st == 'T')
			usleep(1000);
		test_msg("break: continued the child");
	}
	test_waitsig();

	if (proc_stat(child, &st, NULL, NULL, NULL))
		fail("the child is gone");
	if (st != 'T')
		fail("the child's state is %c, expected T", st);
	kill(child, SIGCONT);
	if (read(p[0], &c, 1) != 1 || c != 'C')
		fail("the child did not continue");
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("the child ended with status %#x", status);
	pass();
}
