/* Holes: a region with unmapped gaps; the gaps must stay unmapped. */
#include "zdtmtst.h"
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#define PG 4096
#define NR 64

static int mapped(char *p)
{
	unsigned char v;
	return mincore(p, PG, &v) == 0 ? 1 : (errno == ENOMEM ? 0 : -1);
}

int main(int argc, char **argv)
{
	char *base;
	uint32_t crc[NR];
	int i;

	test_init(argc, argv);
	base = mmap(NULL, NR * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	for (i = 0; i < NR; i++) {
		if (i % 3 == 1) {
			munmap(base + i * PG, PG);
		} else {
			crc[i] = i;
			datagen(base + i * PG, PG, &crc[i]);
		}
	}
	test_daemon();
	if (test_break()) {
		if (mmap(base + 4 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
			fail("break: mmap: %m");
		test_msg("break: filled the hole at page 4");
	}
	test_waitsig();

	for (i = 0; i < NR; i++) {
		int m = mapped(base + i * PG);
		if (m < 0)
			fail("mincore: %m");
		if (i % 3 == 1) {
			if (m)
				fail("the hole at page %d is mapped", i);
		} else {
			if (!m)
				fail("page %d is not mapped", i);
			if (datachk(base + i * PG, PG, &crc[i]))
				fail("page %d changed", i);
		}
	}
	pass();
}
