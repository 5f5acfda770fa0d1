/* madvise flags visible in VmFlags: dontfork (dc), dontdump (dd), sequential (sr), random (rr). */
#include "zdtmtst.h"
#include <string.h>
#include <sys/mman.h>

#define PG 4096

int main(int argc, char **argv)
{
	struct { int adv; const char *flag; char *a; char vmflags[256]; uint32_t crc; } r[] = {
		{ MADV_DONTFORK, "dc" }, { MADV_DONTDUMP, "dd" }, { MADV_SEQUENTIAL, "sr" }, { MADV_RANDOM, "rr" },
		{ MADV_NOHUGEPAGE, "nh" },
	};
	int n = sizeof(r) / sizeof(r[0]), i;
	char *base, flags[256];

	test_init(argc, argv);
	base = mmap(NULL, 2 * n * 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	for (i = 0; i < n; i++) {
		r[i].a = base + 2 * i * 4 * PG;
		munmap(r[i].a + 4 * PG, 4 * PG);	/* a hole after each */
		r[i].crc = i;
		datagen(r[i].a, 4 * PG, &r[i].crc);
		if (madvise(r[i].a, 4 * PG, r[i].adv))
			fail("madvise(%s): %m", r[i].flag);
		if (vma_flags(r[i].a, r[i].vmflags, sizeof(r[i].vmflags)))
			fail("no VmFlags");
		if (!strstr(r[i].vmflags, r[i].flag))
			fail("madvise did not set %s: %s", r[i].flag, r[i].vmflags);
	}
	test_daemon();
	if (test_break()) {
		madvise(r[0].a, 4 * PG, MADV_DOFORK);
		test_msg("break: MADV_DOFORK on the dontfork region");
	}
	test_waitsig();

	for (i = 0; i < n; i++) {
		if (vma_flags(r[i].a, flags, sizeof(flags)))
			fail("region %d is gone", i);
		if (strcmp(flags, r[i].vmflags))
			fail("region %d (%s): VmFlags '%s', expected '%s'", i, r[i].flag, flags, r[i].vmflags);
		if (datachk(r[i].a, 4 * PG, &r[i].crc))
			fail("region %d changed", i);
	}
	pass();
}
