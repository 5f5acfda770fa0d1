/* Small CPU-level helpers loaded by the TypeScript tool through koffi (no process is created
 * here): CPUID, which user space can only run natively. */
#include <stdint.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* out[0..3] = eax, ebx, ecx, edx of CPUID(leaf, subleaf); returns 0, or -1 where CPUID is absent */
int criu_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *out)
{
#if defined(__x86_64__)
	__cpuid_count(leaf, subleaf, out[0], out[1], out[2], out[3]);
	return 0;
#else
	out[0] = out[1] = out[2] = out[3] = 0;
	return -1;
#endif
}
