/* Interval timers: ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF keep their intervals and values. */
#include "zdtmtst.h"
#include <signal.h>
#include <sys/time.h>

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
	int i;

	test_init(argc, argv);
	signal(SIGALRM, h);
	signal(SIGVTALRM, h);
	signal(SIGPROF, h);
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
		if (now.it_interval.tv_sec != v[i].it_interval.tv_sec || now.it_interval.tv_usec != v[i].it_interval.tv_usec)
			fail("ITIMER_%s interval is %ld.%06ld, expected %ld.%06ld", names[i],
			     now.it_interval.tv_sec, now.it_interval.tv_usec, v[i].it_interval.tv_sec, v[i].it_interval.tv_usec);
		if (now.it_value.tv_sec == 0 && now.it_value.tv_usec == 0)
			fail("ITIMER_%s is disarmed", names[i]);
		if (now.it_value.tv_sec > v[i].it_value.tv_sec)
			fail("ITIMER_%s value %ld grew beyond %ld", names[i], now.it_value.tv_sec, v[i].it_value.tv_sec);
		/* the CPU timers barely moved; the real one by the test's lifetime only */
		if (now.it_value.tv_sec < v[i].it_value.tv_sec - (i == 0 ? 600 : 60))
			fail("ITIMER_%s value %ld is far below %ld", names[i], now.it_value.tv_sec, v[i].it_value.tv_sec);
		if (fired[i])
			fail("ITIMER_%s fired", names[i]);
	}
	pass();
}
