/* POSIX timers on several clocks: ids, signals, values and intervals survive;
 * a periodic one keeps firing with its sigev_value. */
#include "zdtmtst.h"
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NT 4
static volatile int ticks, bad_value;

static void h(int s, siginfo_t *si, void *u)
{
	(void)s; (void)u;
	if (si->si_value.sival_int != 4242)
		bad_value = si->si_value.sival_int;
	ticks++;
}

int main(int argc, char **argv)
{
	clockid_t clocks[NT] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC };
	struct itimerspec specs[NT] = {
		{ { 500, 0 }, { 1000, 0 } }, { { 600, 0 }, { 1100, 0 } }, { { 0, 0 }, { 1200, 0 } },
		{ { 0, 20000000 }, { 0, 20000000 } },	/* every 20 ms */
	};
	timer_t ids[NT];
	struct itimerspec now;
	struct sigaction sa = { .sa_sigaction = h, .sa_flags = SA_SIGINFO | SA_RESTART };
	int i, t0;

	test_init(argc, argv);
	sigaction(SIGRTMIN + 1, &sa, NULL);
	for (i = 0; i < NT; i++) {
		struct sigevent ev = { .sigev_notify = SIGEV_SIGNAL };
		ev.sigev_signo = i == 3 ? SIGRTMIN + 1 : SIGRTMIN + 3;
		ev.sigev_value.sival_int = i == 3 ? 4242 : i;
		if (timer_create(clocks[i], &ev, &ids[i]))
			fail("timer_create: %m");
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
		if (i < 3 && (now.it_value.tv_sec > specs[i].it_value.tv_sec ||
			      now.it_value.tv_sec < specs[i].it_value.tv_sec - 600))
			fail("timer %d: value %ld s, expected a bit below %ld", i, now.it_value.tv_sec,
			     specs[i].it_value.tv_sec);
	}
	/* the periodic timer keeps firing */
	t0 = ticks;
	for (i = 0; i < 50 && ticks < t0 + 5; i++)
		usleep(20000);
	if (ticks < t0 + 5)
		fail("the periodic timer fired %d times in 1 s", ticks - t0);
	if (bad_value)
		fail("the periodic timer carried sigev_value %d", bad_value);
	pass();
}
