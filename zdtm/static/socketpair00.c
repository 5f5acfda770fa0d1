/* Unix socket pairs: a stream pair with bytes queued both ways, a seqpacket pair and a dgram
 * pair with messages queued (boundaries kept), a stream pair whose one end was shut down for
 * writing, and a non-blocking end. After the restore every queue holds what it held. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int st[2], sp[2], dg[2], sh[2];
static char big[100000];

static int readn(int fd, char *b, int n)
{
	int got = 0;
	while (got < n) {
		int r = read(fd, b + got, n - got);
		if (r <= 0)
			return got;
		got += r;
	}
	return got;
}

int main(int argc, char **argv)
{
	char buf[200000];
	const char *msgs[] = { "one", "two two", "three three three" };
	uint32_t crc = 5;
	int i;

	test_init(argc, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp) ||
	    socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) || socketpair(AF_UNIX, SOCK_STREAM, 0, sh))
		fail("socketpair: %m");
	datagen(big, sizeof big, &crc);
	if (write(st[0], big, sizeof big) != sizeof big || write(st[1], "back", 4) != 4)
		fail("write stream: %m");
	for (i = 0; i < 3; i++)
		if (send(sp[0], msgs[i], strlen(msgs[i]), 0) < 0 || send(dg[1], msgs[i], strlen(msgs[i]), 0) < 0)
			fail("send: %m");
	if (write(sh[0], "last words", 10) != 10 || shutdown(sh[0], SHUT_WR))
		fail("shutdown: %m");
	fcntl(st[1], F_SETFL, O_NONBLOCK);
	test_daemon();
	if (test_break()) {
		if (recv(sp[1], buf, sizeof buf, 0) < 0)
			fail("recv: %m");
		test_msg("break: took one seqpacket message");
	}
	test_waitsig();

	if (readn(st[1], buf, sizeof big) != sizeof big || datachk(buf, sizeof big, &crc))
		fail("the stream data is not all there");
	if (readn(st[0], buf, 4) != 4 || memcmp(buf, "back", 4))
		fail("the stream data queued the other way is lost");
	if (!(fcntl(st[1], F_GETFL) & O_NONBLOCK) || read(st[1], buf, 1) != -1 || errno != EAGAIN)
		fail("the non-blocking end blocks or holds more data");
	for (i = 0; i < 3; i++) {
		int n = recv(sp[1], buf, sizeof buf, MSG_DONTWAIT);
		if (n != (int)strlen(msgs[i]) || memcmp(buf, msgs[i], n))
			fail("seqpacket message %d is wrong (%d bytes)", i, n);
		n = recv(dg[0], buf, sizeof buf, MSG_DONTWAIT);
		if (n != (int)strlen(msgs[i]) || memcmp(buf, msgs[i], n))
			fail("dgram message %d is wrong (%d bytes)", i, n);
	}
	if (recv(sp[1], buf, sizeof buf, MSG_DONTWAIT) != -1 || recv(dg[0], buf, sizeof buf, MSG_DONTWAIT) != -1)
		fail("more messages than were queued");
	if (readn(sh[1], buf, 11) != 10 || memcmp(buf, "last words", 10))
		fail("the data before the shutdown is lost, or the shutdown is");
	pass();
}
