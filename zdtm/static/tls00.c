/* Thread-local storage: each thread's __thread data and its fs base. */
#include "zdtmtst.h"
#include <asm/prctl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NT 4
static __thread uint64_t tls_val;
static __thread char tls_buf[256];
static pthread_barrier_t b;
static char errs[NT + 1][256];
static uint64_t *tls_ptrs[NT + 1];

static void setup(int i, unsigned long *fs)
{
	uint32_t crc = i;
	tls_val = 0x1111111111111111ull * (i + 1);
	datagen(tls_buf, sizeof(tls_buf) - 4, &crc);
	*(uint32_t *)(tls_buf + sizeof(tls_buf) - 4) = crc;
	syscall(SYS_arch_prctl, ARCH_GET_FS, fs);
	tls_ptrs[i] = &tls_val;
}

static void check(int i, unsigned long fs)
{
	unsigned long fs2 = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs2);
	if (fs2 != fs)
		snprintf(errs[i], 256, "thread %d: fs base %#lx, expected %#lx", i, fs2, fs);
	else if (tls_val != 0x1111111111111111ull * (i + 1))
		snprintf(errs[i], 256, "thread %d: __thread value %#llx", i, (unsigned long long)tls_val);
	else if (datachk(tls_buf, sizeof(tls_buf) - 4, (uint32_t *)(tls_buf + sizeof(tls_buf) - 4)))
		snprintf(errs[i], 256, "thread %d: __thread buffer changed", i);
}

static void *thread(void *a)
{
	int i = (long)a;
	unsigned long fs;
	setup(i, &fs);
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);
	check(i, fs);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[NT];
	unsigned long fs;
	long i;

	test_init(argc, argv);
	pthread_barrier_init(&b, NULL, NT + 1);
	for (i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, thread, (void *)i);
	setup(NT, &fs);
	pthread_barrier_wait(&b);
	test_daemon();
	if (test_break()) {
		*tls_ptrs[1] ^= 0x100;	/* thread 1's __thread value */
		test_msg("break: changed thread 1's TLS value");
	}
	test_waitsig();

	pthread_barrier_wait(&b);
	for (i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	check(NT, fs);
	for (i = 0; i <= NT; i++)
		if (errs[i][0])
			fail("%s", errs[i]);
	pass();
}
