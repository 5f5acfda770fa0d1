/* Scheduling policies: the process SCHED_RR, a thread SCHED_FIFO, a thread SCHED_IDLE,
 * a thread SCHED_BATCH (RT policies need root). */
#define TEST_SUID
#include "zdtmtst.h"
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NT 3
static volatile pid_t tids[NT];
static pthread_barrier_t b;

static void *thread(void *a)
{
	tids[(long)a] = sys_gettid();
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);
	return NULL;
}

int main(int argc, char **argv)
{
	int pol[NT + 1] = { SCHED_FIFO, SCHED_IDLE, SCHED_BATCH, SCHED_RR };
	int prio[NT + 1] = { 7, 0, 0, 3 };
	struct sched_param sp;
	pthread_t t[NT];
	long i;

	test_init(argc, argv);
	pthread_barrier_init(&b, NULL, NT + 1);
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, thread, (void *)i);
	pthread_barrier_wait(&b);
	for (i = 0; i <= NT; i++) {
		pid_t tid = i < NT ? tids[i] : 0;
		sp.sched_priority = prio[i];
		if (sched_setscheduler(tid, pol[i], &sp))
			fail("sched_setscheduler(%d, %d): %m", tid, pol[i]);
	}
	test_daemon();
	if (test_break()) {
		sp.sched_priority = 0;
		sched_setscheduler(tids[0], SCHED_OTHER, &sp);
		test_msg("break: thread 0 back to SCHED_OTHER");
	}
	test_waitsig();

	for (i = 0; i <= NT; i++) {
		pid_t tid = i < NT ? tids[i] : 0;
		int p = sched_getscheduler(tid);
		if (p != pol[i])
			fail("task %ld: policy %d, expected %d", i, p, pol[i]);
		if (sched_getparam(tid, &sp) || sp.sched_priority != prio[i])
			fail("task %ld: priority %d, expected %d", i, sp.sched_priority, prio[i]);
	}
	pthread_barrier_wait(&b);
	for (i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	pass();
}
