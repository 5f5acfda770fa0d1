/* A FIFO opened read-write, read-only and write-only, with data queued in it. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA 30000

int main(int argc, char **argv)
{
	static char buf[DATA + 16];
	uint32_t crc = 31;
	struct stat st, st2;
	int rw, rd, wr;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	if (mkfifo(test_filename, 0600))
		fail("mkfifo: %m");
	rw = open(test_filename, O_RDWR);
	rd = open(test_filename, O_RDONLY | O_NONBLOCK);
	wr = open(test_filename, O_WRONLY);
	if (rw < 0 || rd < 0 || wr < 0)
		fail("open: %m");
	datagen(buf, DATA, &crc);
	if (write(wr, buf, DATA) != DATA)
		fail("write: %m");
	if (fstat(rw, &st))
		fail("fstat: %m");
	test_daemon();
	if (test_break()) {
		char c;
		read(rd, &c, 1);
		test_msg("break: read one byte from the FIFO");
	}
	test_waitsig();

	if (fstat(rd, &st2) || !S_ISFIFO(st2.st_mode) || st2.st_ino != st.st_ino)
		fail("the fds are no longer the FIFO");
	if (stat(test_filename, &st2) || st2.st_ino != st.st_ino)
		fail("the FIFO's name is gone or another inode");
	ssize_t got = 0, r;
	while ((r = read(rd, buf + got, sizeof(buf) - got)) > 0)
		got += r;
	if (got != DATA || datachk(buf, DATA, &crc))
		fail("%zd bytes in the FIFO (expected %d) or their content changed", got, DATA);
	/* they are one pipe */
	if (write(rw, "xy", 2) != 2 || read(rd, buf, 4) != 2 || memcmp(buf, "xy", 2))
		fail("the read-write end is not connected to the read end");
	pass();
}
