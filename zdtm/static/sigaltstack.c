/* sigaltstack in two threads; SA_ONSTACK handlers run on them after the restore. */
#include "zdtmtst.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SSZ (64 * 1024)
static char stk_main[SSZ], stk_thr[SSZ];
static volatile uintptr_t handler_sp;
static volatile int handled;
static pthread_barrier_t b;
static volatile int thr_ok = -1;
static char thr_err[256];

static void handler(int sig)
{
	int local;
	(void)sig;
	handler_sp = (uintptr_t)&local;
	handled++;
}

static int check(const char *who, char *stk, char *err, size_t errsz)
{
	stack_t ss;
	if (sigaltstack(NULL, &ss)) {
		snprintf(err, errsz, "%s: sigaltstack: %m", who);
		return -1;
	}
	if (ss.ss_sp != stk || ss.ss_size != SSZ || ss.ss_flags != 0) {
		snprintf(err, errsz, "%s: sigaltstack is sp %p size %zu flags %#x, expected %p %d 0", who,
			 ss.ss_sp, ss.ss_size, ss.ss_flags, stk, SSZ);
		return -1;
	}
	handled = 0;
	raise(SIGUSR1);
	if (handled != 1 || handler_sp < (uintptr_t)stk || handler_sp >= (uintptr_t)stk + SSZ) {
		snprintf(err, errsz, "%s: the handler ran at %#lx, not on the alt stack %p", who,
			 (unsigned long)handler_sp, stk);
		return -1;
	}
	return 0;
}

static void *thread(void *a)
{
	stack_t ss = { .ss_sp = stk_thr, .ss_size = SSZ };
	if (sigaltstack(&ss, NULL))
		fail("sigaltstack: %m");
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);	/* after SIGTERM */
	thr_ok = check("thread", stk_thr, thr_err, sizeof(thr_err));
	return a;
}

int main(int argc, char **argv)
{
	stack_t ss = { .ss_sp = stk_main, .ss_size = SSZ };
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_ONSTACK };
	char err[256];
	pthread_t t;

	test_init(argc, argv);
	sigaction(SIGUSR1, &sa, NULL);
	if (sigaltstack(&ss, NULL))
		fail("sigaltstack: %m");
	pthread_barrier_init(&b, NULL, 2);
	pthread_create(&t, NULL, thread, NULL);
	pthread_barrier_wait(&b);
	test_daemon();
	if (test_break()) {
		stack_t off = { .ss_flags = SS_DISABLE };
		sigaltstack(&off, NULL);
		test_msg("break: disabled the main thread's sigaltstack");
	}
	test_waitsig();

	pthread_barrier_wait(&b);
	pthread_join(t, NULL);
	if (thr_ok)
		fail("%s", thr_err);
	if (check("main", stk_main, err, sizeof(err)))
		fail("%s", err);
	pass();
}
