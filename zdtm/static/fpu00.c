/* x87 registers: eight values on the x87 stack and a custom control word, held in
 * registers across a sleep in futex(2) (the whole wait is one asm block). */
#include "zdtmtst.h"
#include <string.h>

int main(int argc, char **argv)
{
	double in[8] = { 1.5, -2.25, 3.0e100, -4.125e-50, 0.1, 1.0 / 3, 6.0e5, -7.75 };
	double out[8];
	uint16_t cw_in = 0x0f7f;	/* round toward zero, 64-bit precision, all masked */
	uint16_t cw_out = 0, sw = 0;
	volatile int *flag;
	long brk;
	int i;

	test_init(argc, argv);
	flag = test_sig_flag();
	brk = test_break();
	test_daemon();
	if (brk)
		test_msg("break: st(0) will be negated after loading");

	asm volatile(
		"fninit\n"
		"fldcw %[cw]\n"
		"fldl 0(%[in])\n fldl 8(%[in])\n fldl 16(%[in])\n fldl 24(%[in])\n"
		"fldl 32(%[in])\n fldl 40(%[in])\n fldl 48(%[in])\n fldl 56(%[in])\n"
		"test %[brk], %[brk]\n"
		"jz 1f\n"
		"fchs\n"
		"1:\n"
		"movl (%[flag]), %%eax\n"
		"testl %%eax, %%eax\n"
		"jnz 2f\n"
		"movl $202, %%eax\n"	/* futex(flag, FUTEX_WAIT, 0, NULL) */
		"movq %[flag], %%rdi\n"
		"xorl %%esi, %%esi\n"
		"xorl %%edx, %%edx\n"
		"xorl %%r10d, %%r10d\n"
		"syscall\n"
		"jmp 1b\n"
		"2:\n"
		"fnstcw %[cwo]\n"
		"fnstsw %[sw]\n"
		"fstpl 0(%[out])\n fstpl 8(%[out])\n fstpl 16(%[out])\n fstpl 24(%[out])\n"
		"fstpl 32(%[out])\n fstpl 40(%[out])\n fstpl 48(%[out])\n fstpl 56(%[out])\n"
		"fldcw %[cwdef]\n"
		: [cwo] "=m"(cw_out), [sw] "=m"(sw)
		: [in] "r"(in), [out] "r"(out), [flag] "r"(flag), [brk] "r"(brk), [cw] "m"(cw_in),
		  [cwdef] "m"((uint16_t){ 0x037f })
		: "rax", "rdi", "rsi", "rdx", "r10", "rcx", "r11", "memory", "cc",
		  "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");

	if (cw_out != cw_in)
		fail("x87 control word is %#x, expected %#x", cw_out, cw_in);
	if (((sw >> 11) & 7) != 0)
		fail("x87 stack top is %d with 8 values loaded", (sw >> 11) & 7);
	for (i = 0; i < 8; i++)
		if (memcmp(&out[i], &in[7 - i], sizeof(double)))
			fail("st(%d) is %g, expected %g", i, out[i], in[7 - i]);
	pass();
}
