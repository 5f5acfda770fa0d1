/* The options of unix sockets kept across a restore (CRIU's dump_socket_opts for AF_UNIX):
 * SO_PASSCRED and SO_PASSSEC on, send and receive buffer sizes, receive and send timeouts, and
 * on a datagram socketpair end O_ASYNC with the task as owner for SIGIO (F_SETOWN) and F_SETSIG.
 * After the restore each reads back as it was set, and a datagram on the O_ASYNC socket raises
 * the signal. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef SO_PASSSEC
#define SO_PASSSEC 34
#endif

static volatile sig_atomic_t got;
static void on_sig(int s)
{
	got = s;
}

static int geti(int fd, int opt)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l))
		fail("getsockopt %d: %m", opt);
	return v;
}

static long tmo(int fd, int opt)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &l))
		fail("getsockopt %d: %m", opt);
	return tv.tv_sec * 1000000L + tv.tv_usec;
}

int main(int argc, char **argv)
{
	struct timeval rt = { .tv_sec = 3, .tv_usec = 250000 }, st = { .tv_sec = 1, .tv_usec = 500 };
	int one = 1, snd = 65536, rcv = 131072, sp[2], dp[2], sndbuf, rcvbuf;
	long rtmo, stmo;
	char c;

	test_init(argc, argv);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dp))
		fail("socketpair: %m");
	if (setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) || setsockopt(sp[0], SOL_SOCKET, SO_PASSSEC, &one, sizeof(one)) ||
	    setsockopt(sp[0], SOL_SOCKET, SO_SNDBUF, &snd, sizeof(snd)) || setsockopt(sp[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) ||
	    setsockopt(sp[0], SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt)) || setsockopt(sp[0], SOL_SOCKET, SO_SNDTIMEO, &st, sizeof(st)))
		fail("setsockopt: %m");
	sndbuf = geti(sp[0], SO_SNDBUF);
	rcvbuf = geti(sp[0], SO_RCVBUF);
	/* the kernel keeps timeouts in jiffies: compare with what it gives back */
	rtmo = tmo(sp[0], SO_RCVTIMEO);
	stmo = tmo(sp[0], SO_SNDTIMEO);
	signal(SIGUSR2, on_sig);
	if (fcntl(dp[1], F_SETOWN, getpid()) || fcntl(dp[1], F_SETSIG, SIGUSR2) || fcntl(dp[1], F_SETFL, fcntl(dp[1], F_GETFL) | O_ASYNC))
		fail("fcntl: %m");
	test_daemon();
	if (test_break()) {
		int zero = 0;

		setsockopt(sp[0], SOL_SOCKET, SO_PASSCRED, &zero, sizeof(zero));
		test_msg("break: SO_PASSCRED off");
	}
	test_waitsig();

	if (geti(sp[0], SO_PASSCRED) != 1 || geti(sp[1], SO_PASSCRED) != 0)
		fail("SO_PASSCRED is %d/%d, not 1/0", geti(sp[0], SO_PASSCRED), geti(sp[1], SO_PASSCRED));
	if (geti(sp[0], SO_PASSSEC) != 1)
		fail("SO_PASSSEC is off");
	if (geti(sp[0], SO_SNDBUF) != sndbuf || geti(sp[0], SO_RCVBUF) != rcvbuf)
		fail("buffers are %d/%d, not %d/%d", geti(sp[0], SO_SNDBUF), geti(sp[0], SO_RCVBUF), sndbuf, rcvbuf);
	if (rtmo < 3000000 || tmo(sp[0], SO_RCVTIMEO) != rtmo || tmo(sp[0], SO_SNDTIMEO) != stmo)
		fail("timeouts are %ld/%ld us, not %ld/%ld", tmo(sp[0], SO_RCVTIMEO), tmo(sp[0], SO_SNDTIMEO), rtmo, stmo);
	if (!(fcntl(dp[1], F_GETFL) & O_ASYNC) || fcntl(dp[1], F_GETOWN) != getpid() || fcntl(dp[1], F_GETSIG) != SIGUSR2)
		fail("O_ASYNC, the owner (%d) or the signal (%d) is lost", fcntl(dp[1], F_GETOWN), fcntl(dp[1], F_GETSIG));
	if (send(dp[0], "s", 1, 0) != 1)
		fail("send: %m");
	for (int i = 0; i < 5000 && !got; i++)
		usleep(1000);
	if (got != SIGUSR2 || recv(dp[1], &c, 1, MSG_DONTWAIT) != 1)
		fail("no SIGUSR2 for the datagram");
	pass();
}
