/* Clocks that keep going. The test lives in a time namespace whose clocks run 10^5 s ahead of
 * the host's, as a program does on a host with a longer uptime. It sleeps from one absolute
 * CLOCK_MONOTONIC deadline to the next, and checks that neither CLOCK_MONOTONIC nor
 * CLOCK_BOOTTIME ever reads less than before and that no sleep ends before its deadline.
 *
 * Restored into the host's clocks, the sleep it was in would last 10^5 s (the harness times
 * out) and the clocks would go back 10^5 s; restored into a time namespace that continues the
 * saved clocks, it wakes on time. A SIGTERM ends the loop only at the next deadline, so the
 * verdict itself proves the restored sleep ended. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AHEAD_S 100000LL
#define PERIOD_NS 100000000LL /* 0.1 s */
#define NS 1000000000LL

static int64_t now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

/* The offsets of this task's time namespace, from /proc/self/timens_offsets. */
static int offsets(long long *mono, long long *boot)
{
	char buf[256], name[32];
	long long s;
	long ns;
	FILE *f = fopen("/proc/self/timens_offsets", "r");
	if (!f)
		return -1;
	*mono = *boot = -1;
	while (fgets(buf, sizeof buf, f))
		if (sscanf(buf, "%31s %lld %ld", name, &s, &ns) == 3) {
			if (!strcmp(name, "monotonic"))
				*mono = s;
			else if (!strcmp(name, "boottime"))
				*boot = s;
		}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	int unshare_errno = 0, write_errno = 0;
	long long om, ob;

	/* before test_init forks: the test itself is born inside */
	if (unshare(CLONE_NEWTIME))
		unshare_errno = errno;
	else {
		char line[128];
		int fd = open("/proc/self/timens_offsets", O_WRONLY);
		int n = snprintf(line, sizeof line, "monotonic %lld 0\nboottime %lld 0\n", AHEAD_S, AHEAD_S);
		if (fd < 0 || write(fd, line, n) != n)
			write_errno = errno;
		if (fd >= 0)
			close(fd);
	}
	test_init(argc, argv);
	fail_if(unshare_errno, "unshare(CLONE_NEWTIME): %s", strerror(unshare_errno));
	fail_if(write_errno, "writing /proc/self/timens_offsets: %s", strerror(write_errno));
	fail_if(offsets(&om, &ob) || om != AHEAD_S || ob != AHEAD_S, "not in the time namespace made for the test (offsets %lld %lld)", om, ob);

	int64_t last_m = now(CLOCK_MONOTONIC), last_b = now(CLOCK_BOOTTIME);
	fail_if(last_m < AHEAD_S * NS || last_b < AHEAD_S * NS, "clocks read %lld and %lld ns: not %lld s ahead", (long long)last_m, (long long)last_b, AHEAD_S);
	int64_t deadline = last_m;
	long wakes = 0;
	if (test_break())
		last_m += AHEAD_S * NS; /* as if the clock had been read 10^5 s further on */
	test_daemon();

	for (;;) {
		struct timespec ts;
		int r;
		deadline += PERIOD_NS;
		ts.tv_sec = deadline / NS;
		ts.tv_nsec = deadline % NS;
		/* to the deadline, through signals: a SIGTERM counts only once the deadline passed */
		while ((r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR)
			;
		fail_if(r, "clock_nanosleep: %s", strerror(r));
		int64_t m = now(CLOCK_MONOTONIC), b = now(CLOCK_BOOTTIME);
		fail_if(m < last_m, "CLOCK_MONOTONIC went back from %lld to %lld ns after %ld wake-ups", (long long)last_m, (long long)m, wakes);
		fail_if(b < last_b, "CLOCK_BOOTTIME went back from %lld to %lld ns after %ld wake-ups", (long long)last_b, (long long)b, wakes);
		fail_if(m < deadline, "woke at %lld ns, before the deadline %lld ns", (long long)m, (long long)deadline);
		last_m = m;
		last_b = b;
		wakes++;
		/* a deadline far behind (a long freeze) is not slept for in a burst */
		if (m - deadline > PERIOD_NS)
			deadline = m;
		if (!test_go())
			break;
	}
	fail_if(offsets(&om, &ob), "cannot read /proc/self/timens_offsets: %m");
	test_msg("%ld wake-ups; clocks now %lld and %lld ns; offsets to the host %lld and %lld s",
		 wakes, (long long)last_m, (long long)last_b, om, ob);
	pass();
}
