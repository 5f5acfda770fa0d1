/* The parent-death signal of the test and of its child; the child gets it when we die. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int usr2;
static void h(int s) { (void)s; usr2++; }

int main(int argc, char **argv)
{
	int req[2], resp[2], sig = -1;
	pid_t child;
	char c;

	test_init(argc, argv);
	/* our launcher exits once we are set up: that fires SIGUSR2 once, harmlessly */
	signal(SIGUSR2, h);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2))
		fail("prctl: %m");
	if (pipe(req) || pipe(resp))
		fail("pipe: %m");
	child = fork();
	if (child == 0) {
		signal(SIGUSR2, SIG_DFL);
		if (prctl(PR_SET_PDEATHSIG, SIGHUP))
			_exit(1);
		close(req[1]);
		while (read(req[0], &c, 1) == 1) {
			int s = -1;
			prctl(PR_GET_PDEATHSIG, &s);
			if (write(resp[1], &s, sizeof(s)) != sizeof(s))
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	test_daemon();
	if (test_break()) {
		prctl(PR_SET_PDEATHSIG, 0);
		test_msg("break: cleared our parent-death signal");
	}
	test_waitsig();

	if (prctl(PR_GET_PDEATHSIG, &sig) || sig != SIGUSR2)
		fail("our pdeath signal is %d, expected %d", sig, SIGUSR2);
	if (write(req[1], "?", 1) != 1 || read(resp[0], &sig, sizeof(sig)) != sizeof(sig))
		fail("the child does not answer");
	if (sig != SIGHUP)
		fail("the child's pdeath signal is %d, expected %d", sig, SIGHUP);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	pass();
}
