/* Robust futex lists: the kernel must still know them; a robust mutex held by a
 * helper that dies after the restore is reported EOWNERDEAD. */
#include "zdtmtst.h"
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int get_robust(pid_t pid, void **head, size_t *len)
{
	return syscall(SYS_get_robust_list, pid, head, len);
}

int main(int argc, char **argv)
{
	pthread_mutexattr_t ma;
	pthread_mutex_t *m;
	int p[2], r;
	pid_t child;
	void *head, *child_head, *h2;
	size_t len, clen, l2;
	char c;
	struct timespec ts;

	test_init(argc, argv);
	m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fail("mmap: %m");
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &ma);
	if (pipe(p))
		fail("pipe: %m");
	child = fork();
	if (child == 0) {
		if (pthread_mutex_lock(m))
			_exit(1);
		if (write(p[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (read(p[0], &c, 1) != 1)
		fail("the helper did not lock the mutex");
	if (get_robust(0, &head, &len) || get_robust(child, &child_head, &clen))
		fail("get_robust_list: %m");
	test_daemon();
	if (test_break()) {
		/* the helper's robust list is replaced by an empty one: its death will go unnoticed */
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		pthread_mutex_init(m, &ma);
		child = fork();
		if (child == 0) {
			static struct robust_list_head empty = { { &empty.list }, 0, NULL };
			pthread_mutex_lock(m);
			syscall(SYS_set_robust_list, &empty, sizeof(empty));
			if (write(p[1], "L", 1) != 1)
				_exit(1);
			for (;;)
				pause();
		}
		if (read(p[0], &c, 1) != 1)
			fail("break: no helper");
		test_msg("break: the helper holding the mutex has an empty robust list");
	}
	test_waitsig();

	if (get_robust(0, &h2, &l2))
		fail("get_robust_list: %m");
	if (h2 != head || l2 != len)
		fail("our robust list is %p/%zu, expected %p/%zu", h2, l2, head, len);
	if (get_robust(child, &h2, &l2))
		fail("get_robust_list(%d): %m", child);
	if (h2 != child_head || l2 != clen)
		fail("the helper's robust list is %p/%zu, expected %p/%zu", h2, l2, child_head, clen);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	r = pthread_mutex_timedlock(m, &ts);
	if (r != EOWNERDEAD)
		fail("locking the dead helper's robust mutex returned %d, expected EOWNERDEAD", r);
	pthread_mutex_consistent(m);
	pthread_mutex_unlock(m);
	pass();
}
