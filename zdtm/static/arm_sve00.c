/* aarch64 SVE: a vector length set by prctl(PR_SVE_SET_VL) other than exec's, and z0-z31 and
 * p0-p15 live in registers while the task spins in user code (no syscall, which would drop
 * them) until SIGTERM: the dump stops it with its SVE state live. After the restore the vector
 * length and every Z and P register must be as loaded. */
#include "zdtmtst.h"
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

#ifndef HWCAP_SVE
#define HWCAP_SVE (1UL << 22)
#endif
#ifndef PR_SVE_SET_VL
#define PR_SVE_SET_VL 50
#define PR_SVE_GET_VL 51
#endif
#define VL_MASK 0xffff

#define Z(n) "ldr z" #n ", [%[zin], #" #n ", mul vl]\n"
#define ZS(n) "str z" #n ", [%[zout], #" #n ", mul vl]\n"
#define P(n) "ldr p" #n ", [%[pin], #" #n ", mul vl]\n"
#define PS(n) "str p" #n ", [%[pout], #" #n ", mul vl]\n"
#define PREGS(m) m(0) m(1) m(2) m(3) m(4) m(5) m(6) m(7) m(8) m(9) m(10) m(11) m(12) m(13) m(14) m(15)
#define ZREGS(m) PREGS(m) m(16) m(17) m(18) m(19) m(20) m(21) m(22) m(23) m(24) m(25) m(26) m(27) m(28) m(29) m(30) m(31)

int main(int argc, char **argv)
{
	static uint8_t zin[32 * 256], zout[32 * 256], pin[16 * 32], pout[16 * 32];
	volatile int *flag;
	long brk, vl0, vl;
	size_t i;

	test_init(argc, argv);
	if (!(getauxval(AT_HWCAP) & HWCAP_SVE))
		fail("the CPU has no SVE: the desc's feature arm_sve should have kept it from running");
	/* a length above 16 bytes, where Z has more than the V registers, other than exec's;
	 * else 16 (the kernel gives the largest it has up to the one asked for) */
	vl0 = prctl(PR_SVE_GET_VL) & VL_MASK;
	vl = prctl(PR_SVE_SET_VL, vl0 == 32 ? 64 : 32);
	if (vl >= 0 && (vl & VL_MASK) == vl0)
		vl = prctl(PR_SVE_SET_VL, 16);
	if (vl < 0)
		fail("PR_SVE_SET_VL: %m");
	vl &= VL_MASK;
	if (vl == vl0)
		test_msg("the CPU has only one vector length (%ld bytes): the registers are checked, not a length change", vl);
	for (i = 0; i < sizeof(zin); i++)
		zin[i] = (uint8_t)(i * 13 + 7);
	for (i = 0; i < sizeof(pin); i++)
		pin[i] = (uint8_t)(i * 29 + 3);
	memset(zout, 0, sizeof(zout));
	memset(pout, 0, sizeof(pout));
	flag = test_sig_flag();
	brk = test_break();
	test_daemon();
	if (brk)
		test_msg("break: z7 will be cleared after loading");

	asm volatile(".arch armv8.2-a+sve\n"
		     ZREGS(Z) PREGS(P)
		     "cbz %[brk], 1f\n"
		     "dup z7.b, #0\n"
		     "1:\n"
		     "ldr w9, [%[flag]]\n"
		     "cbz w9, 1b\n"
		     ZREGS(ZS) PREGS(PS)
		     :
		     : [zin] "r"(zin), [zout] "r"(zout), [pin] "r"(pin), [pout] "r"(pout), [flag] "r"(flag), [brk] "r"(brk)
		     : "x9", "memory", "cc", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12",
		       "v13", "v14", "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27",
		       "v28", "v29", "v30", "v31");

	if ((prctl(PR_SVE_GET_VL) & VL_MASK) != vl)
		fail("the SVE vector length is %ld bytes, was set to %ld", (long)(prctl(PR_SVE_GET_VL) & VL_MASK), vl);
	for (i = 0; i < 32 * (size_t)vl; i++)
		if (zout[i] != zin[i])
			fail("z%zu byte %zu is %#x, expected %#x", i / vl, i % vl, zout[i], zin[i]);
	for (i = 0; i < 16 * (size_t)vl / 8; i++)
		if (pout[i] != pin[i])
			fail("p%zu byte %zu is %#x, expected %#x", i / (vl / 8), i % (vl / 8), pout[i], pin[i]);
	pass();
}
