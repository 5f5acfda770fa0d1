/* Guard regions (madvise MADV_GUARD_INSTALL, 6.13+) survive: a private anonymous mapping with
 * two runs of guard pages and data around them, and a forked child that shares the mapping but
 * moved one of its guards (removed one run, installed another). Each side checks which pages
 * are guards (bit 58 of its own /proc/self/pagemap, PM_GUARD_REGION), that a guard page
 * faults, and that its data is intact. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif
#define PG 4096
#define NP 16
#define PM_GUARD_REGION (1ULL << 58)

static char *area;
static uint32_t crc[NP];
static sigjmp_buf jb;

static void on_segv(int sig)
{
	siglongjmp(jb, 1);
}

/* guards[i]: page i must be a guard page; zero[i]: its data was dropped (reads as zeroes) */
static const char *check(const char *guards, const char *zero)
{
	static char why[128];
	int fd = open("/proc/self/pagemap", O_RDONLY), i;
	uint64_t e;
	struct sigaction sa = { .sa_handler = on_segv }, old;
	char z[PG];

	if (fd < 0)
		return "cannot open /proc/self/pagemap";
	memset(z, 0, PG);
	sigaction(SIGSEGV, &sa, &old);
	for (i = 0; i < NP; i++) {
		char *pg = area + i * PG;
		volatile char c;
		if (pread(fd, &e, 8, ((unsigned long)pg / PG) * 8) != 8) {
			snprintf(why, sizeof why, "pagemap of page %d unreadable", i);
			goto out;
		}
		if (!!(e & PM_GUARD_REGION) != (guards[i] == 'g')) {
			snprintf(why, sizeof why, "page %d is %sa guard page", i, guards[i] == 'g' ? "not " : "");
			goto out;
		}
		if (guards[i] == 'g') {
			if (!sigsetjmp(jb, 1)) {
				c = *pg;
				(void)c;
				snprintf(why, sizeof why, "guard page %d did not fault", i);
				goto out;
			}
			continue;
		}
		if (zero[i] == 'z' ? memcmp(pg, z, PG) != 0 : datachk(pg, PG, &crc[i]) != 0) {
			snprintf(why, sizeof why, "page %d: %s", i, zero[i] == 'z' ? "not zero" : "data changed");
			goto out;
		}
	}
	close(fd);
	sigaction(SIGSEGV, &old, NULL);
	return NULL;
out:
	close(fd);
	sigaction(SIGSEGV, &old, NULL);
	return why;
}

int main(int argc, char **argv)
{
	/* parent: guards on pages 2-3 and 10; child: 2-3 and 12 (10 removed: it reads as zeroes) */
	static const char pg_guard[NP + 1] = "..gg......g.....", kid_guard[NP + 1] = "..gg........g...";
	static const char pg_zero[NP + 1] = "................", kid_zero[NP + 1] = "..........z.....";
	const char *why;
	int i, st, pfd[2];
	pid_t kid;

	test_init(argc, argv);
	area = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		fail("mmap: %m");
	for (i = 0; i < NP; i++) {
		crc[i] = i + 1;
		datagen(area + i * PG, PG, &crc[i]);
	}
	if (madvise(area + 2 * PG, 2 * PG, MADV_GUARD_INSTALL) || madvise(area + 10 * PG, PG, MADV_GUARD_INSTALL))
		fail("madvise(MADV_GUARD_INSTALL): %m");
	if ((why = check(pg_guard, pg_zero)))
		fail("before the dump: %s", why);
	if (pipe(pfd))
		fail("pipe: %m");
	kid = fork();
	if (kid < 0)
		fail("fork: %m");
	if (kid == 0) {
		char c;
		close(pfd[1]);
		if (madvise(area + 10 * PG, PG, MADV_GUARD_REMOVE) || madvise(area + 12 * PG, PG, MADV_GUARD_INSTALL))
			_exit(2);
		if (check(kid_guard, kid_zero))
			_exit(3);
		if (read(pfd[0], &c, 1) != 1)
			_exit(4);
		why = check(kid_guard, kid_zero);
		if (why)
			test_msg("child: %s", why);
		_exit(why ? 5 : 0);
	}
	close(pfd[0]);
	test_daemon();
	if (test_break()) {
		madvise(area + 2 * PG, PG, MADV_GUARD_REMOVE);
		test_msg("break: the guard of page 2 removed");
	}
	test_waitsig();
	if (write(pfd[1], "x", 1) != 1)
		fail("write: %m");
	why = check(pg_guard, pg_zero);
	if (waitpid(kid, &st, 0) != kid)
		fail("waitpid: %m");
	if (why)
		fail("%s", why);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the child's guard pages or data are wrong (status %x)", st);
	pass();
}
