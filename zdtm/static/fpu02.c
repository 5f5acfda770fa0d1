/* AVX-512: zmm0-31 and k0-7 held across a sleep in futex(2).  Without AVX-512 the
 * test checks what the CPU has (ymm or xmm) and says so in its log. */
#include "fpu_vec.h"

int main(int argc, char **argv)
{
	int level = cpu_has_avx512() ? V_AVX512 : cpu_has_avx() ? V_AVX : V_SSE;
	if (level != V_AVX512)
		test_msg("the CPU (or the kernel) has no AVX-512: checking %s registers instead",
			 level == V_AVX ? "AVX" : "SSE");
	vec_test(argc, argv, level);
	return 0;
}
