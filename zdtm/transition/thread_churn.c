/* Transition: threads are created and joined continuously until SIGTERM; each one
 * proves it ran with its own argument and TLS; counters must agree at the end. */
#include "zdtmtst.h"
#include <errno.h>
#include <pthread.h>

#define INFLIGHT 4
static volatile unsigned long ran;
static __thread unsigned long mine;

static void *thread(void *a)
{
	unsigned long id = (unsigned long)a;
	mine = id * 3 + 1;
	for (volatile int i = 0; i < 1000; i++)
		;
	__atomic_add_fetch(&ran, 1, __ATOMIC_SEQ_CST);
	return (void *)(mine ^ 0x5555);
}

int main(int argc, char **argv)
{
	pthread_t t[INFLIGHT];
	unsigned long ids[INFLIGHT], created = 0, joined = 0;
	int i;

	test_init(argc, argv);
	test_daemon();
	while (test_go()) {
		for (i = 0; i < INFLIGHT; i++) {
			ids[i] = created;
			int r = pthread_create(&t[i], NULL, thread, (void *)ids[i]);
			if (r == EAGAIN) {
				ids[i] = ~0ul;
				continue;
			}
			if (r)
				fail("pthread_create: %d", r);
			created++;
		}
		for (i = 0; i < INFLIGHT; i++) {
			void *ret;
			if (ids[i] == ~0ul)
				continue;
			if (pthread_join(t[i], &ret))
				fail("pthread_join");
			if ((unsigned long)ret != ((ids[i] * 3 + 1) ^ 0x5555))
				fail("thread %lu returned %#lx", ids[i], (unsigned long)ret);
			joined++;
		}
		if (test_break() && created == 1000) {
			__atomic_add_fetch(&ran, 1, __ATOMIC_SEQ_CST);
			test_msg("break: bumped the run counter");
		}
	}
	if (created == 0 || joined != created || ran != created)
		fail("created %lu, joined %lu, ran %lu", created, joined, (unsigned long)ran);
	test_msg("%lu threads created and joined", created);
	pass();
}
