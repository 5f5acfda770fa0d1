/* eventfd: counters, flags, semaphore mode. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static long long fdinfo_count(int fd)
{
	char path[64], buf[1024], *p;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "eventfd-count:")))
		return -1;
	return strtoll(p + 14, NULL, 16);
}

int main(int argc, char **argv)
{
	int a, b;
	uint64_t v;

	test_init(argc, argv);
	a = eventfd(42, EFD_NONBLOCK);
	b = eventfd(3, EFD_SEMAPHORE | EFD_CLOEXEC);
	if (a < 0 || b < 0)
		fail("eventfd: %m");
	v = 1000;
	if (write(a, &v, 8) != 8)
		fail("write: %m");
	test_daemon();
	if (test_break()) {
		v = 1;
		write(a, &v, 8);
		test_msg("break: added 1 to the counter");
	}
	test_waitsig();

	if (fdinfo_count(a) != 1042)
		fail("fdinfo eventfd-count is %lld, expected 1042", fdinfo_count(a));
	if (!(fcntl(a, F_GETFL) & O_NONBLOCK) || !(fcntl(b, F_GETFD) & FD_CLOEXEC))
		fail("flags changed");
	if (read(a, &v, 8) != 8 || v != 1042)
		fail("read %llu, expected 1042", (unsigned long long)v);
	if (read(a, &v, 8) != -1)
		fail("the counter is not empty after the read");
	for (int i = 0; i < 3; i++)
		if (read(b, &v, 8) != 8 || v != 1)
			fail("semaphore read %d returned %llu", i, (unsigned long long)v);
	fcntl(b, F_SETFL, O_NONBLOCK);
	if (read(b, &v, 8) != -1)
		fail("the semaphore counter is not empty after three reads");
	pass();
}
