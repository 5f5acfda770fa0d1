/*
 * CPU affinity of each thread: the main thread pinned to the first CPU it may use, one thread
 * to the last, one left free. After restore every thread must have the mask it had, and the
 * free one must still run anywhere (not inherit the restorer's pinning).
 */
#include "zdtmtst.h"
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

static pthread_barrier_t b;
static cpu_set_t all, want[3], got[3];

static int check(int i, const char *who)
{
	if (sched_getaffinity(0, sizeof(got[i]), &got[i]))
		fail("%s: sched_getaffinity: %m", who);
	if (!CPU_EQUAL(&got[i], &want[i])) {
		test_msg("%s: %d CPUs allowed, expected %d", who, CPU_COUNT(&got[i]), CPU_COUNT(&want[i]));
		return 1;
	}
	return 0;
}

static int bad[3];

static void *pinned(void *a)
{
	if (sched_setaffinity(0, sizeof(want[1]), &want[1]))
		fail("pinned thread: sched_setaffinity: %m");
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);
	bad[1] = check(1, "pinned thread");
	return NULL;
}

static void *free_thread(void *a)
{
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);
	bad[2] = check(2, "free thread");
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t1, t2;
	int first = -1, last = -1, c;

	test_init(argc, argv);
	if (sched_getaffinity(0, sizeof(all), &all))
		fail("sched_getaffinity: %m");
	for (c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			if (first < 0)
				first = c;
			last = c;
		}
	CPU_ZERO(&want[0]);
	CPU_SET(first, &want[0]);
	CPU_ZERO(&want[1]);
	CPU_SET(last, &want[1]);
	want[2] = all;
	test_msg("CPUs %d..%d (%d); main on %d, thread on %d", first, last, CPU_COUNT(&all), first, last);

	pthread_barrier_init(&b, NULL, 3);
	pthread_create(&t1, NULL, pinned, NULL);
	pthread_create(&t2, NULL, free_thread, NULL);
	if (sched_setaffinity(0, sizeof(want[0]), &want[0]))
		fail("main: sched_setaffinity: %m");
	pthread_barrier_wait(&b);
	test_daemon();
	if (test_break()) {
		if (CPU_COUNT(&all) < 2)
			fail("break: one CPU only, no other mask to set");
		sched_setaffinity(0, sizeof(want[1]), &want[1]);	/* main: first -> last CPU */
		test_msg("break: main thread moved to CPU %d", last);
	}
	test_waitsig();

	bad[0] = check(0, "main thread");
	pthread_barrier_wait(&b);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	if (bad[0] || bad[1] || bad[2])
		fail("CPU affinity changed");
	pass();
}
