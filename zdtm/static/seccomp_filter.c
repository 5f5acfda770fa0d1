/* seccomp filters: two stacked filters in the main thread (getppid fails with EPERM, then
 * sched_yield with EACCES) and one of its own in a second thread (getpgid with ENOENT);
 * after the restore each filter still bites where it did, and nowhere else. */
#include "zdtmtst.h"
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int deny(int nr, int err)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static int bites(long nr, int err)
{
	errno = 0;
	return syscall(nr, 0) == -1 && errno == err;
}

static int filters_of(pid_t tid)
{
	char path[64], buf[4096], *p;
	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	if (read_file(path, buf, sizeof buf) < 0 || !(p = strstr(buf, "Seccomp_filters:")))
		return -1;
	return atoi(p + 16);
}

static task_waiter_t ready, done;
static volatile int thread_ok = -1;
static pid_t thread_tid;

static void *thread(void *arg)
{
	thread_tid = sys_gettid();
	if (deny(SYS_getpgid, ENOENT))
		pr_perror("thread filter");
	task_waiter_complete(&ready, 1);
	task_waiter_wait4(&done, 1);
	thread_ok = bites(SYS_getpgid, ENOENT) && bites(SYS_getppid, EPERM) && bites(SYS_sched_yield, EACCES) &&
		    filters_of(thread_tid) == 3;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;

	test_init(argc, argv);
	task_waiter_init(&ready);
	task_waiter_init(&done);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fail("no_new_privs: %m");
	if (deny(SYS_getppid, EPERM) || deny(SYS_sched_yield, EACCES))
		fail("seccomp: %m");
	if (pthread_create(&t, NULL, thread, NULL))
		fail("pthread_create: %m");
	task_waiter_wait4(&ready, 1);
	test_daemon();
	if (test_break()) {
		deny(SYS_getuid, EPERM);
		test_msg("break: one more filter in the main thread");
	}
	test_waitsig();
	if (!bites(SYS_getppid, EPERM) || !bites(SYS_sched_yield, EACCES))
		fail("the main thread's filters do not bite");
	if (bites(SYS_getpgid, ENOENT))
		fail("the thread's own filter bites in the main thread");
	if (filters_of(sys_gettid()) != 2)
		fail("the main thread has %d filters, expected 2", filters_of(sys_gettid()));
	task_waiter_complete(&done, 1);
	pthread_join(t, NULL);
	if (thread_ok != 1)
		fail("the thread's filters are not as they were");
	pass();
}
