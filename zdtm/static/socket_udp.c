/* UDP sockets, IPv4 and IPv6: bound ones, a connected one, an unbound one, and a datagram left
 * queued at the dump (CRIU drops a UDP receive queue, so it may be gone). After the restore
 * datagrams go both ways between the bound sockets and the connected one on their old ports. */
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int udp(int family, int do_bind)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM, 0);

	if (fd < 0)
		fail("socket: %m");
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	if (do_bind && bind(fd, (void *)&ss, len))
		fail("bind: %m");
	return fd;
}

static socklen_t name_of(int fd, struct sockaddr_storage *ss)
{
	socklen_t len = sizeof(*ss);
	if (getsockname(fd, (void *)ss, &len))
		fail("getsockname: %m");
	return len;
}

/* `from` sends to `to` (by its name, or on its connection when `connected`), `to` answers */
static void exchange(int from, int to, int connected, const char *what)
{
	struct sockaddr_storage dst, src, me;
	socklen_t dl = name_of(to, &dst), sl = sizeof(src), ml;
	char buf[64];
	ssize_t n;

	n = connected ? send(from, "ping", 4, 0) : sendto(from, "ping", 4, 0, (void *)&dst, dl);
	if (n != 4)
		fail("%s: send: %m", what);
	n = recvfrom(to, buf, sizeof(buf), 0, (void *)&src, &sl);
	if (n != 4 || memcmp(buf, "ping", 4))
		fail("%s: the datagram did not arrive", what);
	ml = name_of(from, &me);
	/* an unbound sender is bound to the any address: the ports must agree */
	if (sl != ml || ((struct sockaddr_in *)&src)->sin_port != ((struct sockaddr_in *)&me)->sin_port)
		fail("%s: it came from another port", what);
	if (sendto(to, "pong", 4, 0, (void *)&src, sl) != 4)
		fail("%s: answer: %m", what);
	if (recv(from, buf, sizeof(buf), 0) != 4 || memcmp(buf, "pong", 4))
		fail("%s: the answer did not arrive", what);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage n4, n6, nc, peer, x;
	socklen_t l4, l6, lc, pl = sizeof(peer);
	int u4, u6, c4, free6;
	char buf[64];

	test_init(argc, argv);
	u4 = udp(AF_INET, 1);
	u6 = udp(AF_INET6, 1);
	c4 = udp(AF_INET, 0);
	free6 = udp(AF_INET6, 0);
	l4 = name_of(u4, &n4);
	l6 = name_of(u6, &n6);
	if (connect(c4, (void *)&n4, l4))
		fail("connect: %m");
	lc = name_of(c4, &nc);
	/* left in u4's receive queue */
	if (send(c4, "queued", 6, 0) != 6)
		fail("send: %m");
	test_daemon();
	if (test_break()) {
		struct sockaddr_in a = { .sin_family = AF_UNSPEC };
		connect(c4, (void *)&a, sizeof(a));
		test_msg("break: the connected socket is disconnected");
	}
	test_waitsig();

	if (name_of(u4, &x) != l4 || memcmp(&x, &n4, l4))
		fail("the IPv4 socket is not on its address any more");
	if (name_of(u6, &x) != l6 || memcmp(&x, &n6, l6))
		fail("the IPv6 socket is not on its address any more");
	if (name_of(c4, &x) != lc || memcmp(&x, &nc, lc))
		fail("the connected socket is not on its address any more");
	if (getpeername(c4, (void *)&peer, &pl) || pl != l4 || memcmp(&peer, &n4, l4))
		fail("the connected socket lost its peer");
	/* the queued datagram: dropped by the dump as CRIU does, or still there (no dump) */
	if (recv(u4, buf, sizeof(buf), MSG_DONTWAIT) == 6 && memcmp(buf, "queued", 6))
		fail("the queue held something else");
	exchange(c4, u4, 1, "connected IPv4");
	exchange(free6, u6, 0, "IPv6");
	pass();
}
