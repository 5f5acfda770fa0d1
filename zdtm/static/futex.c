/* Threads asleep in FUTEX_WAIT on private and shared futexes are woken one by one after the restore. */
#include "zdtmtst.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#define NT 4
static volatile int32_t *words;
static volatile int woke[NT], waiting[NT], spurious[NT];

static void *thread(void *a)
{
	long i = (long)a;
	int op = i % 2 ? FUTEX_WAIT : FUTEX_WAIT_PRIVATE;
	waiting[i] = 1;
	while (words[i * 16] == 0) {
		sys_futex(&words[i * 16], op, 0, NULL);
		if (words[i * 16] == 0)
			spurious[i]++;
	}
	woke[i] = 1;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[NT];
	long i;

	test_init(argc, argv);
	words = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (words == MAP_FAILED)
		fail("mmap: %m");
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, thread, (void *)i);
	for (i = 0; i < NT; i++)
		while (!waiting[i])
			usleep(1000);
	usleep(10000);
	test_daemon();
	if (test_break()) {
		words[2 * 16] = 1;
		sys_futex(&words[2 * 16], FUTEX_WAKE_PRIVATE, 1, NULL);
		test_msg("break: woke thread 2 early");
		while (!woke[2])	/* until it has left the futex, however long that takes here */
			usleep(1000);
	}
	test_waitsig();

	for (i = 0; i < NT; i++)
		if (woke[i])
			fail("thread %ld left its futex before it was woken", i);
	for (i = 0; i < NT; i++) {
		int op = i % 2 ? FUTEX_WAKE : FUTEX_WAKE_PRIVATE;
		words[i * 16] = 1;
		sys_futex(&words[i * 16], op, 1, NULL);
		pthread_join(t[i], NULL);
		if (!woke[i])
			fail("thread %ld did not wake", i);
		for (long j = i + 1; j < NT; j++)
			if (woke[j])
				fail("waking thread %ld also woke thread %ld", i, j);
	}
	pass();
}
