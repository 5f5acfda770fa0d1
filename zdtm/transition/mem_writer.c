/* Transition: a task rewrites a 64 MiB buffer page by page, generation after
 * generation, until SIGTERM; every page must hold one generation consistently and
 * the generations must form one sweep (g+1 before the cursor, g after it).
 * A cold 16 MiB region, written once at setup, must keep its content. */
#include "zdtmtst.h"
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#define PG 4096
#define NP (64 * 256)	/* 64 MiB */
#define WORDS (PG / 8)

#define COLD (16 << 20)
static uint64_t *mem;
static uint8_t *cold;

static void fill(unsigned long page, uint64_t gen)
{
	uint64_t *p = mem + page * WORDS;
	for (int w = 0; w < WORDS; w++)
		p[w] = (gen << 32) ^ (page * 0x9e3779b97f4a7c15ull) ^ w;
}

int main(int argc, char **argv)
{
	uint64_t gen = 1;
	unsigned long page = 0, written = 0;
	uint32_t cold_crc = 71;

	test_init(argc, argv);
	mem = mmap(NULL, (size_t)NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap: %m");
	for (unsigned long i = 0; i < NP; i++)
		fill(i, 0);
	cold = mmap(NULL, COLD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (cold == MAP_FAILED)
		fail("mmap: %m");
	datagen(cold, COLD, &cold_crc);
	test_daemon();
	if (test_break()) {
		cold[COLD / 3] ^= 1;
		test_msg("break: flipped a bit in the cold region");
	}
	while (test_go()) {
		fill(page, gen);
		written++;
		if (++page == NP) {
			page = 0;
			gen++;
		}
	}
	test_msg("%lu pages written, generation %llu, cursor %lu", written, (unsigned long long)gen, page);
	for (unsigned long i = 0; i < NP; i++) {
		uint64_t *p = mem + i * WORDS;
		uint64_t want = i < page ? gen : gen - 1;
		for (int w = 0; w < WORDS; w++)
			if (p[w] != ((want << 32) ^ (i * 0x9e3779b97f4a7c15ull) ^ w))
				fail("page %lu word %d is %#llx, expected generation %llu", i, w,
				     (unsigned long long)p[w], (unsigned long long)want);
	}
	if (datachk(cold, COLD, &cold_crc))
		fail("the cold region changed");
	pass();
}
