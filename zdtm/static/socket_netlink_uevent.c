/* Netlink sockets talking to each other, as CRIU's sk-netlink test does (NETLINK_KOBJECT_UEVENT,
 * root): one bound to the task's pid as port id, one bound to group 32 only (the kernel's uevents
 * go to group 1), one connected to that port id and group 32, one unbound. After the restore the
 * connected one sends without an address and both the bound one (unicast) and the one in the
 * group (multicast) get the message; the unbound one sends to the bound one by its address. */
#define TEST_SUID
#include "zdtmtst.h"
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GROUP 32

static int nl(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT);
	if (fd < 0)
		fail("socket: %m");
	return fd;
}

static void expect_msg(int fd, unsigned int seq, const char *what)
{
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct nlmsghdr *h = (void *)buf;

	if (poll(&p, 1, 5000) != 1)
		fail("%s: no message", what);
	if (recv(fd, buf, sizeof(buf), 0) < (ssize_t)sizeof(*h))
		fail("%s: recv: %m", what);
	if (h->nlmsg_seq != seq || h->nlmsg_type != 0x1234)
		fail("%s: another message (type %#x seq %#x)", what, h->nlmsg_type, h->nlmsg_seq);
}

int main(int argc, char **argv)
{
	struct sockaddr_nl a = { .nl_family = AF_NETLINK };
	struct nlmsghdr req = { .nlmsg_len = sizeof(req), .nlmsg_type = 0x1234, .nlmsg_flags = NLM_F_REQUEST };
	int ssk, bsk, csk, dsk;

	test_init(argc, argv);
	ssk = nl();
	bsk = nl();
	csk = nl();
	dsk = nl();
	a.nl_pid = getpid();
	if (bind(ssk, (void *)&a, sizeof(a)))
		fail("bind port id: %m");
	a.nl_pid = 0;
	a.nl_groups = 1U << (GROUP - 1);
	if (bind(bsk, (void *)&a, sizeof(a)))
		fail("bind group: %m");
	a.nl_pid = getpid();
	if (connect(csk, (void *)&a, sizeof(a)))
		fail("connect: %m");

	test_daemon();
	if (test_break()) {
		struct sockaddr_nl u = { .nl_family = AF_UNSPEC };
		connect(csk, (void *)&u, sizeof(u));
		test_msg("break: the connected socket is disconnected\n");
	}
	test_waitsig();

	req.nlmsg_seq = 0xabcd;
	if (send(csk, &req, sizeof(req), 0) != sizeof(req))
		fail("send on the connection: %m");
	expect_msg(ssk, 0xabcd, "the bound socket");
	expect_msg(bsk, 0xabcd, "the socket in group 32");
	a.nl_pid = getpid();
	a.nl_groups = 0;
	req.nlmsg_seq = 0xabce;
	if (sendto(dsk, &req, sizeof(req), 0, (void *)&a, sizeof(a)) != sizeof(req))
		fail("sendto: %m");
	expect_msg(ssk, 0xabce, "the bound socket, from the unbound one");
	pass();
}
