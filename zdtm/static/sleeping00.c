/* Threads asleep in syscalls: nanosleep, pause, read on a pipe. */
#include "zdtmtst.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int p[2];
static volatile pid_t tids[3];
static volatile int woken[3];	/* times each sleeper returned from its syscall */
static volatile int stop;
static char got[64];
static ssize_t got_len;
static const char payload[] = "data written after the restore";

static void wake(int sig) { (void)sig; }

static volatile int nanosleep_eintr;

static void *sleeper_nanosleep(void *a)
{
	struct timespec ts = { 100000, 0 };
	tids[0] = sys_gettid();
	while (!stop) {
		/* a restored nanosleep may come back through restart_syscall with EINTR
		 * (its restart block is not part of the image): tolerated, and logged */
		if (nanosleep(&ts, NULL) && !stop)
			nanosleep_eintr++;
	}
	woken[0]++;
	return a;
}

static void *sleeper_pause(void *a)
{
	tids[1] = sys_gettid();
	while (!stop) {
		pause();
		woken[1]++;
	}
	return a;
}

static void *sleeper_read(void *a)
{
	tids[2] = sys_gettid();
	got_len = read(p[0], got, sizeof(got));
	woken[2]++;
	return a;
}

static long in_syscall(pid_t tid)
{
	char path[64], buf[256];
	long nr;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (read_file(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%ld", &nr) != 1)
		return -2;
	return nr;
}

/* pause() is a syscall of its own on x86_64; where the kernel has none (aarch64) glibc sleeps in ppoll */
#ifdef SYS_pause
#define PAUSE_NR SYS_pause
#else
#define PAUSE_NR SYS_ppoll
#endif

int main(int argc, char **argv)
{
	pthread_t th[3];
	void *(*fn[3])(void *) = { sleeper_nanosleep, sleeper_pause, sleeper_read };
	const char *names[3] = { "nanosleep", "pause", "read" };
	long expect[3][3] = { { SYS_nanosleep, SYS_clock_nanosleep, SYS_restart_syscall },
			      { PAUSE_NR, PAUSE_NR, PAUSE_NR }, { SYS_read, SYS_read, SYS_read } };
	struct sigaction sa = { .sa_handler = wake };
	int i;

	test_init(argc, argv);
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(p))
		fail("pipe: %m");
	for (i = 0; i < 3; i++)
		if (pthread_create(&th[i], NULL, fn[i], NULL))
			fail("pthread_create");
	/* wait until all three sleep in their syscalls (the runner's start timeout ends a test
	 * that never gets there) */
	for (;;) {
		int ok = 1;
		for (i = 0; i < 3; i++) {
			char st;
			long nr = tids[i] ? in_syscall(tids[i]) : -2;
			if (!tids[i] || task_state(tids[i], &st) || st != 'S' ||
			    (nr != expect[i][0] && nr != expect[i][1]))
				ok = 0;
		}
		if (ok)
			break;
		usleep(1000);
	}
	test_daemon();
	if (test_break()) {
		if (write(p[1], "x", 1) != 1)	/* wake the reader early */
			fail("write: %m");
		test_msg("break: woke the pipe reader early");
		while (!woken[2])	/* until it has returned, however long that takes here */
			usleep(1000);
	}
	test_waitsig();

	for (i = 0; i < 3; i++) {
		long nr = in_syscall(tids[i]);
		char st = '?';
		task_state(tids[i], &st);
		if (woken[i])
			fail("the %s sleeper woke up %d times before it was woken", names[i], woken[i]);
		if (nr != expect[i][0] && nr != expect[i][1] && nr != expect[i][2])
			fail("the %s sleeper is in syscall %ld (state %c)", names[i], nr, st);
	}
	if (nanosleep_eintr)
		test_msg("nanosleep returned EINTR %d times without a signal", nanosleep_eintr);
	stop = 1;
	if (write(p[1], payload, sizeof(payload)) != sizeof(payload))
		fail("write: %m");
	pthread_kill(th[0], SIGUSR1);
	pthread_kill(th[1], SIGUSR1);
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	if (got_len != sizeof(payload) || memcmp(got, payload, sizeof(payload)))
		fail("the reader got %zd bytes '%.*s'", got_len, (int)(got_len > 0 ? got_len : 0), got);
	for (i = 0; i < 2; i++)
		if (woken[i] != 1)
			fail("the %s sleeper woke %d times", names[i], woken[i]);
	pass();
}
