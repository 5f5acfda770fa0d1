/* A tree in a network namespace of its own, empty but for lo (CRIU's zdtm netns / netns-dev in
 * small): the test moves into a new one before test_init, sets lo up with MTU 9000 and an extra
 * IPv4 and IPv6 address, changes net sysctls (net.unix.max_dgram_qlen, net.ipv4.conf.lo.
 * accept_local, net.ipv6.conf.all.hop_limit), listens on TCP 10.66.0.1 and binds UDP fd00::66;
 * after the restore it is still in a namespace of its own, lo is as it was, the sysctls hold, a
 * client connects to the listener and a datagram reaches the UDP socket. Flavor h only: in ns and
 * uns the namespace it makes is nested below the root's (refused as "nested net namespaces"). */
#define TEST_SUID
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void put(const char *file, const char *v)
{
	int fd = open(file, O_WRONLY);

	if (fd < 0 || write(fd, v, strlen(v)) < 0)
		fail("write %s to %s: %m", v, file);
	close(fd);
}

static int get(const char *file)
{
	char b[32] = "";
	int fd = open(file, O_RDONLY);

	if (fd < 0 || read(fd, b, sizeof(b) - 1) < 0)
		return -1;
	close(fd);
	return atoi(b);
}

int main(int argc, char **argv)
{
	char host[64] = "", mine[64] = "";

	readlink("/proc/self/ns/net", host, sizeof(host) - 1);
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "netns_lo: unshare(CLONE_NEWNET): %m\n");
		return 1;
	}
	test_init(argc, argv);

	if (system("ip link set lo up mtu 9000 && ip addr add 10.66.0.1/24 dev lo && ip addr add fd00::66/64 dev lo nodad"))
		fail("ip: cannot set lo up");
	put("/proc/sys/net/unix/max_dgram_qlen", "66");
	put("/proc/sys/net/ipv4/conf/lo/accept_local", "1");
	put("/proc/sys/net/ipv6/conf/all/hop_limit", "66");

	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(6666) };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(6667) };

	inet_pton(AF_INET, "10.66.0.1", &a4.sin_addr);
	inet_pton(AF_INET6, "fd00::66", &a6.sin6_addr);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (void *)&a4, sizeof(a4)) || listen(l, 4))
		fail("tcp listener on 10.66.0.1:6666: %m");
	if (bind(u, (void *)&a6, sizeof(a6)))
		fail("udp on [fd00::66]:6667: %m");
	if (test_break())
		put("/proc/sys/net/unix/max_dgram_qlen", "67");

	test_daemon();
	test_waitsig();

	readlink("/proc/self/ns/net", mine, sizeof(mine) - 1);
	fail_if(!strcmp(mine, host), "back in the network namespace it left (%s)", mine);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { .ifr_name = "lo" };

	fail_if(ioctl(s, SIOCGIFFLAGS, &ifr) || !(ifr.ifr_flags & IFF_UP), "lo is down");
	fail_if(ioctl(s, SIOCGIFMTU, &ifr) || ifr.ifr_mtu != 9000, "lo mtu %d, not 9000", ifr.ifr_mtu);
	fail_if(get("/proc/sys/net/unix/max_dgram_qlen") != 66, "net.unix.max_dgram_qlen %d", get("/proc/sys/net/unix/max_dgram_qlen"));
	fail_if(get("/proc/sys/net/ipv4/conf/lo/accept_local") != 1, "net.ipv4.conf.lo.accept_local is not 1");
	fail_if(get("/proc/sys/net/ipv6/conf/all/hop_limit") != 66, "net.ipv6.conf.all.hop_limit %d", get("/proc/sys/net/ipv6/conf/all/hop_limit"));

	struct ifaddrs *ifa, *i;
	int v4 = 0, v6 = 0;

	fail_if(getifaddrs(&ifa), "getifaddrs: %m");
	for (i = ifa; i; i = i->ifa_next) {
		char t[64] = "";

		if (!i->ifa_addr || strcmp(i->ifa_name, "lo"))
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, t, sizeof(t));
		if (i->ifa_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, t, sizeof(t));
		v4 |= !strcmp(t, "10.66.0.1");
		v6 |= !strcmp(t, "fd00::66");
	}
	freeifaddrs(ifa);
	fail_if(!v4 || !v6, "lo lost an address (10.66.0.1: %d, fd00::66: %d)", v4, v6);

	char b[8];
	int c = socket(AF_INET, SOCK_STREAM, 0), acc;

	fail_if(connect(c, (void *)&a4, sizeof(a4)), "connect to 10.66.0.1:6666: %m");
	acc = accept(l, NULL, NULL);
	fail_if(acc < 0 || write(c, "z", 1) != 1 || read(acc, b, 1) != 1 || b[0] != 'z', "the connection carries no byte");
	int u2 = socket(AF_INET6, SOCK_DGRAM, 0);

	fail_if(sendto(u2, "dgram", 5, 0, (void *)&a6, sizeof(a6)) != 5, "sendto [fd00::66]:6667: %m");
	fail_if(recv(u, b, sizeof(b), MSG_DONTWAIT) != 5 || memcmp(b, "dgram", 5), "no datagram on [fd00::66]:6667");
	pass();
}
