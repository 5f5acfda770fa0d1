/* Packet sockets (CAP_NET_RAW: the test keeps root): a SOCK_RAW ETH_P_ALL socket bound to `lo`
 * with PACKET_VERSION, PACKET_AUXDATA, PACKET_ORIGDEV, PACKET_RESERVE, PACKET_TIMESTAMP, an
 * ALLMULTI membership and a multicast address added twice; a SOCK_DGRAM ETH_P_IP socket
 * bound to no interface; a socket in a fanout group. After the restore each has its name and
 * options again, the multicast address is on `lo`, and the first socket still sees a UDP
 * datagram sent over `lo`. */
#define TEST_SUID
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <linux/net_tstamp.h>
#include <stdio.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const unsigned char mc[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };

static int pk(int type, int proto, int ifindex)
{
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(proto), .sll_ifindex = ifindex };
	int fd = socket(AF_PACKET, type, htons(proto));
	if (fd < 0)
		fail("socket(AF_PACKET): %m");
	if (ifindex && bind(fd, (void *)&a, sizeof(a)))
		fail("bind: %m");
	return fd;
}

static void set(int fd, int opt, int v, const char *name)
{
	if (setsockopt(fd, SOL_PACKET, opt, &v, sizeof(v)))
		fail("%s: %m", name);
}

static int get(int fd, int opt, const char *name)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, SOL_PACKET, opt, &v, &l))
		fail("get %s: %m", name);
	return v;
}

static void member(int fd, int ifindex, int type, const unsigned char *addr)
{
	struct packet_mreq m = { .mr_ifindex = ifindex, .mr_type = type, .mr_alen = addr ? 6 : 0 };
	if (addr)
		memcpy(m.mr_address, addr, 6);
	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &m, sizeof(m)))
		fail("PACKET_ADD_MEMBERSHIP: %m");
}

static struct sockaddr_ll name_of(int fd)
{
	struct sockaddr_ll a;
	socklen_t l = sizeof(a);
	memset(&a, 0, sizeof(a));
	if (getsockname(fd, (void *)&a, &l))
		fail("getsockname: %m");
	return a;
}

/* the multicast address is in lo's list (/proc/net/dev_mcast: "index name users global address") */
static int mc_on_lo(void)
{
	char buf[8192], *l;
	if (read_file("/proc/net/dev_mcast", buf, sizeof(buf)) < 0)
		fail("/proc/net/dev_mcast: %m");
	for (l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
		if (strstr(l, " lo ") && strstr(l, "01005e0000fb"))
			return 1;
	return 0;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* a UDP datagram over lo with a magic payload must show up on `fd` */
static void sees_traffic(int fd)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char magic[32], buf[2048];
	double end = now() + 10;
	int u = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(magic, sizeof(magic), "packet_sock-%d", getpid());
	while (now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (sendto(u, magic, strlen(magic), 0, (void *)&to, sizeof(to)) < 0)
			fail("sendto: %m");
		while (poll(&p, 1, 100) == 1) {
			ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n > 0 && memmem(buf, n, magic, strlen(magic))) {
				close(u);
				return;
			}
		}
	}
	fail("the packet socket saw no datagram over lo");
}

int main(int argc, char **argv)
{
	struct sockaddr_ll n1, n2, n3, x;
	int p1, p2, p3, lo, fanout;

	test_init(argc, argv);
	lo = if_nametoindex("lo");
	if (!lo)
		fail("no lo: %m");
	p1 = pk(SOCK_RAW, ETH_P_ALL, lo);
	set(p1, PACKET_VERSION, TPACKET_V2, "PACKET_VERSION");
	set(p1, PACKET_AUXDATA, 1, "PACKET_AUXDATA");
	set(p1, PACKET_ORIGDEV, 1, "PACKET_ORIGDEV");
	set(p1, PACKET_RESERVE, 64, "PACKET_RESERVE");
	set(p1, PACKET_TIMESTAMP, SOF_TIMESTAMPING_RAW_HARDWARE, "PACKET_TIMESTAMP");
	member(p1, lo, PACKET_MR_ALLMULTI, NULL);
	member(p1, lo, PACKET_MR_MULTICAST, mc);
	member(p1, lo, PACKET_MR_MULTICAST, mc);
	p2 = pk(SOCK_DGRAM, ETH_P_IP, 0);
	p3 = pk(SOCK_RAW, ETH_P_IP, lo);
	fanout = (getpid() & 0xffff) | (PACKET_FANOUT_HASH << 16);
	set(p3, PACKET_FANOUT, fanout, "PACKET_FANOUT");
	n1 = name_of(p1);
	n2 = name_of(p2);
	n3 = name_of(p3);
	if (!mc_on_lo())
		fail("the multicast address is not on lo");

	test_daemon();
	if (test_break()) {
		set(p1, PACKET_AUXDATA, 0, "PACKET_AUXDATA");
		test_msg("break: PACKET_AUXDATA off\n");
	}
	test_waitsig();

	x = name_of(p1);
	if (x.sll_ifindex != n1.sll_ifindex || x.sll_protocol != n1.sll_protocol)
		fail("the first socket is on ifindex %d protocol %#x, it was %d %#x", x.sll_ifindex, x.sll_protocol, n1.sll_ifindex, n1.sll_protocol);
	x = name_of(p2);
	if (x.sll_ifindex != n2.sll_ifindex || x.sll_protocol != n2.sll_protocol)
		fail("the unbound socket is on ifindex %d protocol %#x, it was %d %#x", x.sll_ifindex, x.sll_protocol, n2.sll_ifindex, n2.sll_protocol);
	x = name_of(p3);
	if (x.sll_ifindex != n3.sll_ifindex || x.sll_protocol != n3.sll_protocol)
		fail("the fanout socket is on ifindex %d protocol %#x", x.sll_ifindex, x.sll_protocol);
	if (get(p1, PACKET_VERSION, "PACKET_VERSION") != TPACKET_V2)
		fail("PACKET_VERSION is %d", get(p1, PACKET_VERSION, "PACKET_VERSION"));
	if (get(p1, PACKET_AUXDATA, "PACKET_AUXDATA") != 1)
		fail("PACKET_AUXDATA is off");
	if (get(p1, PACKET_ORIGDEV, "PACKET_ORIGDEV") != 1)
		fail("PACKET_ORIGDEV is off");
	if (get(p1, PACKET_RESERVE, "PACKET_RESERVE") != 64)
		fail("PACKET_RESERVE is %d", get(p1, PACKET_RESERVE, "PACKET_RESERVE"));
	if (get(p1, PACKET_TIMESTAMP, "PACKET_TIMESTAMP") != SOF_TIMESTAMPING_RAW_HARDWARE)
		fail("PACKET_TIMESTAMP is %#x", get(p1, PACKET_TIMESTAMP, "PACKET_TIMESTAMP"));
	if (get(p2, PACKET_AUXDATA, "PACKET_AUXDATA") != 0)
		fail("PACKET_AUXDATA is on on the second socket");
	if ((unsigned)get(p3, PACKET_FANOUT, "PACKET_FANOUT") != (unsigned)fanout)
		fail("PACKET_FANOUT is %#x, it was %#x", get(p3, PACKET_FANOUT, "PACKET_FANOUT"), fanout);
	if (!mc_on_lo())
		fail("the multicast address is not on lo any more");
	sees_traffic(p1);
	pass();
}
