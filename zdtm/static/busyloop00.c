/* A task computing in a loop: its registers must survive (the loop state is checked arithmetically). */
#include "zdtmtst.h"
#include <stdint.h>

#define M 6364136223846793005ull
#define C 1442695040888963407ull

/* a <- M*a + C applied n times, by doubling */
static uint64_t lcg_jump(uint64_t a, uint64_t n)
{
	uint64_t mul = M, add = C, accm = 1, acca = 0;
	while (n) {
		if (n & 1) {
			accm *= mul;
			acca = acca * mul + add;
		}
		add = (mul + 1) * add;
		mul *= mul;
		n >>= 1;
	}
	return accm * a + acca;
}

int main(int argc, char **argv)
{
	const uint64_t seed = 0x123456789abcdefull;
	uint64_t a = seed, n = 0, sum = 0, xsum = 0;
	int brk;

	test_init(argc, argv);
	brk = test_break();
	test_daemon();
	while (test_go()) {
		for (int i = 0; i < 1000; i++) {
			a = a * M + C;
			n++;
			xsum += n;
		}
		sum += 1000;
		if (brk && n == 5000000) {
			a ^= 1;
			test_msg("break: flipped a bit of the loop state");
		}
	}
	test_msg("%llu iterations", (unsigned long long)n);
	if (n == 0)
		fail("the loop did not run");
	if (sum != n)
		fail("iteration counters disagree: %llu vs %llu", (unsigned long long)sum, (unsigned long long)n);
	if (xsum != (n % 2 == 0 ? (n / 2) * (n + 1) : n * ((n + 1) / 2)))
		fail("the running sum is wrong after %llu iterations", (unsigned long long)n);
	if (a != lcg_jump(seed, n))
		fail("the LCG state %#llx is wrong after %llu iterations", (unsigned long long)a, (unsigned long long)n);
	pass();
}
