/* Signal dispositions: handlers, flags and masks for every catchable signal. */
#include "zdtmtst.h"
#include <signal.h>
#include <string.h>

#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000
#endif

static void h1(int s) { (void)s; }
static void h2(int s, siginfo_t *i, void *u) { (void)s; (void)i; (void)u; }

static int skip(int sig)
{
	return sig == SIGKILL || sig == SIGSTOP || sig == SIGTERM || sig == 32 || sig == 33;
}

static void expected(int sig, struct sigaction *sa)
{
	memset(sa, 0, sizeof(*sa));
	sigemptyset(&sa->sa_mask);
	switch (sig % 4) {
	case 0: sa->sa_handler = h1; sa->sa_flags = SA_RESTART; break;
	case 1: sa->sa_sigaction = h2; sa->sa_flags = SA_SIGINFO | SA_NODEFER; break;
	case 2: sa->sa_handler = SIG_IGN; break;
	case 3: sa->sa_handler = h1; sa->sa_flags = SA_RESETHAND | SA_ONSTACK; break;
	}
	/* a mask that depends on the signal */
	for (int s = 1; s < _NSIG; s++)
		if (!skip(s) && s != sig && (s * 7 + sig) % 5 == 0)
			sigaddset(&sa->sa_mask, s);
}

int main(int argc, char **argv)
{
	struct sigaction sa, now;
	int sig;

	test_init(argc, argv);
	for (sig = 1; sig < _NSIG; sig++) {
		if (skip(sig))
			continue;
		expected(sig, &sa);
		if (sigaction(sig, &sa, NULL))
			fail("sigaction(%d): %m", sig);
	}
	test_daemon();
	if (test_break()) {
		signal(SIGUSR2, SIG_DFL);
		test_msg("break: reset SIGUSR2 to SIG_DFL");
	}
	test_waitsig();

	for (sig = 1; sig < _NSIG; sig++) {
		if (skip(sig))
			continue;
		expected(sig, &sa);
		if (sigaction(sig, NULL, &now))
			fail("sigaction(%d): %m", sig);
		if (now.sa_handler != sa.sa_handler)
			fail("signal %d: handler %p, expected %p", sig, (void *)now.sa_handler, (void *)sa.sa_handler);
		if ((now.sa_flags & ~SA_RESTORER) != sa.sa_flags)
			fail("signal %d: flags %#x, expected %#x", sig, now.sa_flags & ~SA_RESTORER, sa.sa_flags);
		for (int s = 1; s < _NSIG; s++)
			if (!skip(s) && sigismember(&now.sa_mask, s) != sigismember(&sa.sa_mask, s))
				fail("signal %d: signal %d is %s the mask", sig, s,
				     sigismember(&now.sa_mask, s) ? "in" : "not in");
	}
	pass();
}
