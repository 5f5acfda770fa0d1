/* Many small VMAs: alternating protections split one region into hundreds of VMAs. */
#include "zdtmtst.h"
#include <string.h>
#include <sys/mman.h>

#define NR 512
#define PG 4096

int main(int argc, char **argv)
{
	char *base;
	uint32_t crc = 5;
	int i, cnt, cnt2;

	test_init(argc, argv);
	base = mmap(NULL, NR * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	datagen(base, NR * PG, &crc);
	for (i = 0; i < NR; i += 2)
		if (mprotect(base + i * PG, PG, PROT_READ))
			fail("mprotect: %m");
	cnt = vma_count((unsigned long)base, (unsigned long)base + NR * PG);
	if (cnt != NR)
		fail("%d VMAs instead of %d", cnt, NR);
	test_daemon();
	if (test_break()) {
		mprotect(base + 10 * PG, PG, PROT_READ | PROT_WRITE);	/* merges three VMAs */
		test_msg("break: merged VMAs 9..11");
	}
	test_waitsig();

	cnt2 = vma_count((unsigned long)base, (unsigned long)base + NR * PG);
	if (cnt2 != cnt)
		fail("%d VMAs in the region, expected %d", cnt2, cnt);
	for (i = 0; i < NR; i++) {
		char perms[5];
		if (vma_perms(base + i * PG, perms))
			fail("page %d is not mapped", i);
		if (strcmp(perms, i % 2 ? "rw-p" : "r--p"))
			fail("page %d has perms %s", i, perms);
	}
	if (datachk(base, NR * PG, &crc))
		fail("the content changed");
	pass();
}
