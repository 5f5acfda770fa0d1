/* Raw sockets (CAP_NET_RAW: the test keeps root): an IPv4 ICMP one bound to 127.0.0.1 whose
 * ICMP_FILTER lets only echo replies in; an IPPROTO_RAW one (IP_HDRINCL on by itself); one of
 * protocol 253 with IP_NODEFRAG, connected to 127.0.0.1; an IPv6 ICMPv6 one bound to ::1 with
 * an ICMPV6_FILTER. After the restore each has its name and options again, the ICMP ones get
 * the echo reply to a request they send, and the connected one sends without an address and
 * gets its own datagram back. */
#define TEST_SUID
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_NODEFRAG
#define IP_NODEFRAG 22
#endif
#define PROTO_EXP 253

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static unsigned short csum(const void *p, int n)
{
	const unsigned short *w = p;
	unsigned int s = 0;
	for (; n > 1; n -= 2)
		s += *w++;
	if (n)
		s += *(const unsigned char *)w;
	s = (s >> 16) + (s & 0xffff);
	s += s >> 16;
	return ~s;
}

static int raw(int family, int proto)
{
	int fd = socket(family, SOCK_RAW, proto);
	if (fd < 0)
		fail("socket(SOCK_RAW, %d): %m", proto);
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

static int geti(int fd, int level, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, level, opt, &v, &l))
		fail("getsockopt(%d, %d): %m", level, opt);
	return v;
}

/* waits for a datagram on `fd` for which `match` says yes */
static void await(int fd, int (*match)(const char *, ssize_t, int), int arg, const char *what)
{
	char buf[4096];
	double end = now() + 10;
	while (now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		if (poll(&p, 1, 200) != 1)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0 && match(buf, n, arg))
			return;
	}
	fail("%s: nothing came back", what);
}

/* IPv4 raw ICMP sockets get the IP header too */
static int echo4_reply(const char *b, ssize_t n, int id)
{
	const struct iphdr *ip = (const void *)b;
	const struct icmphdr *ic = (const void *)(b + ip->ihl * 4);
	return n >= ip->ihl * 4 + 8 && ic->type == ICMP_ECHOREPLY && ntohs(ic->un.echo.id) == id;
}

static int echo6_reply(const char *b, ssize_t n, int id)
{
	const struct icmp6_hdr *ic = (const void *)b;
	return n >= 8 && ic->icmp6_type == ICMP6_ECHO_REPLY && ntohs(ic->icmp6_id) == id;
}

static int own_payload(const char *b, ssize_t n, int id)
{
	char want[32];
	snprintf(want, sizeof(want), "raw-%d", id);
	return memmem(b, n, want, strlen(want)) != NULL;
}

static void ping4(int fd, int id)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct icmphdr ic = { .type = ICMP_ECHO, .un.echo.id = htons(id), .un.echo.sequence = htons(1) };
	ic.checksum = csum(&ic, sizeof(ic));
	if (sendto(fd, &ic, sizeof(ic), 0, (void *)&to, sizeof(to)) != sizeof(ic))
		fail("ping4: %m");
	await(fd, echo4_reply, id, "IPv4 echo");
}

static void ping6(int fd, int id)
{
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct icmp6_hdr ic = { .icmp6_type = ICMP6_ECHO_REQUEST, .icmp6_id = htons(id), .icmp6_seq = htons(1) };
	if (sendto(fd, &ic, sizeof(ic), 0, (void *)&to, sizeof(to)) != sizeof(ic))
		fail("ping6: %m");
	await(fd, echo6_reply, id, "IPv6 echo");
}

int main(int argc, char **argv)
{
	struct sockaddr_in lo4 = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct sockaddr_storage n1, n4, x;
	struct icmp_filter f4 = { .data = ~(1U << ICMP_ECHOREPLY) }, g4;
	struct icmp6_filter f6, g6;
	socklen_t l1, l4, gl;
	int r1, r2, r3, r4, id = getpid() & 0xffff;
	char msg[32];

	test_init(argc, argv);
	r1 = raw(AF_INET, IPPROTO_ICMP);
	if (setsockopt(r1, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)))
		fail("ICMP_FILTER: %m");
	if (bind(r1, (void *)&lo4, sizeof(lo4)))
		fail("bind: %m");
	r2 = raw(AF_INET, IPPROTO_RAW);
	r3 = raw(AF_INET, PROTO_EXP);
	if (setsockopt(r3, SOL_IP, IP_NODEFRAG, &(int){ 1 }, sizeof(int)))
		fail("IP_NODEFRAG: %m");
	if (connect(r3, (void *)&lo4, sizeof(lo4)))
		fail("connect: %m");
	r4 = raw(AF_INET6, IPPROTO_ICMPV6);
	ICMP6_FILTER_SETBLOCKALL(&f6);
	ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f6);
	if (setsockopt(r4, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof(f6)))
		fail("ICMP6_FILTER: %m");
	if (bind(r4, (void *)&lo6, sizeof(lo6)))
		fail("bind ::1: %m");
	l1 = name_of(r1, &n1);
	l4 = name_of(r4, &n4);

	test_daemon();
	if (test_break()) {
		f4.data = ~0U;
		if (setsockopt(r1, SOL_RAW, ICMP_FILTER, &f4, sizeof(f4)))
			fail("ICMP_FILTER: %m");
		test_msg("break: the ICMP filter blocks everything\n");
	}
	test_waitsig();

	if (name_of(r1, &x) != l1 || memcmp(&x, &n1, l1))
		fail("the ICMP socket is not bound to 127.0.0.1 any more");
	if (name_of(r4, &x) != l4 || memcmp(&x, &n4, l4))
		fail("the ICMPv6 socket is not bound to ::1 any more");
	gl = sizeof(g4);
	if (getsockopt(r1, SOL_RAW, ICMP_FILTER, &g4, &gl) || g4.data != (~(1U << ICMP_ECHOREPLY)))
		fail("ICMP_FILTER is %#x", g4.data);
	gl = sizeof(g6);
	if (getsockopt(r4, IPPROTO_ICMPV6, ICMP6_FILTER, &g6, &gl) || memcmp(&g6, &f6, sizeof(f6)))
		fail("ICMP6_FILTER changed");
	if (geti(r2, SOL_IP, IP_HDRINCL) != 1)
		fail("IP_HDRINCL is off on the IPPROTO_RAW socket");
	if (geti(r1, SOL_IP, IP_HDRINCL) != 0)
		fail("IP_HDRINCL is on on the ICMP socket");
	if (geti(r3, SOL_IP, IP_NODEFRAG) != 1)
		fail("IP_NODEFRAG is off");
	if (geti(r3, SOL_SOCKET, SO_PROTOCOL) != PROTO_EXP)
		fail("the protocol is %d", geti(r3, SOL_SOCKET, SO_PROTOCOL));
	ping4(r1, id);
	ping6(r4, id);
	snprintf(msg, sizeof(msg), "raw-%d", id);
	if (send(r3, msg, strlen(msg), 0) != (ssize_t)strlen(msg))
		fail("the connected raw socket cannot send without an address: %m");
	await(r3, own_payload, id, "connected raw");
	pass();
}
