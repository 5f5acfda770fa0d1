/* Nice values of the process and of its threads (raised by an unprivileged task). */
#include "zdtmtst.h"
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
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
	int want[NT + 1] = { 5, 10, 19, 3 };
	pthread_t t[NT];
	long i;

	test_init(argc, argv);
	pthread_barrier_init(&b, NULL, NT + 1);
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, thread, (void *)i);
	pthread_barrier_wait(&b);
	for (i = 0; i <= NT; i++)
		if (setpriority(PRIO_PROCESS, i < NT ? tids[i] : 0, want[i]))
			fail("setpriority: %m");
	test_daemon();
	if (test_break()) {
		setpriority(PRIO_PROCESS, 0, 4);	/* main thread: 3 -> 4 */
		test_msg("break: main thread nice 4");
	}
	test_waitsig();

	for (i = 0; i <= NT; i++) {
		int n;
		errno = 0;
		n = getpriority(PRIO_PROCESS, i < NT ? tids[i] : 0);
		if (errno)
			fail("getpriority: %m");
		if (n != want[i])
			fail("task %ld: nice %d, expected %d", i, n, want[i]);
	}
	pthread_barrier_wait(&b);
	for (i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	pass();
}
