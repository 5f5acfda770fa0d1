/* Interval timers: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF keep their intervals and values.
 * A value is checked against the program's own CLOCK_MONOTONIC readings, not a fixed time: it
 * can have gone down by at most the time elapsed since it was set (a single thread's CPU
 * time does not exceed that either), and never up. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/time.h>
#include <time.h>

/* the kernel arms a CPU itimer one scheduler tick late (TICK_NSEC: 10 ms at most, HZ >= 100),
 * so its value reads back up to a tick above what was set */
#define TICK_US 10000

static long long mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

static long long tv_us(struct timeval t) { return t.tv_sec * 1000000LL + t.tv_usec; }

static volatile int fired[3];
static void h(int s) { fired[s == SIGALRM ? 0 : s == SIGVTALRM ? 1 : 2]++; }

int main(int argc, char **argv)
{
	int which[3] = { ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF };
	const char *names[3] = { "REAL", "VIRTUAL", "PROF" };
	struct itimerval v[3] = {
		{ { 1000, 0 }, { 3000, 0 } }, { { 2000, 500000 }, { 4000, 0 } }, { { 3000, 250000 }, { 5000, 0 } },
	};
	struct itimerval now;
	long long t0, elapsed, left, set;
	int i;

	test_init(argc, argv);
	signal(SIGALRM, h);
	signal(SIGVTALRM, h);
	signal(SIGPROF, h);
	t0 = mono_us();
	for (i = 0; i < 3; i++)
		if (setitimer(which[i], &v[i], NULL))
			fail("setitimer(%s): %m", names[i]);
	test_daemon();
	if (test_break()) {
		struct itimerval zero = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_VIRTUAL, &zero, NULL);
		test_msg("break: disarmed ITIMER_VIRTUAL");
	}
	test_waitsig();

	for (i = 0; i < 3; i++) {
		if (getitimer(which[i], &now))
			fail("getitimer: %m");
		elapsed = mono_us() - t0;
		if (now.it_interval.tv_sec != v[i].it_interval.tv_sec || now.it_interval.tv_usec != v[i].it_interval.tv_usec)
			fail("ITIMER_%s interval is %ld.%06ld, expected %ld.%06ld", names[i],
			     now.it_interval.tv_sec, now.it_interval.tv_usec, v[i].it_interval.tv_sec, v[i].it_interval.tv_usec);
		if (now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0)
			fail("ITIMER_%s is disarmed", names[i]);
		left = tv_us(now.it_value);
		set = tv_us(v[i].it_value);
		if (left > set + (which[i] == ITIMER_REAL ? 0 : TICK_US))
			fail("ITIMER_%s value %lld us grew beyond the %lld us it was set to", names[i], left, set);
		/* 1 ms for the timer's rounding to its clock's resolution */
		if (left < set - elapsed - 1000)
			fail("ITIMER_%s value %lld us: it went down by %lld us, more than the %lld us elapsed since it was set",
			     names[i], left, set - left, elapsed);
		if (fired[i])
			fail("ITIMER_%s fired", names[i]);
	}
	pass();
}
