/* A MAP_GROWSDOWN mapping (a stack-like VMA that grows down). */
#include "zdtmtst.h"
#include <string.h>
#include <sys/mman.h>

#define SZ (64 * 4096)

int main(int argc, char **argv)
{
	char *guard, *stk, line[512], line2[512], flags[256];
	uint32_t crc = 11;

	test_init(argc, argv);
	/* leave room below so it can grow */
	guard = mmap(NULL, 4 * SZ, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard == MAP_FAILED)
		fail("mmap: %m");
	munmap(guard, 4 * SZ);
	stk = mmap(guard + 3 * SZ, SZ, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_FIXED_NOREPLACE, -1, 0);
	if (stk == MAP_FAILED)
		fail("mmap(MAP_GROWSDOWN): %m");
	datagen(stk, SZ, &crc);
	if (vma_flags(stk, flags, sizeof(flags)) || !strstr(flags, "gd"))
		fail("no 'gd' in VmFlags: %s", flags);
	vma_line(stk, line, sizeof(line));
	test_daemon();
	if (test_break()) {
		stk[SZ - 1] ^= 0x80;
		test_msg("break: flipped a byte of the growsdown mapping");
	}
	test_waitsig();

	if (vma_flags(stk, flags, sizeof(flags)) || !strstr(flags, "gd"))
		fail("the mapping lost MAP_GROWSDOWN: VmFlags %s", flags);
	vma_line(stk, line2, sizeof(line2));
	if (strcmp(line, line2))
		fail("the mapping changed: '%s' -> '%s'", line, line2);
	if (datachk(stk, SZ, &crc))
		fail("the content of the growsdown mapping changed");
	/* it still grows: touch the page below */
	{
		volatile char *below = stk - 4096;
		*below = 1;
		unsigned long s, e;
		if (vma_bounds(stk, &s, &e) || s > (unsigned long)below)
			fail("the mapping did not grow down");
	}
	pass();
}
