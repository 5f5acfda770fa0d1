/* aarch64 pointer authentication: the keys are the task's (the kernel picks them at exec), so a
 * pointer signed before the dump authenticates after the restore only when the keys came back.
 * Signatures made with the instruction key A (pacia), the data key B (pacdb) and the generic
 * key (pacga, 32 bits: other keys give other signatures but for one chance in 2^32) before and
 * after must be the same, and autia must give back the pointer. */
#include "zdtmtst.h"
#include <sys/auxv.h>

#ifndef HWCAP_PACA
#define HWCAP_PACA (1UL << 30)
#define HWCAP_PACG (1UL << 31)
#endif

struct sigs {
	uint64_t ia, db, ga;
};

static struct sigs sign(uint64_t ptr, uint64_t mod)
{
	struct sigs s;
	uint64_t a = ptr, b = ptr;

	asm volatile(".arch armv8.3-a\n"
		     "pacia %[a], %[m]\n"
		     "pacdb %[b], %[m]\n"
		     "pacga %[g], %[p], %[m]\n"
		     : [a] "+r"(a), [b] "+r"(b), [g] "=r"(s.ga)
		     : [p] "r"(ptr), [m] "r"(mod));
	s.ia = a;
	s.db = b;
	return s;
}

static uint64_t auth_ia(uint64_t signed_ptr, uint64_t mod)
{
	asm volatile(".arch armv8.3-a\n autia %[a], %[m]\n" : [a] "+r"(signed_ptr) : [m] "r"(mod));
	return signed_ptr;
}

int main(int argc, char **argv)
{
	uint64_t ptr = (uint64_t)(uintptr_t)&main, mod = 0x5a5a1234;
	struct sigs before, after;

	test_init(argc, argv);
	if ((getauxval(AT_HWCAP) & (HWCAP_PACA | HWCAP_PACG)) != (HWCAP_PACA | HWCAP_PACG))
		fail("the CPU has no pointer authentication (HWCAP_PACA and HWCAP_PACG): the desc's feature arm_pac should have kept it from running");
	/* the PAC field of a user pointer is 7 bits or so: one modifier in 128 signs it as itself */
	for (;; mod++) {
		before = sign(ptr, mod);
		if (before.ia != ptr && before.db != ptr)
			break;
		if (mod > 0x5a5a1234 + 64)
			fail("pacia and pacdb leave %#llx unsigned", (unsigned long long)ptr);
	}
	test_daemon();
	test_waitsig();

	if (test_break())
		mod ^= 1;	/* another modifier: other signatures */
	after = sign(ptr, mod);
	if (after.ia != before.ia)
		fail("the IA signature of %#llx is %#llx, was %#llx: the instruction key A changed", (unsigned long long)ptr,
		     (unsigned long long)after.ia, (unsigned long long)before.ia);
	if (after.db != before.db)
		fail("the DB signature is %#llx, was %#llx: the data key B changed", (unsigned long long)after.db, (unsigned long long)before.db);
	if (after.ga != before.ga)
		fail("the generic signature is %#llx, was %#llx: the generic key changed", (unsigned long long)after.ga, (unsigned long long)before.ga);
	if (auth_ia(before.ia, mod) != ptr)
		fail("autia of the pointer signed before the dump gives %#llx, not %#llx", (unsigned long long)auth_ia(before.ia, mod),
		     (unsigned long long)ptr);
	pass();
}
