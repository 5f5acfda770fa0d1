/* ICMP "ping" sockets (SOCK_DGRAM, IPPROTO_ICMP / IPPROTO_ICMPV6): an IPv4 one bound to
 * 127.0.0.1 with an identifier of the kernel's choice, an IPv6 one bound by its first echo
 * request, one connected to 127.0.0.1. The kernel lets only the groups of
 * net.ipv4.ping_group_range make them, root included: the test keeps root and, when that range
 * leaves out group 0, widens it to take group 0 in (and leaves it so: the restore makes the
 * sockets again as root). After the restore each has its address and identifier again and gets
 * the echo reply to its request, with its identifier. */
#define TEST_SUID
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *range_file = "/proc/sys/net/ipv4/ping_group_range";

static void let_root_ping(void)
{
	char buf[64];
	long lo, hi;
	int fd;

	if (read_file(range_file, buf, sizeof(buf)) < 0 || sscanf(buf, "%ld %ld", &lo, &hi) != 2)
		fail("%s: %m", range_file);
	if (lo <= 0 && 0 <= hi)
		return;
	snprintf(buf, sizeof(buf), "0 %ld\n", hi >= lo && hi > 0 ? hi : 0);
	fd = open(range_file, O_WRONLY);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
		fail("cannot widen %s: %m", range_file);
	close(fd);
	test_msg("ping_group_range was %ld %ld, now %s", lo, hi, buf);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int ping_sk(int family)
{
	int fd = socket(family, SOCK_DGRAM, family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (fd < 0)
		fail("socket(ping): %m");
	return fd;
}

static socklen_t name_of(int fd, struct sockaddr_storage *ss)
{
	socklen_t l = sizeof(*ss);
	memset(ss, 0, sizeof(*ss));
	if (getsockname(fd, (void *)ss, &l))
		fail("getsockname: %m");
	return l;
}

static int port_of(struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port : ((struct sockaddr_in6 *)ss)->sin6_port);
}

/* an echo request (to `to`, or on the connection when NULL), and its reply with the socket's identifier */
static void echo(int fd, int family, void *to, socklen_t tl, int seq, const char *what)
{
	struct sockaddr_storage me;
	char buf[256];
	double end = now() + 10;
	struct icmphdr h4 = { .type = ICMP_ECHO, .un.echo.sequence = htons(seq) };
	struct icmp6_hdr h6 = { .icmp6_type = ICMP6_ECHO_REQUEST, .icmp6_seq = htons(seq) };
	void *req = family == AF_INET ? (void *)&h4 : (void *)&h6;
	size_t rl = family == AF_INET ? sizeof(h4) : sizeof(h6);
	int id;

	if ((to ? sendto(fd, req, rl, 0, to, tl) : send(fd, req, rl, 0)) != (ssize_t)rl)
		fail("%s: send: %m", what);
	name_of(fd, &me);
	id = port_of(&me);
	while (now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&p, 1, 200) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 8)
			continue;
		if (family == AF_INET) {
			struct icmphdr *r = (void *)buf;
			if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.sequence) == seq) {
				if (ntohs(r->un.echo.id) != id)
					fail("%s: a reply for identifier %d, not %d", what, ntohs(r->un.echo.id), id);
				return;
			}
		} else {
			struct icmp6_hdr *r = (void *)buf;
			if (r->icmp6_type == ICMP6_ECHO_REPLY && ntohs(r->icmp6_seq) == seq) {
				if (ntohs(r->icmp6_id) != id)
					fail("%s: a reply for identifier %d, not %d", what, ntohs(r->icmp6_id), id);
				return;
			}
		}
	}
	fail("%s: no echo reply", what);
}

int main(int argc, char **argv)
{
	struct sockaddr_in lo4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_storage n4, n6, nc, x;
	socklen_t l4, l6, lc;
	int s4, s6, c4;

	test_init(argc, argv);
	let_root_ping();
	s4 = ping_sk(AF_INET);
	if (bind(s4, (void *)&lo4, sizeof(lo4)))
		fail("bind: %m");
	s6 = ping_sk(AF_INET6);
	echo(s6, AF_INET6, &lo6, sizeof(lo6), 1, "IPv6 before");
	c4 = ping_sk(AF_INET);
	if (connect(c4, (void *)&lo4, sizeof(lo4)))
		fail("connect: %m");
	echo(c4, AF_INET, NULL, 0, 1, "connected before");
	l4 = name_of(s4, &n4);
	l6 = name_of(s6, &n6);
	lc = name_of(c4, &nc);
	test_msg("identifiers %d %d %d\n", port_of(&n4), port_of(&n6), port_of(&nc));

	test_daemon();
	if (test_break()) {
		int b = ping_sk(AF_INET);
		if (bind(b, (void *)&lo4, sizeof(lo4)) || dup2(b, s4) < 0)
			fail("break: %m");
		close(b);
		test_msg("break: the bound socket is another one, with another identifier\n");
	}
	test_waitsig();

	if (name_of(s4, &x) != l4 || memcmp(&x, &n4, l4))
		fail("the IPv4 ping socket is on identifier %d, it was %d", port_of(&x), port_of(&n4));
	if (name_of(s6, &x) != l6 || memcmp(&x, &n6, l6))
		fail("the IPv6 ping socket is on identifier %d, it was %d", port_of(&x), port_of(&n6));
	if (name_of(c4, &x) != lc || memcmp(&x, &nc, lc))
		fail("the connected ping socket is on identifier %d, it was %d", port_of(&x), port_of(&nc));
	echo(s4, AF_INET, &lo4, sizeof(lo4), 2, "IPv4");
	echo(s6, AF_INET6, &lo6, sizeof(lo6), 2, "IPv6");
	echo(c4, AF_INET, NULL, 0, 2, "connected");
	pass();
}
