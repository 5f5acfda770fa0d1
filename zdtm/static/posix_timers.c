/* POSIX timers on several clocks: ids, signals, values and intervals survive;
 * a periodic one keeps firing with its sigev_value. Times are checked against the program's
 * own clock readings, not fixed times: a value can have gone down by at most the time its
 * clock advanced since it was set, and the periodic timer's expirations (signals and their
 * overruns) match the time the program measured while it counted them. */
#include "zdtmtst.h"
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NT 4
#define PERIOD_NS 20000000LL	/* the periodic timer: every 20 ms */
static volatile long long expirations;
static volatile int bad_value;

static void h(int s, siginfo_t *si, void *u)
{
	(void)s; (void)u;
	if (si->si_value.sival_int != 4242)
		bad_value = si->si_value.sival_int;
	expirations += 1 + si->si_overrun;	/* expirations while the signal was pending */
}

static long long clock_ns(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long ts_ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv)
{
	clockid_t clocks[NT] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC };
	struct itimerspec specs[NT] = {
		{ { 500, 0 }, { 1000, 0 } }, { { 600, 0 }, { 1100, 0 } }, { { 0, 0 }, { 1200, 0 } },
		{ { 0, PERIOD_NS }, { 0, PERIOD_NS } },
	};
	timer_t ids[NT];
	long long armed[NT], left, set, advanced, e0, e1, m0, m1, want;
	struct itimerspec now;
	struct sigaction sa = { .sa_sigaction = h, .sa_flags = SA_SIGINFO | SA_RESTART };
	sigset_t tick;
	int i;

	test_init(argc, argv);
	sigaction(SIGRTMIN + 1, &sa, NULL);
	for (i = 0; i < NT; i++) {
		struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL };
		ev.sigev_signo = i == 3 ? SIGRTMIN + 1 : SIGRTMIN + 3;
		ev.sigev_value.sival_int = i == 3 ? 4242 : i;
		if (timer_create(clocks[i], &ev, &ids[i]))
			fail("timer_create: %m");
		armed[i] = clock_ns(clocks[i]);
		if (timer_settime(ids[i], 0, &specs[i], NULL))
			fail("timer_settime: %m");
	}
	test_daemon();
	if (test_break()) {
		timer_delete(ids[1]);
		test_msg("break: deleted timer %ld", (long)(intptr_t)ids[1]);
	}
	test_waitsig();

	for (i = 0; i < NT; i++) {
		if (timer_gettime(ids[i], &now))
			fail("timer %d (id %ld): timer_gettime: %m", i, (long)(intptr_t)ids[i]);
		if (now.it_interval.tv_sec != specs[i].it_interval.tv_sec ||
		    now.it_interval.tv_nsec != specs[i].it_interval.tv_nsec)
			fail("timer %d: interval %ld.%09ld, expected %ld.%09ld", i, now.it_interval.tv_sec,
			     now.it_interval.tv_nsec, specs[i].it_interval.tv_sec, specs[i].it_interval.tv_nsec);
		if (!now.it_value.tv_sec && !now.it_value.tv_nsec)
			fail("timer %d is disarmed", i);
		if (i == 3)
			continue;
		left = ts_ns(now.it_value);
		set = ts_ns(specs[i].it_value);
		advanced = clock_ns(clocks[i]) - armed[i];
		if (left > set)
			fail("timer %d: value %lld ns, more than the %lld ns it was set to", i, left, set);
		if (left < set - advanced)
			fail("timer %d: value %lld ns: it went down by %lld ns, more than its clock advanced since it was set (%lld ns)",
			     i, left, set - left, advanced);
	}
	/* the periodic timer keeps firing: count its expirations for at least 10 periods of our
	 * own clock, and compare with the time that passed (with the tick signal blocked while
	 * the count and the clock are read) */
	sigemptyset(&tick);
	sigaddset(&tick, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &tick, NULL);
	e0 = expirations;
	m0 = clock_ns(CLOCK_MONOTONIC);
	sigprocmask(SIG_UNBLOCK, &tick, NULL);
	do
		usleep(PERIOD_NS / 1000);
	while (clock_ns(CLOCK_MONOTONIC) - m0 < 10 * PERIOD_NS);
	sigprocmask(SIG_BLOCK, &tick, NULL);
	m1 = clock_ns(CLOCK_MONOTONIC);
	e1 = expirations;
	sigprocmask(SIG_UNBLOCK, &tick, NULL);
	want = (m1 - m0) / PERIOD_NS;
	/* one expiration may be pending at each end of the count */
	if (e1 - e0 < want - 1 || e1 - e0 > want + 2)
		fail("the periodic timer expired %lld times in %lld ms, expected %lld (every %lld ms)",
		     e1 - e0, (m1 - m0) / 1000000, want, PERIOD_NS / 1000000);
	if (bad_value)
		fail("the periodic timer carried sigev_value %d", bad_value);
	pass();
}
