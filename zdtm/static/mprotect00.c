/* Protections: none, r, rw, rx, rwx, and the content of the readable ones. */
#include "zdtmtst.h"
#include <string.h>
#include <sys/mman.h>

#define PG 4096

int main(int argc, char **argv)
{
	struct { int prot; const char *perms; char *a; uint32_t crc; } r[] = {
		{ PROT_NONE, "---p" }, { PROT_READ, "r--p" }, { PROT_READ | PROT_WRITE, "rw-p" },
		{ PROT_READ | PROT_EXEC, "r-xp" }, { PROT_READ | PROT_WRITE | PROT_EXEC, "rwxp" },
		{ PROT_WRITE, "-w-p" },
	};
	int n = sizeof(r) / sizeof(r[0]), i;
	char perms[5];
	char *base;

	test_init(argc, argv);
	/* one region, separated by guard holes so VMAs cannot merge */
	base = mmap(NULL, 2 * n * 4 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	munmap(base, 2 * n * 4 * PG);
	for (i = 0; i < n; i++) {
		r[i].a = mmap(base + 2 * i * 4 * PG, 4 * PG, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (r[i].a == MAP_FAILED)
			fail("mmap: %m");
		r[i].crc = i;
		datagen(r[i].a, 4 * PG, &r[i].crc);
		if (mprotect(r[i].a, 4 * PG, r[i].prot))
			fail("mprotect: %m");
	}
	test_daemon();
	if (test_break()) {
		mprotect(r[1].a, 4 * PG, PROT_READ | PROT_WRITE);
		test_msg("break: made the read-only region writable");
	}
	test_waitsig();

	for (i = 0; i < n; i++) {
		if (vma_perms(r[i].a, perms))
			fail("region %d is not mapped", i);
		if (strcmp(perms, r[i].perms))
			fail("region %d has perms %s, expected %s", i, perms, r[i].perms);
		if (mprotect(r[i].a, 4 * PG, PROT_READ))
			fail("mprotect: %m");
		if (datachk(r[i].a, 4 * PG, &r[i].crc))
			fail("the content of region %d (%s) changed", i, r[i].perms);
	}
	pass();
}
