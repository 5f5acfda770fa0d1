/* A pty pair held by the task: termios, window size, packet mode, exclusive mode, a second
 * pty left locked, data queued each way; after the restore the same indices, the same
 * settings, the queued data, and master and slave still talk to each other. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static int index_of(int master)
{
	int n = -1;
	if (ioctl(master, TIOCGPTN, &n))
		fail("TIOCGPTN: %m");
	return n;
}

static int getint(int fd, unsigned long req, const char *what)
{
	int v = -1;
	if (ioctl(fd, req, &v))
		fail("%s: %m", what);
	return v;
}

static void readall(int fd, const char *want, size_t len, const char *what)
{
	char buf[64];
	size_t off = 0;
	while (off < len) {
		ssize_t n = read(fd, buf + off, sizeof(buf) - off);
		if (n <= 0)
			fail("%s: read returned %zd after %zu bytes: %m", what, n, off);
		off += n;
	}
	if (off != len || memcmp(buf, want, len))
		fail("%s: got %zu bytes '%.*s', want '%.*s'", what, off, (int)off, buf, (int)len, want);
}

int main(int argc, char **argv)
{
	int m, s, m2, idx, idx2, one = 1;
	struct termios t, t2;
	struct winsize w = { .ws_row = 33, .ws_col = 111, .ws_xpixel = 7, .ws_ypixel = 9 }, w2;
	char slave_path[64], link[64], path[64];

	test_init(argc, argv);
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m))
		fail("posix_openpt: %m");
	idx = index_of(m);
	snprintf(slave_path, sizeof(slave_path), "/dev/pts/%d", idx);
	s = open(slave_path, O_RDWR | O_NOCTTY);
	if (s < 0)
		fail("open %s: %m", slave_path);
	m2 = posix_openpt(O_RDWR | O_NOCTTY); /* left locked */
	if (m2 < 0)
		fail("posix_openpt 2: %m");
	idx2 = index_of(m2);

	if (tcgetattr(s, &t))
		fail("tcgetattr: %m");
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 7;
	t.c_cc[VINTR] = 0x0b;
	t.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(s, TCSANOW, &t) || tcgetattr(s, &t))
		fail("tcsetattr: %m");
	if (ioctl(m, TIOCSWINSZ, &w) || ioctl(m, TIOCPKT, &one) || ioctl(s, TIOCEXCL))
		fail("TIOCSWINSZ/TIOCPKT/TIOCEXCL: %m");
	/* queued each way: output for the master to read, input for the slave */
	if (write(s, "hello", 5) != 5 || write(m, "input", 5) != 5)
		fail("write: %m");

	test_daemon();
	if (test_break()) {
		w.ws_row = 34;
		ioctl(m, TIOCSWINSZ, &w);
		w.ws_row = 33;
		test_msg("break: the window is 34 rows high now");
	}
	test_waitsig();

	if (index_of(m) != idx || index_of(m2) != idx2)
		fail("indices %d %d, were %d %d", index_of(m), index_of(m2), idx, idx2);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s);
	memset(link, 0, sizeof(link));
	if (readlink(path, link, sizeof(link) - 1) < 0 || strcmp(link, slave_path))
		fail("the slave is %s, was %s", link, slave_path);
	if (tcgetattr(s, &t2))
		fail("tcgetattr after: %m");
	if (t.c_iflag != t2.c_iflag || t.c_oflag != t2.c_oflag || t.c_cflag != t2.c_cflag || t.c_lflag != t2.c_lflag ||
	    memcmp(t.c_cc, t2.c_cc, NCCS))
		fail("termios changed: lflag %x -> %x, oflag %x -> %x, VTIME %d -> %d", t.c_lflag, t2.c_lflag, t.c_oflag,
		     t2.c_oflag, t.c_cc[VTIME], t2.c_cc[VTIME]);
	if (ioctl(s, TIOCGWINSZ, &w2) || memcmp(&w, &w2, sizeof(w)))
		fail("window %dx%d, was %dx%d", w2.ws_row, w2.ws_col, w.ws_row, w.ws_col);
	if (getint(m, TIOCGPKT, "TIOCGPKT") != 1)
		fail("packet mode is off");
	if (getint(s, TIOCGEXCL, "TIOCGEXCL") != 1)
		fail("exclusive mode is off");
	if (getint(m2, TIOCGPTLCK, "TIOCGPTLCK") != 1 || getint(m, TIOCGPTLCK, "TIOCGPTLCK") != 0)
		fail("lock states changed");
	/* packet mode: a TIOCPKT_DATA byte before the data */
	readall(m, "\0hello", 6, "queued output");
	readall(s, "input", 5, "queued input");
	if (write(m, "ping", 4) != 4)
		fail("write ping: %m");
	readall(s, "ping", 4, "master to slave");
	if (write(s, "pong", 4) != 4)
		fail("write pong: %m");
	readall(m, "\0pong", 5, "slave to master");
	pass();
}
