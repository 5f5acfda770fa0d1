/* Shared anonymous memory between a parent and its child: content and the sharing itself. */
#include "zdtmtst.h"
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define SZ (1 << 20)

int main(int argc, char **argv)
{
	uint8_t *m;
	uint32_t crc = 41, c2;
	int req[2], resp[2];
	pid_t child;
	char c;

	test_init(argc, argv);
	m = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		fail("mmap: %m");
	datagen(m, SZ, &crc);
	if (pipe(req) || pipe(resp))
		fail("pipe: %m");
	child = fork();
	if (child == 0) {
		close(req[1]);
		close(resp[0]);
		/* on request: report the crc of what we see, then write our mark */
		while (read(req[0], &c, 1) == 1) {
			uint32_t x = zdtm_crc32(0, m, SZ);
			m[SZ - 1] = 'C';
			if (write(resp[1], &x, 4) != 4)
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	test_daemon();
	if (test_break()) {
		/* same content, but a private copy: no longer shared with the child */
		uint8_t *copy = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		memcpy(copy, m, SZ);
		mremap(copy, SZ, SZ, MREMAP_MAYMOVE | MREMAP_FIXED, m);
		test_msg("break: replaced the parent's mapping by an unshared copy");
	}
	test_waitsig();

	if (datachk(m, SZ, &crc))
		fail("the content changed");
	m[0] ^= 0xff;	/* the child must see this */
	c2 = zdtm_crc32(0, m, SZ);
	if (write(req[1], "?", 1) != 1 || read(resp[0], &crc, 4) != 4)
		fail("the child does not answer");
	if (crc != c2)
		fail("the child does not see the parent's write");
	if (m[SZ - 1] != 'C')
		fail("the parent does not see the child's write");
	close(req[1]);
	waitpid(child, NULL, 0);
	pass();
}
