/* Sockets criu refuses, for criu/test/servers.spec.ts: each mode makes one and waits.
 *   established PORT  a TCP connection to 127.0.0.1:PORT
 *   inflight          a listener on 127.0.0.1 that accepts nothing (the test connects to it)
 *   netns             a TCP socket made in a network namespace of its own, held from the tool's
 *   raw | netlink | packet   a raw IPv4 (ICMP), a NETLINK_ROUTE, an AF_PACKET socket
 * It prints "ready PORT" (0 when there is no port) and sleeps until killed. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	const char *mode = argc > 1 ? argv[1] : "";
	int fd, port = 0;

	if (!strcmp(mode, "established")) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		a.sin_port = htons(atoi(argv[2]));
		if (connect(fd, (void *)&a, sizeof(a)))
			die("connect");
		getsockname(fd, (void *)&a, &len);
		port = ntohs(a.sin_port);
	} else if (!strcmp(mode, "inflight")) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, 8))
			die("listen");
		getsockname(fd, (void *)&a, &len);
		port = ntohs(a.sin_port);
	} else if (!strcmp(mode, "netns")) {
		int mine = open("/proc/self/ns/net", O_RDONLY);
		if (mine < 0 || unshare(CLONE_NEWNET))
			die("unshare");
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || setns(mine, CLONE_NEWNET))
			die("setns");
		close(mine);
	} else if (!strcmp(mode, "raw")) {
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	} else if (!strcmp(mode, "netlink")) {
		fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	} else if (!strcmp(mode, "packet")) {
		fd = socket(AF_PACKET, SOCK_RAW, 0);
	} else {
		fprintf(stderr, "usage: inetsk established PORT | inflight | netns | raw | netlink | packet\n");
		return 2;
	}
	if (fd < 0)
		die("socket");
	if (fd != 3) { /* the test looks at fd 3 */
		if (dup2(fd, 3) != 3)
			die("dup2");
		close(fd);
	}
	printf("ready %d\n", port);
	fflush(stdout);
	for (;;)
		pause();
}
