/* Each thread has its own signal mask. */
#include "zdtmtst.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#define NT 4
static pthread_barrier_t b;
static char errs[NT + 1][256];

static void make_mask(int i, sigset_t *s)
{
	sigemptyset(s);
	for (int sig = 1; sig < SIGRTMAX; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGTERM && sig != 32 && sig != 33 &&
		    (sig + i) % (i + 2) == 0)
			sigaddset(s, sig);
}

static void check(int i)
{
	sigset_t want, now;
	make_mask(i, &want);
	pthread_sigmask(SIG_BLOCK, NULL, &now);
	for (int sig = 1; sig < SIGRTMAX; sig++)
		if (sigismember(&want, sig) != sigismember(&now, sig)) {
			snprintf(errs[i], sizeof(errs[i]), "thread %d: signal %d is %sblocked", i, sig,
				 sigismember(&now, sig) ? "" : "not ");
			return;
		}
}

static void *thread(void *a)
{
	int i = (long)a;
	sigset_t s;
	make_mask(i, &s);
	pthread_sigmask(SIG_SETMASK, &s, NULL);
	pthread_barrier_wait(&b);
	if (test_break() && i == 2) {
		sigaddset(&s, SIGUSR1);
		sigaddset(&s, SIGUSR2);
		sigaddset(&s, SIGHUP);
		pthread_sigmask(SIG_SETMASK, &s, NULL);
		test_msg("break: thread 2 changed its mask");
	}
	pthread_barrier_wait(&b);	/* SIGTERM */
	check(i);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[NT];
	sigset_t s;
	long i;

	test_init(argc, argv);
	pthread_barrier_init(&b, NULL, NT + 1);
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, thread, (void *)i);
	make_mask(NT, &s);
	pthread_sigmask(SIG_SETMASK, &s, NULL);
	pthread_barrier_wait(&b);
	test_daemon();
	test_waitsig();

	pthread_barrier_wait(&b);
	for (i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	check(NT);
	for (i = 0; i <= NT; i++)
		if (errs[i][0])
			fail("%s", errs[i]);
	pass();
}
