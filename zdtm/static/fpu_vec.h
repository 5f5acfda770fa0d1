/* Vector registers held across a futex sleep inside one asm block (fpu01, fpu02). */
#include "zdtmtst.h"
#include <cpuid.h>
#include <string.h>

#define WAIT_LOOP						\
	"1:\n"							\
	"movl (%[flag]), %%eax\n"				\
	"testl %%eax, %%eax\n"					\
	"jnz 2f\n"						\
	"movl $202, %%eax\n"					\
	"movq %[flag], %%rdi\n"					\
	"xorl %%esi, %%esi\n"					\
	"xorl %%edx, %%edx\n"					\
	"xorl %%r10d, %%r10d\n"					\
	"syscall\n"						\
	"jmp 1b\n"						\
	"2:\n"

#define SYS_CLOBBERS "rax", "rdi", "rsi", "rdx", "r10", "rcx", "r11", "memory", "cc"
#define XMM_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"
#define XMM_HI_CLOBBERS "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
	"xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31"

static uint8_t vin[32 * 64] __attribute__((aligned(64))), vout[32 * 64] __attribute__((aligned(64)));
static uint64_t kin[8], kout[8];

static __attribute__((unused)) int cpu_has_avx(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
		return 0;
	asm volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	return (a & 6) == 6;
}

static __attribute__((unused)) int cpu_has_avx512(void)
{
	unsigned a, b, c, d;
	if (!cpu_has_avx() || !__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & bit_AVX512F))
		return 0;
	asm volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	return (a & 0xe6) == 0xe6;
}

/* xmm0-15 and MXCSR */
static void hold_sse(volatile int *flag, long brk, uint32_t mxcsr_in, uint32_t *mxcsr_out)
{
	uint32_t def = 0x1f80;
	asm volatile(
		"ldmxcsr %[mi]\n"
		"movdqu 0(%[in]), %%xmm0\n movdqu 16(%[in]), %%xmm1\n movdqu 32(%[in]), %%xmm2\n movdqu 48(%[in]), %%xmm3\n"
		"movdqu 64(%[in]), %%xmm4\n movdqu 80(%[in]), %%xmm5\n movdqu 96(%[in]), %%xmm6\n movdqu 112(%[in]), %%xmm7\n"
		"movdqu 128(%[in]), %%xmm8\n movdqu 144(%[in]), %%xmm9\n movdqu 160(%[in]), %%xmm10\n movdqu 176(%[in]), %%xmm11\n"
		"movdqu 192(%[in]), %%xmm12\n movdqu 208(%[in]), %%xmm13\n movdqu 224(%[in]), %%xmm14\n movdqu 240(%[in]), %%xmm15\n"
		"test %[brk], %[brk]\n jz 1f\n pcmpeqb %%xmm5, %%xmm5\n"
		WAIT_LOOP
		"stmxcsr %[mo]\n ldmxcsr %[def]\n"
		"movdqu %%xmm0, 0(%[out])\n movdqu %%xmm1, 16(%[out])\n movdqu %%xmm2, 32(%[out])\n movdqu %%xmm3, 48(%[out])\n"
		"movdqu %%xmm4, 64(%[out])\n movdqu %%xmm5, 80(%[out])\n movdqu %%xmm6, 96(%[out])\n movdqu %%xmm7, 112(%[out])\n"
		"movdqu %%xmm8, 128(%[out])\n movdqu %%xmm9, 144(%[out])\n movdqu %%xmm10, 160(%[out])\n movdqu %%xmm11, 176(%[out])\n"
		"movdqu %%xmm12, 192(%[out])\n movdqu %%xmm13, 208(%[out])\n movdqu %%xmm14, 224(%[out])\n movdqu %%xmm15, 240(%[out])\n"
		: [mo] "=m"(*mxcsr_out)
		: [in] "r"(vin), [out] "r"(vout), [flag] "r"(flag), [brk] "r"(brk), [mi] "m"(mxcsr_in), [def] "m"(def)
		: SYS_CLOBBERS, XMM_CLOBBERS);
}

