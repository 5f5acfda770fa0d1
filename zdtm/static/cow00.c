/* Copy-on-write memory shared between a parent and its child after fork: each keeps its own view. */
#include "zdtmtst.h"
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NP 64
#define PG 4096

int main(int argc, char **argv)
{
	uint8_t *mem;
	uint32_t crc_parent, crc_child, base_crc = 77, got;
	int req[2], resp[2], i;
	pid_t child;
	char c;

	test_init(argc, argv);
	mem = mmap(NULL, NP * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("mmap: %m");
	datagen(mem, NP * PG, &base_crc);
	if (pipe(req) || pipe(resp))
		fail("pipe: %m");
	child = fork();
	if (child == 0) {
		close(req[1]);
		close(resp[0]);
		/* the child changes the even pages */
		for (i = 0; i < NP; i += 2)
			mem[i * PG + 5] ^= 0xaa;
		crc_child = zdtm_crc32(0, mem, NP * PG);
		if (write(resp[1], &crc_child, 4) != 4)
			_exit(1);
		while (read(req[0], &c, 1) == 1) {
			got = zdtm_crc32(0, mem, NP * PG);
			if (write(resp[1], &got, 4) != 4)
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	if (read(resp[0], &crc_child, 4) != 4)
		fail("no answer from the child");
	/* the parent changes pages divisible by three (some shared with the child's) */
	for (i = 0; i < NP; i += 3)
		mem[i * PG + 9] ^= 0x55;
	crc_parent = zdtm_crc32(0, mem, NP * PG);
	if (crc_parent == crc_child)
		fail("the views do not differ");
	test_daemon();
	if (test_break()) {
		mem[1 * PG + 100] ^= 1;	/* a page still shared copy-on-write */
		test_msg("break: changed page 1 in the parent");
	}
	test_waitsig();

	if (zdtm_crc32(0, mem, NP * PG) != crc_parent)
		fail("the parent's view changed");
	if (write(req[1], "?", 1) != 1 || read(resp[0], &got, 4) != 4)
		fail("the child does not answer");
	if (got != crc_child)
		fail("the child's view changed");
	close(req[1]);
	waitpid(child, NULL, 0);
	pass();
}
