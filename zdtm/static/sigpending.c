/* Pending signals: process-wide and thread-directed, standard and queued realtime
 * with values; delivered in the right order with the right siginfo after the restore. */
#include "zdtmtst.h"
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#define NRT 5
static volatile int got[_NSIG];
static volatile int rt_vals[64], nrt;
static volatile pid_t thr_tid;
static pthread_barrier_t b;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got[sig]++;
	if (sig == SIGRTMIN + 2 && nrt < 64)
		rt_vals[nrt++] = si->si_value.sival_int;
}

static void *thread(void *a)
{
	sigset_t set;
	thr_tid = sys_gettid();
	pthread_barrier_wait(&b);	/* signals queued */
	pthread_barrier_wait(&b);	/* SIGTERM */
	sigpending(&set);
	/* the thread sees its own SIGUSR2 and the shared SIGUSR1 */
	if (!sigismember(&set, SIGUSR2) || !sigismember(&set, SIGUSR1))
		return (void *)1;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);	/* delivers the thread's SIGUSR2 */
	return (void *)(long)(got[SIGUSR2] == 1 ? 0 : 2);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO };
	sigset_t set, pend;
	pthread_t t;
	void *ret;
	int i;

	test_init(argc, argv);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN + 2);
	sigaddset(&set, SIGWINCH);
	for (i = 1; i < _NSIG; i++)
		if (sigismember(&set, i))
			sigaction(i, &sa, NULL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* the thread inherits the mask */
	pthread_barrier_init(&b, NULL, 2);
	pthread_create(&t, NULL, thread, NULL);
	while (!thr_tid)
		usleep(1000);

	kill(getpid(), SIGUSR1);			/* shared */
	syscall(SYS_tgkill, getpid(), thr_tid, SIGUSR2);	/* the thread's private */
	syscall(SYS_tgkill, getpid(), getpid(), SIGWINCH);	/* main's private */
	for (i = 0; i < NRT; i++) {
		union sigval v = { .sival_int = 1000 + i };
		if (sigqueue(getpid(), SIGRTMIN + 2, v))
			fail("sigqueue: %m");
	}
	pthread_barrier_wait(&b);
	test_daemon();
	if (test_break()) {
		struct timespec z = { 0, 0 };
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, SIGRTMIN + 2);
		sigtimedwait(&one, NULL, &z);	/* consumes the first queued RT signal */
		test_msg("break: consumed one queued realtime signal");
	}
	test_waitsig();

	sigpending(&pend);
	for (i = 1; i < _NSIG; i++)
		if (sigismember(&set, i) && i != SIGUSR2 && !sigismember(&pend, i))
			fail("signal %d is not pending", i);
	if (sigismember(&pend, SIGUSR2))
		fail("the thread's SIGUSR2 is pending for the main thread");
	pthread_barrier_wait(&b);
	pthread_join(t, &ret);
	if (ret)
		fail("the thread's pending signals are wrong (%ld)", (long)ret);
	/* main: SIGUSR1 (shared, unless the thread took it: it only unblocked SIGUSR2), SIGWINCH, RT queue */
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (got[SIGUSR1] != 1 || got[SIGWINCH] != 1 || got[SIGUSR2] != 1)
		fail("delivered: SIGUSR1 %d, SIGUSR2 %d, SIGWINCH %d times (expected once each)",
		     got[SIGUSR1], got[SIGUSR2], got[SIGWINCH]);
	if (nrt != NRT)
		fail("%d queued realtime signals delivered, expected %d", nrt, NRT);
	for (i = 0; i < NRT; i++)
		if (rt_vals[i] != 1000 + i)
			fail("realtime signal %d carried %d, expected %d", i, rt_vals[i], 1000 + i);
	pass();
}
