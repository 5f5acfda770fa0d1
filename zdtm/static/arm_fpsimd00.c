/* aarch64 FPSIMD state: v0-v31 loaded with distinct patterns and FPCR set to round toward
 * zero with flush-to-zero, held in registers across a sleep in futex(2) (the whole wait is one
 * asm block; the kernel keeps the V registers across a syscall). */
#include "zdtmtst.h"
#include <string.h>

int main(int argc, char **argv)
{
	uint64_t in[64], out[64];
	uint64_t fpcr_in = (3ULL << 22) | (1ULL << 24);	/* RMode = RZ, FZ */
	uint64_t fpcr_out = 0;
	volatile int *flag;
	long brk;
	int i;

	test_init(argc, argv);
	for (i = 0; i < 64; i++)
		in[i] = 0x0123456789abcdefULL * (i + 1) ^ ((uint64_t)i << 56);
	flag = test_sig_flag();
	brk = test_break();
	test_daemon();
	if (brk)
		test_msg("break: v7 will be cleared after loading");

	asm volatile(
		"mrs x9, fpcr\n"
		"msr fpcr, %[fpcr]\n"
		"ld1 {v0.2d-v3.2d}, [%[in]], #64\n ld1 {v4.2d-v7.2d}, [%[in]], #64\n"
		"ld1 {v8.2d-v11.2d}, [%[in]], #64\n ld1 {v12.2d-v15.2d}, [%[in]], #64\n"
		"ld1 {v16.2d-v19.2d}, [%[in]], #64\n ld1 {v20.2d-v23.2d}, [%[in]], #64\n"
		"ld1 {v24.2d-v27.2d}, [%[in]], #64\n ld1 {v28.2d-v31.2d}, [%[in]], #64\n"
		"cbz %[brk], 1f\n"
		"movi v7.2d, #0\n"
		"1:\n"
		"ldr w0, [%[flag]]\n"
		"cbnz w0, 2f\n"
		"mov x8, #98\n"	/* futex(flag, FUTEX_WAIT, 0, NULL) */
		"mov x0, %[flag]\n"
		"mov x1, #0\n mov x2, #0\n mov x3, #0\n"
		"svc #0\n"
		"b 1b\n"
		"2:\n"
		"mrs %[fpcro], fpcr\n"
		"st1 {v0.2d-v3.2d}, [%[out]], #64\n st1 {v4.2d-v7.2d}, [%[out]], #64\n"
		"st1 {v8.2d-v11.2d}, [%[out]], #64\n st1 {v12.2d-v15.2d}, [%[out]], #64\n"
		"st1 {v16.2d-v19.2d}, [%[out]], #64\n st1 {v20.2d-v23.2d}, [%[out]], #64\n"
		"st1 {v24.2d-v27.2d}, [%[out]], #64\n st1 {v28.2d-v31.2d}, [%[out]], #64\n"
		"msr fpcr, x9\n"
		: [fpcro] "=&r"(fpcr_out), [in] "+r"((uint64_t *){ in }), [out] "+r"((uint64_t *){ out })
		: [flag] "r"(flag), [brk] "r"(brk), [fpcr] "r"(fpcr_in)
		: "x0", "x1", "x2", "x3", "x8", "x9", "memory", "cc",
		  "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
		  "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");

	if ((fpcr_out & fpcr_in) != fpcr_in)
		fail("FPCR is %#llx, expected the bits %#llx", (unsigned long long)fpcr_out, (unsigned long long)fpcr_in);
	for (i = 0; i < 64; i++)
		if (out[i] != in[i])
			fail("v%d word %d is %#llx, expected %#llx", i / 2, i % 2, (unsigned long long)out[i], (unsigned long long)in[i]);
	pass();
}
