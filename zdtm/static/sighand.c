/* Signal handlers run after the restore with their flags' semantics: SA_SIGINFO
 * gets its siginfo, SA_RESETHAND resets, sa_mask blocks during the handler, SIG_IGN ignores. */
#include "zdtmtst.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile int usr1, info_code, info_pid, hup, in_mask;

static void h_usr1(int s, siginfo_t *si, void *u)
{
	(void)s; (void)u;
	usr1++;
	info_code = si->si_code;
	info_pid = si->si_pid;
}

static void h_hup(int s)
{
	sigset_t cur;
	(void)s;
	hup++;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	in_mask = sigismember(&cur, SIGWINCH);
}

int main(int argc, char **argv)
{
	struct sigaction a = { .sa_sigaction = h_usr1, .sa_flags = SA_SIGINFO };
	struct sigaction b = { .sa_handler = h_hup, .sa_flags = SA_RESETHAND };
	struct sigaction now;

	test_init(argc, argv);
	sigemptyset(&a.sa_mask);
	sigemptyset(&b.sa_mask);
	sigaddset(&b.sa_mask, SIGWINCH);
	sigaction(SIGUSR1, &a, NULL);
	sigaction(SIGHUP, &b, NULL);
	signal(SIGUSR2, SIG_IGN);
	test_daemon();
	if (test_break()) {
		signal(SIGUSR2, SIG_DFL);	/* SIGUSR2 now kills: no verdict at all would be written */
		b.sa_flags = 0;			/* so break the SIGHUP one instead */
		signal(SIGUSR2, SIG_IGN);
		sigaction(SIGHUP, &b, NULL);
		test_msg("break: SIGHUP lost SA_RESETHAND");
	}
	test_waitsig();

	kill(getpid(), SIGUSR1);
	if (usr1 != 1 || info_code != SI_USER || info_pid != getpid())
		fail("SIGUSR1: handled %d times, si_code %d si_pid %d", usr1, info_code, info_pid);
	kill(getpid(), SIGUSR2);	/* ignored */
	kill(getpid(), SIGHUP);
	if (hup != 1)
		fail("SIGHUP handled %d times", hup);
	if (!in_mask)
		fail("SIGWINCH was not blocked in the SIGHUP handler");
	sigaction(SIGHUP, NULL, &now);
	if (now.sa_handler != SIG_DFL)
		fail("SIGHUP is not reset to SIG_DFL after its SA_RESETHAND handler ran");
	pass();
}
