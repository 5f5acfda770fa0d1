/*
 * Holds an fd no fd kind of criu-ts handles, for the plugin tests (plugins-engine.spec.ts): a
 * software perf event (PERF_COUNT_SW_TASK_CLOCK, counting this task's own time).
 * perfev OUT [thread] [noperf]: a child in a new session opens the event (not with "noperf"; with
 * "thread" it starts a second thread that only sleeps, the CUDA plugin's "restore thread"), writes
 * "PID FD TID" to OUT.pid atomically and sleeps; the parent exits once that file is there. On
 * SIGTERM it reads the counter, spins for 20 ms of its own time, reads it again and writes one
 * line to OUT: "PASS perf fd N counts (A -> B)" when the fd is still a perf event that counted
 * the spin, else "FAIL ..." (with "noperf": "PASS no perf fd").
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t done;
static void on_term(int sig) { (void)sig; done = 1; }

static volatile int sleeper_tid;
static void *sleeper(void *arg)
{
	(void)arg;
	sleeper_tid = syscall(SYS_gettid);
	for (;;)
		pause();
	return NULL;
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char pidf[4096], tmp[4200], link[256], want[64];
	struct perf_event_attr a;
	uint64_t before = 0, after = 0;
	pthread_t th;
	int fd = -1, tid = 0, thread = 0, noperf = 0;
	FILE *o;

	if (argc < 2) {
		fprintf(stderr, "usage: perfev OUT [thread] [noperf]\n");
		return 2;
	}
	snprintf(pidf, sizeof(pidf), "%s.pid", argv[1]);
	if (fork()) {
		for (int i = 0; i < 1000 && access(pidf, F_OK); i++)
			usleep(10000);
		return access(pidf, F_OK) ? 1 : 0;
	}
	for (int i = 2; i < argc; i++) {
		thread |= !strcmp(argv[i], "thread");
		noperf |= !strcmp(argv[i], "noperf");
	}
	setsid();
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_SW_TASK_CLOCK;
	if (!noperf)
		fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
	if (fd < 0 && !noperf) {
		perror("perf_event_open");
		return 1;
	}
	if (thread) {
		if (pthread_create(&th, NULL, sleeper, NULL))
			return 1;
		while (!sleeper_tid)
			usleep(1000);
		tid = sleeper_tid;
	}
	signal(SIGTERM, on_term);
	snprintf(tmp, sizeof(tmp), "%s.tmp", pidf);
	o = fopen(tmp, "w");
	if (!o)
		return 1;
	fprintf(o, "%d %d %d\n", getpid(), fd, tid);
	fclose(o);
	rename(tmp, pidf);
	while (!done)
		pause();
	o = fopen(argv[1], "a");
	if (!o)
		return 1;
	if (noperf) {
		fprintf(o, "PASS no perf fd\n");
		return 0;
	}
	snprintf(want, sizeof(want), "/proc/self/fd/%d", fd);
	memset(link, 0, sizeof(link));
	if (readlink(want, link, sizeof(link) - 1) < 0 || strcmp(link, "anon_inode:[perf_event]")) {
		fprintf(o, "FAIL fd %d is not a perf event (%s)\n", fd, link);
		return 1;
	}
	if (read(fd, &before, sizeof(before)) != sizeof(before)) {
		fprintf(o, "FAIL read of perf fd %d\n", fd);
		return 1;
	}
	for (double t0 = cpu_now(); cpu_now() - t0 < 0.02;)
		;
	if (read(fd, &after, sizeof(after)) != sizeof(after) || after <= before) {
		fprintf(o, "FAIL perf fd %d does not count (%llu -> %llu)\n", fd, (unsigned long long)before, (unsigned long long)after);
		return 1;
	}
	fprintf(o, "PASS perf fd %d counts (%llu -> %llu)\n", fd, (unsigned long long)before, (unsigned long long)after);
	fclose(o);
	return 0;
}
