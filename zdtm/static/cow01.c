/* Copy-on-write sharing survives: 16 MiB of data written by the parent before it forks stay
 * shared between parent and child (the child's smaps counts them as Shared_Dirty), apart from
 * the one page each side wrote after the fork; and each side still sees its own data. */
#include "zdtmtst.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (16 << 20)

/* kB of the VMA at addr counted under `key` in /proc/self/smaps */
static long smaps_kb(void *addr, const char *key)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0;
	long kb = -1;
	snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
	while (f && fgets(line, sizeof line, f)) {
		if (strchr(line, '-') && strchr(line, ':') && line[0] != ' ' && strstr(line, " rw"))
			in = !strncmp(line, want, strlen(want));
		if (in && !strncmp(line, key, strlen(key))) {
			kb = atol(line + strlen(key) + 1);
			break;
		}
	}
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	uint32_t crc = 7;
	char *p;
	pid_t kid;
	int st, pfd[2];

	test_init(argc, argv);
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		fail("mmap: %m");
	datagen(p, SZ, &crc);
	if (pipe(pfd))
		fail("pipe: %m");
	kid = fork();
	if (kid == 0) {
		char c;
		long shared;
		p[0] ^= 1; /* one page of its own */
		close(pfd[1]);
		if (read(pfd[0], &c, 1) != 1)
			_exit(2);
		shared = smaps_kb(p, "Shared_Dirty");
		p[0] ^= 1;
		if (datachk(p, SZ, &crc))
			_exit(3);
		/* all but the first page must still be shared with the parent */
		_exit(shared >= (SZ >> 10) - 4 * 4 ? 0 : 4);
	}
	close(pfd[0]);
	p[SZ - 1] ^= 1; /* the parent's own page */
	test_daemon();
	if (test_break()) {
		p[SZ / 2] ^= 1;
		test_msg("break: a byte in the middle of the parent's data flipped");
	}
	test_waitsig();
	if (write(pfd[1], "x", 1) != 1)
		fail("write: %m");
	if (waitpid(kid, &st, 0) != kid)
		fail("waitpid: %m");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the child says %s", WIFEXITED(st) && WEXITSTATUS(st) == 4 ? "its memory is no longer shared with the parent" : "its data changed");
	p[SZ - 1] ^= 1;
	if (datachk(p, SZ, &crc))
		fail("the parent's data changed");
	pass();
}
