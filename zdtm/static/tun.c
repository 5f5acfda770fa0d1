/* tun and tap links with their fds in the tree's own network namespace (flavors ns and uns):
 *   zdtm-tun0  a tun (IFF_TUN | IFF_NO_PI), not persistent, held by an fd, with an address and
 *              up: a datagram sent to its peer address is read from the fd as an IPv4 packet;
 *   zdtm-tap0  a tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), persistent, no fd attached, its
 *              vnet header size 12 and a MAC of its own;
 *   zdtm-mq0   a multiqueue tap, not persistent, with two fds, the second one detached;
 *   an fd of /dev/net/tun attached to nothing, opened O_NONBLOCK.
 * After the restore each fd shows its link (TUNGETIFF: name, flags, the detached one detached),
 * the links are there with their flags (ip -d), the tun still carries the datagram, and once
 * the test closes the fds the non-persistent links go and the persistent one stays.
 * Break mode detaches the first queue of zdtm-mq0 too. */
#define TEST_SUID
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int tun_open(const char *name, int flags, int oflags)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | oflags);

	if (fd < 0)
		fail("open /dev/net/tun: %m");
	if (!name)
		return fd;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr))
		fail("TUNSETIFF %s: %m", name);
	return fd;
}

/* the fd's link and flags as TUNGETIFF shows them */
static void expect_iff(int fd, const char *name, int flags)
{
	struct ifreq ifr = { 0 };

	if (ioctl(fd, TUNGETIFF, &ifr))
		fail("TUNGETIFF on the fd of %s: %m", name);
	if (strcmp(ifr.ifr_name, name) || (ifr.ifr_flags & 0xffff) != flags)
		fail("the fd of %s shows %s flags %#x, expected %#x", name, ifr.ifr_name, ifr.ifr_flags & 0xffff, flags);
}

/* a datagram to 10.127.0.2 goes out of zdtm-tun0: read it from its fd */
static void carries(int fd)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	char buf[2048];
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	inet_pton(AF_INET, "10.127.0.2", &to.sin_addr);
	for (int tries = 0; tries < 50; tries++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (sendto(s, "zdtm", 4, 0, (struct sockaddr *)&to, sizeof(to)) != 4)
			fail("sendto 10.127.0.2: %m");
		while (poll(&p, 1, 100) == 1) {
			ssize_t n = read(fd, buf, sizeof(buf));
			struct iphdr *ip = (struct iphdr *)buf;

			if (n >= (ssize_t)sizeof(*ip) + 12 && ip->version == 4 && ip->daddr == to.sin_addr.s_addr && !memcmp(buf + ip->ihl * 4 + 8, "zdtm", 4)) {
				close(s);
				return;
			}
		}
	}
	fail("no datagram for 10.127.0.2 came out of zdtm-tun0's fd");
}

/* the links' names, kinds, tun flags, MACs and MTUs as `ip -d` prints them */
#define STATE                                                                                                   \
	"ip -o -d link show | grep -o '^[0-9]*: zdtm-[a-z0-9]*\\|tun type [a-z]* pi [a-z]* vnet_hdr [a-z]* persist [a-z]*" \
	"\\|link/ether [0-9a-f:]*\\|mtu [0-9]*'"

static int has_link(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ip link show %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

int main(int argc, char **argv)
{
	int tun, mq1, mq2, free_fd, tap, vh = 12;

	test_init(argc, argv);
	if (!getenv("ZDTM_NEWNS"))
		fail("the test needs a network namespace of the tree's own (flavors ns and uns)");
	tun = tun_open("zdtm-tun0", IFF_TUN | IFF_NO_PI, 0);
	run_sh("ip addr add 10.127.0.1/24 dev zdtm-tun0 && ip link set zdtm-tun0 up");
	tap = tun_open("zdtm-tap0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, 0);
	if (ioctl(tap, TUNSETVNETHDRSZ, &vh) || ioctl(tap, TUNSETPERSIST, 1))
		fail("set up zdtm-tap0: %m");
	close(tap);
	run_sh("ip link set zdtm-tap0 address 02:00:00:00:cc:01 mtu 1400");
	mq1 = tun_open("zdtm-mq0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE, 0);
	mq2 = tun_open("zdtm-mq0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE, 0);
	{
		struct ifreq ifr = { .ifr_flags = IFF_DETACH_QUEUE };
		if (ioctl(mq2, TUNSETQUEUE, &ifr))
			fail("detach the second queue of zdtm-mq0: %m");
	}
	free_fd = tun_open(NULL, 0, O_NONBLOCK);
	carries(tun);
	save_output(STATE, "/tmp/tun.before");
	test_daemon();
	if (test_break()) {
		struct ifreq ifr = { .ifr_flags = IFF_DETACH_QUEUE };
		ioctl(mq1, TUNSETQUEUE, &ifr);
		test_msg("break: the first queue of zdtm-mq0 detached");
	}
	test_waitsig();

	expect_iff(tun, "zdtm-tun0", IFF_TUN | IFF_NO_PI);
	expect_iff(mq1, "zdtm-mq0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
	expect_iff(mq2, "zdtm-mq0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE | IFF_DETACH_QUEUE);
	if (!(fcntl(free_fd, F_GETFL) & O_NONBLOCK))
		fail("the unattached fd lost O_NONBLOCK");
	{
		struct ifreq ifr = { 0 };
		if (!ioctl(free_fd, TUNGETIFF, &ifr) || errno != EBADFD)
			fail("the unattached fd is attached to %s", ifr.ifr_name);
	}
	carries(tun);
	expect_output(STATE, "/tmp/tun.before", 0);
	close(tun);
	close(mq1);
	close(mq2);
	for (int i = 0; i < 50 && (has_link("zdtm-tun0") || has_link("zdtm-mq0")); i++)
		usleep(100000);
	if (has_link("zdtm-tun0") || has_link("zdtm-mq0"))
		fail("a link that was not persistent stays after its fds are closed");
	if (!has_link("zdtm-tap0"))
		fail("the persistent zdtm-tap0 is gone");
	pass();
}
