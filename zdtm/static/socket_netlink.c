/* Netlink sockets: a route socket bound (port id chosen by the kernel) to groups below 32 and,
 * by NETLINK_ADD_MEMBERSHIP, to one above 32; an unbound route socket; a route socket connected
 * to the kernel; a sock_diag socket bound to a port id of its own. After the restore each has
 * its name, its groups, its peer and its options (SO_RCVBUF, SO_PASSCRED) again, and each still works: the route sockets ask the
 * kernel for `lo` and the sock_diag socket for the netlink sockets, and the answers come back
 * addressed to their port ids. The groups are DECnet's and MCTP's, which nothing here sends to
 * (a message queued at the dump would make it refuse, as CRIU does). */
#include "zdtmtst.h"
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/netlink_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#define GROUPS ((1 << (13 - 1)) | (1 << (16 - 1))) /* RTNLGRP_DECnet_IFADDR, RTNLGRP_DECnet_RULE */
#define HIGH_GROUP 34				    /* RTNLGRP_MCTP_IFADDR */

static int nl(int proto)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, proto);
	if (fd < 0)
		fail("socket(%d): %m", proto);
	return fd;
}

static struct sockaddr_nl name_of(int fd)
{
	struct sockaddr_nl a;
	socklen_t l = sizeof(a);
	if (getsockname(fd, (void *)&a, &l))
		fail("getsockname: %m");
	return a;
}

static struct sockaddr_nl peer_of(int fd)
{
	struct sockaddr_nl a;
	socklen_t l = sizeof(a);
	if (getpeername(fd, (void *)&a, &l))
		fail("getpeername: %m");
	return a;
}

static int sockopt(int fd, int opt)
{
	int v = 0;
	socklen_t l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, opt, &v, &l))
		fail("getsockopt(%d): %m", opt);
	return v;
}

static int memberships(int fd, unsigned int *g, int n)
{
	socklen_t l = n * sizeof(*g);
	memset(g, 0, l);
	if (getsockopt(fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, g, &l))
		fail("NETLINK_LIST_MEMBERSHIPS: %m");
	return l;
}

/* sends `req` (its first bytes a nlmsghdr) and reads the answers until one with `seq`: each must be addressed to `pid` */
static void ask(int fd, void *req, size_t len, unsigned int seq, unsigned int pid, const char *what)
{
	static char buf[1 << 16];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	if (sendto(fd, req, len, 0, (void *)&kernel, sizeof(kernel)) != (ssize_t)len)
		fail("%s: send: %m", what);
	if (!pid) /* autobound by the send */
		pid = name_of(fd).nl_pid;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;
		if (n < 0)
			fail("%s: recv: %m", what);
		for (h = (void *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_pid != pid)
				fail("%s: an answer for port id %u, not %u", what, h->nlmsg_pid, pid);
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				if (e->error)
					fail("%s: the kernel answered %d", what, e->error);
				return;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return;
			if (!(h->nlmsg_flags & NLM_F_MULTI))
				return;
		}
	}
}

static void ask_link(int fd, unsigned int seq, unsigned int pid, const char *what)
{
	struct {
		struct nlmsghdr h;
		struct ifinfomsg i;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = seq },
		  .i = { .ifi_family = AF_UNSPEC, .ifi_index = 1 } };
	ask(fd, &req, sizeof(req), seq, pid, what);
}

static void ask_diag(int fd, unsigned int seq, unsigned int pid)
{
	struct {
		struct nlmsghdr h;
		struct netlink_diag_req r;
	} req = { .h = { .nlmsg_len = sizeof(req), .nlmsg_type = SOCK_DIAG_BY_FAMILY, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = seq },
		  .r = { .sdiag_family = AF_NETLINK, .sdiag_protocol = NDIAG_PROTO_ALL } };
	ask(fd, &req, sizeof(req), seq, pid, "sock_diag");
}

