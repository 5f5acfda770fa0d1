/*
 * x86 GDT TLS slots (set_thread_area), per thread: the main thread and a thread each install a
 * 32-bit data segment of their own. After restore each finds its own descriptor again, with
 * the same base, limit and flags. Other architectures have no such slots and just pass.
 */
#include "zdtmtst.h"
#include <asm/ldt.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef __x86_64__
static pthread_barrier_t b;
static struct user_desc want[2];
static int bad[2];

static int install(int i, unsigned int base)
{
	memset(&want[i], 0, sizeof(want[i]));
	want[i].entry_number = -1;	/* the kernel picks a free slot */
	want[i].base_addr = base;
	want[i].limit = 0xfff;
	want[i].seg_32bit = 1;
	want[i].limit_in_pages = 1;
	want[i].useable = 1;
	return syscall(SYS_set_thread_area, &want[i]);
}

static int check(int i, const char *who)
{
	struct user_desc got;

	memset(&got, 0, sizeof(got));
	got.entry_number = want[i].entry_number;
	if (syscall(SYS_get_thread_area, &got))
		fail("%s: get_thread_area: %m", who);
	if (got.base_addr != want[i].base_addr || got.limit != want[i].limit || got.seg_32bit != 1 ||
	    got.limit_in_pages != 1 || got.useable != 1 || got.seg_not_present || got.read_exec_only) {
		test_msg("%s: slot %u: base %#x limit %#x, expected base %#x limit %#x", who, got.entry_number,
			 got.base_addr, got.limit, want[i].base_addr, want[i].limit);
		return 1;
	}
	return 0;
}

static void *thread(void *a)
{
	if (install(1, 0x5a5a0000))
		fail("thread: set_thread_area: %m");
	pthread_barrier_wait(&b);
	pthread_barrier_wait(&b);
	bad[1] = check(1, "thread");
	return NULL;
}
#endif

int main(int argc, char **argv)
{
#ifdef __x86_64__
	pthread_t t;

	test_init(argc, argv);
	pthread_barrier_init(&b, NULL, 2);
	if (install(0, 0x12340000))
		fail("main: set_thread_area: %m");
	pthread_create(&t, NULL, thread, NULL);
	pthread_barrier_wait(&b);
	test_msg("main: slot %u, thread: slot %u", want[0].entry_number, want[1].entry_number);
	test_daemon();
	if (test_break()) {
		want[0].base_addr ^= 0x10000;
		if (syscall(SYS_set_thread_area, &want[0]))
			fail("break: set_thread_area: %m");
		want[0].base_addr ^= 0x10000;	/* the check expects the original */
		test_msg("break: main thread's segment base changed");
	}
	test_waitsig();
	bad[0] = check(0, "main thread");
	pthread_barrier_wait(&b);
	pthread_join(t, NULL);
	if (bad[0] || bad[1])
		fail("GDT TLS slots changed");
#else
	test_init(argc, argv);
	test_daemon();
	test_waitsig();
#endif
	pass();
}
