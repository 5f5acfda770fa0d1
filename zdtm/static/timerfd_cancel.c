/* timerfd: absolute CLOCK_REALTIME timers with and without TFD_TIMER_CANCEL_ON_SET, a relative
 * periodic CLOCK_MONOTONIC one: settime flags (as fdinfo shows them), clock and time left. The
 * restore comes 3 s after the dump (its .desc): an absolute timer still ends when it was set to. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif

/* "settime flags:" (octal) of a timerfd's fdinfo, -1 if none */
static int settime_flags(int fd)
{
	char path[64], buf[1024], *p;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "settime flags:")))
		return -1;
	return strtol(p + 14, NULL, 8);
}

static int clockid_of(int fd)
{
	char path[64], buf[1024], *p;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "clockid:")))
		return -1;
	return atoi(p + 8);
}

#define DAY 86400

int main(int argc, char **argv)
{
	int cancel, abs, rel;
	struct itimerspec its, cur;
	struct timespec now;

	test_init(argc, argv);
	cancel = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	abs = timerfd_create(CLOCK_REALTIME, 0);
	rel = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (cancel < 0 || abs < 0 || rel < 0)
		fail("timerfd_create: %m");
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = now.tv_sec + DAY;
	if (timerfd_settime(cancel, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL))
		fail("timerfd_settime(CANCEL_ON_SET): %m");
	if (timerfd_settime(abs, TFD_TIMER_ABSTIME, &its, NULL))
		fail("timerfd_settime(ABSTIME): %m");
	its.it_value.tv_sec = DAY;
	its.it_interval.tv_sec = 3600;
	if (timerfd_settime(rel, 0, &its, NULL))
		fail("timerfd_settime: %m");
	if (settime_flags(cancel) != (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
		fail("fdinfo shows settime flags %o", settime_flags(cancel));
	test_daemon();
	if (test_break()) {
		its.it_interval.tv_sec = 0;
		its.it_value.tv_sec = now.tv_sec + DAY;
		timerfd_settime(cancel, TFD_TIMER_ABSTIME, &its, NULL);
		test_msg("break: the timer is set again without TFD_TIMER_CANCEL_ON_SET");
	}
	test_waitsig();

	if (settime_flags(cancel) != (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET))
		fail("the cancel-on-set timer has settime flags %o", settime_flags(cancel));
	if (settime_flags(abs) != TFD_TIMER_ABSTIME || settime_flags(rel) != 0)
		fail("settime flags %o and %o, expected 1 and 0", settime_flags(abs), settime_flags(rel));
	if (clockid_of(cancel) != CLOCK_REALTIME || clockid_of(rel) != CLOCK_MONOTONIC)
		fail("clocks %d and %d", clockid_of(cancel), clockid_of(rel));
	if (!(fcntl(cancel, F_GETFL) & O_NONBLOCK) || !(fcntl(rel, F_GETFD) & FD_CLOEXEC))
		fail("fd flags changed");
	/* an absolute timer still expires at the same wall-clock second */
	clock_gettime(CLOCK_REALTIME, &cur.it_value);
	for (int i = 0; i < 2; i++) {
		int fd = i ? abs : cancel;
		struct itimerspec left;
		struct timespec t;
		if (timerfd_gettime(fd, &left))
			fail("timerfd_gettime: %m");
		clock_gettime(CLOCK_REALTIME, &t);
		long long end = (long long)t.tv_sec + left.it_value.tv_sec + (t.tv_nsec + left.it_value.tv_nsec >= 1000000000 ? 1 : 0);
		if (end < now.tv_sec + DAY - 1 || end > now.tv_sec + DAY + 1)
			fail("timer %d now expires at %lld, set for %lld", i, end, (long long)now.tv_sec + DAY);
	}
	if (timerfd_gettime(rel, &cur))
		fail("timerfd_gettime: %m");
	if (cur.it_interval.tv_sec != 3600 || cur.it_value.tv_sec > DAY || cur.it_value.tv_sec < DAY - 600)
		fail("relative timer: %lld s left, interval %lld", (long long)cur.it_value.tv_sec, (long long)cur.it_interval.tv_sec);
	pass();
}
