/* TCP listening sockets, IPv4 and IPv6 (and an IPv4 one that is only bound, and one that is not
 * even bound): after the restore each listener is on its old port with its backlog, a client
 * connects, is accepted and exchanges a line both ways; the bound socket keeps its address. */
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener(int family, int backlog, int nonblock)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, fd = socket(family, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);

	if (fd < 0)
		fail("socket: %m");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
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
	if (bind(fd, (void *)&ss, len))
		fail("bind: %m");
	if (backlog >= 0 && listen(fd, backlog))
		fail("listen: %m");
	return fd;
}

static void name_of(int fd, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof(*ss);
	if (getsockname(fd, (void *)ss, len))
		fail("getsockname: %m");
}

static void exchange(int l, const char *what)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];
	int c, a;

	name_of(l, &ss, &len);
	c = socket(ss.ss_family, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&ss, len))
		fail("%s: connect to the restored listener: %m", what);
	fcntl(l, F_SETFL, fcntl(l, F_GETFL) & ~O_NONBLOCK);
	a = accept(l, NULL, NULL);
	if (a < 0)
		fail("%s: accept: %m", what);
	if (write(c, "ping", 4) != 4 || read(a, buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4))
		fail("%s: client to server", what);
	if (write(a, "pong", 4) != 4 || read(c, buf, sizeof(buf)) != 4 || memcmp(buf, "pong", 4))
		fail("%s: server to client", what);
	close(a);
	close(c);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage b4, b6, bb, a4, a6, ab;
	socklen_t l4, l6, lb, m4, m6, mb;
	int v4, v6, bound, unbound, v, nb;
	socklen_t vl = sizeof(v);

	test_init(argc, argv);
	v4 = listener(AF_INET, 5, 1);
	v6 = listener(AF_INET6, 9, 0);
	bound = listener(AF_INET, -1, 0);
	unbound = socket(AF_INET, SOCK_STREAM, 0);
	name_of(v4, &b4, &l4);
	name_of(v6, &b6, &l6);
	name_of(bound, &bb, &lb);
	test_daemon();
	if (test_break()) {
		close(v4);
		v4 = listener(AF_INET, 5, 1);
		test_msg("break: the IPv4 listener is a new one, on another port");
	}
	test_waitsig();

	name_of(v4, &a4, &m4);
	name_of(v6, &a6, &m6);
	name_of(bound, &ab, &mb);
	if (m4 != l4 || memcmp(&a4, &b4, l4))
		fail("the IPv4 listener is not on its address any more");
	if (m6 != l6 || memcmp(&a6, &b6, l6))
		fail("the IPv6 listener is not on its address any more");
	if (mb != lb || memcmp(&ab, &bb, lb))
		fail("the bound socket is not on its address any more");
	if (getsockopt(v4, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) || v != 1)
		fail("the IPv4 socket does not listen");
	if (getsockopt(bound, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) || v != 0)
		fail("the bound socket listens");
	nb = fcntl(v4, F_GETFL) & O_NONBLOCK;
	if (!nb || (fcntl(v6, F_GETFL) & O_NONBLOCK))
		fail("O_NONBLOCK changed");
	exchange(v4, "IPv4");
	exchange(v6, "IPv6");
	if (listen(bound, 3))
		fail("the bound socket cannot listen: %m");
	exchange(bound, "bound, then listening");
	{
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		if (bind(unbound, (void *)&a, sizeof(a)) || listen(unbound, 1))
			fail("the unbound socket cannot be bound: %m");
		exchange(unbound, "unbound, then listening");
	}
	pass();
}