int main(int argc, char **argv)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_groups = GROUPS }, n1, n3, p3, n4, x;
	unsigned int g0[4], g1[4];
	int rt1, rt2, rt3, dg, high = HIGH_GROUP, l0, l1, rcvbuf;

	test_init(argc, argv);
	rt1 = nl(NETLINK_ROUTE);
	if (bind(rt1, (void *)&a, sizeof(a)))
		fail("bind: %m");
	if (setsockopt(rt1, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &high, sizeof(high)))
		fail("NETLINK_ADD_MEMBERSHIP: %m");
	n1 = name_of(rt1);
	l0 = memberships(rt1, g0, 4);
	if (setsockopt(rt1, SOL_SOCKET, SO_RCVBUF, &(int){ 65536 }, sizeof(int)))
		fail("SO_RCVBUF: %m");
	rcvbuf = sockopt(rt1, SO_RCVBUF);

	rt2 = nl(NETLINK_ROUTE);

	rt3 = nl(NETLINK_ROUTE);
	memset(&a, 0, sizeof(a));
	a.nl_family = AF_NETLINK;
	if (connect(rt3, (void *)&a, sizeof(a)))
		fail("connect: %m");
	n3 = name_of(rt3);
	p3 = peer_of(rt3);

	dg = nl(NETLINK_SOCK_DIAG);
	a.nl_pid = 0x5a000000 | (getpid() & 0xffffff);
	if (bind(dg, (void *)&a, sizeof(a)))
		fail("bind sock_diag: %m");
	n4 = name_of(dg);
	if (setsockopt(dg, SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)))
		fail("SO_PASSCRED: %m");
	test_msg("route socket port id %u groups %#x, connected one %u, sock_diag %u\n", n1.nl_pid, n1.nl_groups, n3.nl_pid, n4.nl_pid);

	test_daemon();
	if (test_break()) {
		if (setsockopt(rt1, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &high, sizeof(high)))
			fail("NETLINK_DROP_MEMBERSHIP: %m");
		test_msg("break: group %d left\n", high);
	}
	test_waitsig();

	x = name_of(rt1);
	if (x.nl_pid != n1.nl_pid || x.nl_groups != n1.nl_groups)
		fail("the route socket is %u/%#x, it was %u/%#x", x.nl_pid, x.nl_groups, n1.nl_pid, n1.nl_groups);
	l1 = memberships(rt1, g1, 4);
	if (l1 != l0 || memcmp(g0, g1, l0 < (int)sizeof(g0) ? l0 : (int)sizeof(g0)))
		fail("the route socket's groups are %#x %#x, they were %#x %#x", g1[0], g1[1], g0[0], g0[1]);
	if (sockopt(rt1, SO_RCVBUF) != rcvbuf)
		fail("SO_RCVBUF is %d, it was %d", sockopt(rt1, SO_RCVBUF), rcvbuf);
	if (!sockopt(dg, SO_PASSCRED))
		fail("SO_PASSCRED is off on the sock_diag socket");
	x = name_of(rt2);
	if (x.nl_pid != 0 || x.nl_groups != 0)
		fail("the unbound socket is bound to %u/%#x", x.nl_pid, x.nl_groups);
	x = name_of(rt3);
	if (x.nl_pid != n3.nl_pid)
		fail("the connected socket is on port id %u, it was %u", x.nl_pid, n3.nl_pid);
	x = peer_of(rt3);
	if (x.nl_pid != p3.nl_pid || x.nl_groups != p3.nl_groups)
		fail("the connected socket's peer is %u/%#x, it was %u/%#x", x.nl_pid, x.nl_groups, p3.nl_pid, p3.nl_groups);
	x = name_of(dg);
	if (x.nl_pid != n4.nl_pid)
		fail("the sock_diag socket is on port id %u, it was %u", x.nl_pid, n4.nl_pid);

	ask_link(rt1, 11, n1.nl_pid, "bound route socket");
	ask_link(rt3, 12, n3.nl_pid, "connected route socket");
	ask_diag(dg, 13, n4.nl_pid);
	/* the unbound one is bound by its first request, to a port id of the kernel's choice */
	ask_link(rt2, 14, 0, "unbound route socket");
	pass();
}
