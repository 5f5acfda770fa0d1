/* Pipes with data in them: a big pipe (F_SETPIPE_SZ), flags, content and order. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define PSZ (256 * 1024)
#define DATA (200 * 1000)

int main(int argc, char **argv)
{
	static char buf[DATA + 16];
	int p[2], q[2], sz;
	uint32_t crc = 21;
	char small[8];

	test_init(argc, argv);
	if (pipe(p) || pipe2(q, O_NONBLOCK))
		fail("pipe: %m");
	if (fcntl(p[1], F_SETPIPE_SZ, PSZ) < 0)
		fail("F_SETPIPE_SZ: %m");
	sz = fcntl(p[0], F_GETPIPE_SZ);
	datagen(buf, DATA, &crc);
	if (write(p[1], buf, DATA) != DATA)
		fail("write: %m");
	if (write(q[1], "hello", 5) != 5)
		fail("write: %m");
	test_daemon();
	if (test_break()) {
		char c;
		read(p[0], &c, 1);
		test_msg("break: read one byte from the big pipe");
	}
	test_waitsig();

	if (fcntl(p[0], F_GETPIPE_SZ) != sz)
		fail("pipe size is %d, expected %d", fcntl(p[0], F_GETPIPE_SZ), sz);
	if (!(fcntl(q[0], F_GETFL) & O_NONBLOCK) || (fcntl(p[0], F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK flags changed");
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	ssize_t got = 0, r;
	while ((r = read(p[0], buf + got, sizeof(buf) - got)) > 0)
		got += r;
	if (got != DATA)
		fail("%zd bytes in the big pipe, expected %d", got, DATA);
	if (datachk(buf, DATA, &crc))
		fail("the big pipe's data changed");
	if (read(q[0], small, sizeof(small)) != 5 || memcmp(small, "hello", 5))
		fail("the small pipe's data changed");
	pass();
}