/* ymm0-15 (the upper halves live in the AVX xsave component) and MXCSR */
__attribute__((target("avx")))
static void hold_avx(volatile int *flag, long brk, uint32_t mxcsr_in, uint32_t *mxcsr_out)
{
	uint32_t def = 0x1f80;
	asm volatile(
		"vldmxcsr %[mi]\n"
		"vmovdqu 0(%[in]), %%ymm0\n vmovdqu 32(%[in]), %%ymm1\n vmovdqu 64(%[in]), %%ymm2\n vmovdqu 96(%[in]), %%ymm3\n"
		"vmovdqu 128(%[in]), %%ymm4\n vmovdqu 160(%[in]), %%ymm5\n vmovdqu 192(%[in]), %%ymm6\n vmovdqu 224(%[in]), %%ymm7\n"
		"vmovdqu 256(%[in]), %%ymm8\n vmovdqu 288(%[in]), %%ymm9\n vmovdqu 320(%[in]), %%ymm10\n vmovdqu 352(%[in]), %%ymm11\n"
		"vmovdqu 384(%[in]), %%ymm12\n vmovdqu 416(%[in]), %%ymm13\n vmovdqu 448(%[in]), %%ymm14\n vmovdqu 480(%[in]), %%ymm15\n"
		/* break: zero the upper half of ymm9 only */
		"test %[brk], %[brk]\n jz 1f\n vmovdqa %%xmm9, %%xmm9\n"
		WAIT_LOOP
		"vstmxcsr %[mo]\n vldmxcsr %[def]\n"
		"vmovdqu %%ymm0, 0(%[out])\n vmovdqu %%ymm1, 32(%[out])\n vmovdqu %%ymm2, 64(%[out])\n vmovdqu %%ymm3, 96(%[out])\n"
		"vmovdqu %%ymm4, 128(%[out])\n vmovdqu %%ymm5, 160(%[out])\n vmovdqu %%ymm6, 192(%[out])\n vmovdqu %%ymm7, 224(%[out])\n"
		"vmovdqu %%ymm8, 256(%[out])\n vmovdqu %%ymm9, 288(%[out])\n vmovdqu %%ymm10, 320(%[out])\n vmovdqu %%ymm11, 352(%[out])\n"
		"vmovdqu %%ymm12, 384(%[out])\n vmovdqu %%ymm13, 416(%[out])\n vmovdqu %%ymm14, 448(%[out])\n vmovdqu %%ymm15, 480(%[out])\n"
		"vzeroupper\n"
		: [mo] "=m"(*mxcsr_out)
		: [in] "r"(vin), [out] "r"(vout), [flag] "r"(flag), [brk] "r"(brk), [mi] "m"(mxcsr_in), [def] "m"(def)
		: SYS_CLOBBERS, XMM_CLOBBERS);
}

