/* Resource limits (soft and hard), lowered by an unprivileged task. */
#include "zdtmtst.h"
#include <sys/resource.h>

int main(int argc, char **argv)
{
	int res[] = { RLIMIT_NOFILE, RLIMIT_CORE, RLIMIT_STACK, RLIMIT_NPROC, RLIMIT_FSIZE,
		      RLIMIT_MSGQUEUE, RLIMIT_SIGPENDING, RLIMIT_DATA, RLIMIT_CPU, RLIMIT_MEMLOCK };
	int n = sizeof(res) / sizeof(res[0]), i;
	struct rlimit want[16], now;

	test_init(argc, argv);
	for (i = 0; i < n; i++) {
		if (getrlimit(res[i], &now))
			fail("getrlimit: %m");
		/* lower both: soft below hard, unique per resource */
		if (now.rlim_max == RLIM_INFINITY || now.rlim_max > (1ul << 40))
			now.rlim_max = (1ul << 40) + i;
		else if (now.rlim_max > 2048)
			now.rlim_max -= i + 1;
		if (now.rlim_cur > now.rlim_max || now.rlim_cur == RLIM_INFINITY)
			now.rlim_cur = now.rlim_max;
		if (now.rlim_cur > 1024)
			now.rlim_cur = now.rlim_max - 100 - i;
		want[i] = now;
		if (setrlimit(res[i], &want[i]))
			fail("setrlimit(%d): %m", res[i]);
	}
	test_daemon();
	if (test_break()) {
		struct rlimit r = want[0];
		r.rlim_cur -= 1;
		setrlimit(RLIMIT_NOFILE, &r);
		test_msg("break: lowered RLIMIT_NOFILE's soft limit");
	}
	test_waitsig();

	for (i = 0; i < n; i++) {
		if (getrlimit(res[i], &now))
			fail("getrlimit: %m");
		if (now.rlim_cur != want[i].rlim_cur || now.rlim_max != want[i].rlim_max)
			fail("rlimit %d is %lu/%lu, expected %lu/%lu", res[i], (unsigned long)now.rlim_cur,
			     (unsigned long)now.rlim_max, (unsigned long)want[i].rlim_cur, (unsigned long)want[i].rlim_max);
	}
	pass();
}
