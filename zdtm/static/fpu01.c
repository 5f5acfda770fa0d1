/* SSE xmm0-15 and, when the CPU has AVX, the full ymm0-15, plus MXCSR, held in
 * registers across a sleep in futex(2). */
#include "fpu_vec.h"

int main(int argc, char **argv)
{
	int avx = cpu_has_avx();
	if (!avx)
		test_msg("the CPU has no AVX: checking SSE only");
	vec_test(argc, argv, avx ? V_AVX : V_SSE);
	return 0;
}