#define ZL(n) "vmovdqu64 " #n "*64(%[in]), %%zmm" #n "\n"
#define ZS(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[out])\n"
/* zmm0-31, k0-7 and MXCSR */
__attribute__((target("avx512f")))
static void hold_avx512(volatile int *flag, long brk, uint32_t mxcsr_in, uint32_t *mxcsr_out)
{
	uint32_t def = 0x1f80;
	asm volatile(
		"vldmxcsr %[mi]\n"
		ZL(0) ZL(1) ZL(2) ZL(3) ZL(4) ZL(5) ZL(6) ZL(7) ZL(8) ZL(9) ZL(10) ZL(11) ZL(12) ZL(13) ZL(14) ZL(15)
		ZL(16) ZL(17) ZL(18) ZL(19) ZL(20) ZL(21) ZL(22) ZL(23) ZL(24) ZL(25) ZL(26) ZL(27) ZL(28) ZL(29) ZL(30) ZL(31)
		"kmovw 0(%[kin]), %%k0\n kmovw 8(%[kin]), %%k1\n kmovw 16(%[kin]), %%k2\n kmovw 24(%[kin]), %%k3\n"
		"kmovw 32(%[kin]), %%k4\n kmovw 40(%[kin]), %%k5\n kmovw 48(%[kin]), %%k6\n kmovw 56(%[kin]), %%k7\n"
		/* break: set all bits of zmm20 (a register only AVX-512 has) */
		"test %[brk], %[brk]\n jz 1f\n vpternlogd $0xff, %%zmm20, %%zmm20, %%zmm20\n"
		WAIT_LOOP
		"vstmxcsr %[mo]\n vldmxcsr %[def]\n"
		ZS(0) ZS(1) ZS(2) ZS(3) ZS(4) ZS(5) ZS(6) ZS(7) ZS(8) ZS(9) ZS(10) ZS(11) ZS(12) ZS(13) ZS(14) ZS(15)
		ZS(16) ZS(17) ZS(18) ZS(19) ZS(20) ZS(21) ZS(22) ZS(23) ZS(24) ZS(25) ZS(26) ZS(27) ZS(28) ZS(29) ZS(30) ZS(31)
		"kmovw %%k0, 0(%[kout])\n kmovw %%k1, 8(%[kout])\n kmovw %%k2, 16(%[kout])\n kmovw %%k3, 24(%[kout])\n"
		"kmovw %%k4, 32(%[kout])\n kmovw %%k5, 40(%[kout])\n kmovw %%k6, 48(%[kout])\n kmovw %%k7, 56(%[kout])\n"
		"vzeroupper\n"
		: [mo] "=m"(*mxcsr_out)
		: [in] "r"(vin), [out] "r"(vout), [kin] "r"(kin), [kout] "r"(kout), [flag] "r"(flag), [brk] "r"(brk),
		  [mi] "m"(mxcsr_in), [def] "m"(def)
		: SYS_CLOBBERS, XMM_CLOBBERS, XMM_HI_CLOBBERS, "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

enum { V_SSE, V_AVX, V_AVX512 };

static void vec_test(int argc, char **argv, int level)
{
	uint32_t crc = 0x5eed, mxcsr_in = 0xff80 /* FTZ, round toward zero, all masked */, mxcsr_out = 0;
	const char *names[] = { "SSE xmm0-15", "AVX ymm0-15", "AVX-512 zmm0-31 + k0-7" };
	int regs = level == V_AVX512 ? 32 : 16, width = level == V_SSE ? 16 : level == V_AVX ? 32 : 64;
	volatile int *flag;
	long brk;

	test_init(argc, argv);
	datagen(vin, sizeof(vin), &crc);
	for (int i = 0; i < 8; i++)
		kin[i] = (0x1234u * (i + 1)) & 0xffff;
	test_msg("checking %s and MXCSR", names[level]);
	flag = test_sig_flag();
	brk = test_break();
	test_daemon();
	if (brk)
		test_msg("break: one register will be changed after loading");
	if (level == V_SSE)
		hold_sse(flag, brk, mxcsr_in, &mxcsr_out);
	else if (level == V_AVX)
		hold_avx(flag, brk, mxcsr_in, &mxcsr_out);
	else
		hold_avx512(flag, brk, mxcsr_in, &mxcsr_out);

	if (mxcsr_out != mxcsr_in)
		fail("MXCSR is %#x, expected %#x", mxcsr_out, mxcsr_in);
	for (int r = 0; r < regs; r++)
		for (int b = 0; b < width; b++)
			if (vin[r * width + b] != vout[r * width + b])
				fail("%s: register %d byte %d is %#x, expected %#x", names[level], r, b,
				     vout[r * width + b], vin[r * width + b]);
	if (level == V_AVX512)
		for (int i = 0; i < 8; i++)
			if (kout[i] != kin[i])
				fail("k%d is %#llx, expected %#llx", i, (unsigned long long)kout[i],
				     (unsigned long long)kin[i]);
	pass();
}
