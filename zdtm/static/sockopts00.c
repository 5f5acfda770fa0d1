/* The options of TCP and UDP sockets that CRIU saves: each set to a value other than its
 * default before the dump, read back after the restore and compared one by one. A listening
 * socket without SO_REUSEADDR keeps it off (the restore turns it on only while binding). */
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct opt {
	int *fd;
	int level, name;
	const char *what;
	int size; /* 0: an int */
	char before[32];
	socklen_t len;
};

static int tcp4, tcp6, udp4, lst;

#define O(fd, l, n) { &fd, l, n, #fd " " #n, 0 }
#define OS(fd, l, n, sz) { &fd, l, n, #fd " " #n, sz }
static struct opt opts[] = {
	O(tcp4, SOL_SOCKET, SO_REUSEADDR),
	O(tcp4, SOL_SOCKET, SO_REUSEPORT),
	O(tcp4, SOL_SOCKET, SO_KEEPALIVE),
	O(tcp4, SOL_TCP, TCP_KEEPIDLE),
	O(tcp4, SOL_TCP, TCP_KEEPINTVL),
	O(tcp4, SOL_TCP, TCP_KEEPCNT),
	O(tcp4, SOL_TCP, TCP_NODELAY),
	O(tcp4, SOL_TCP, TCP_CORK),
	O(tcp4, SOL_SOCKET, SO_SNDBUF),
	O(tcp4, SOL_SOCKET, SO_RCVBUF),
	O(tcp4, SOL_SOCKET, SO_PRIORITY),
	O(tcp4, SOL_SOCKET, SO_RCVLOWAT),
	O(tcp4, SOL_SOCKET, SO_MARK),
	O(tcp4, SOL_SOCKET, SO_OOBINLINE),
	O(tcp4, SOL_SOCKET, SO_DONTROUTE),
	OS(tcp4, SOL_SOCKET, SO_LINGER, sizeof(struct linger)),
	OS(tcp4, SOL_SOCKET, SO_SNDTIMEO, sizeof(struct timeval)),
	OS(tcp4, SOL_SOCKET, SO_RCVTIMEO, sizeof(struct timeval)),
	O(tcp4, SOL_IP, IP_TOS),
	O(tcp4, SOL_IP, IP_TTL),
	O(tcp4, SOL_IP, IP_FREEBIND),
	OS(tcp4, SOL_SOCKET, SO_BINDTODEVICE, IFNAMSIZ),
	O(tcp6, SOL_IPV6, IPV6_V6ONLY),
	O(tcp6, SOL_IPV6, IPV6_RECVPKTINFO),
	O(tcp6, SOL_SOCKET, SO_KEEPALIVE),
	O(udp4, SOL_SOCKET, SO_BROADCAST),
	O(udp4, SOL_IP, IP_PKTINFO),
	O(udp4, SOL_IP, IP_TTL),
	O(udp4, SOL_SOCKET, SO_RCVBUF),
	O(udp4, SOL_SOCKET, SO_REUSEADDR),
	O(lst, SOL_SOCKET, SO_REUSEADDR),
	O(lst, SOL_SOCKET, SO_REUSEPORT),
	O(lst, SOL_TCP, TCP_NODELAY),
};
#define N (int)(sizeof(opts) / sizeof(opts[0]))

static void seti(int fd, int level, int name, int v)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)))
		fail("setsockopt(%d, %d): %m", level, name);
}

static void read_all(char (*out)[32], socklen_t *lens)
{
	for (int i = 0; i < N; i++) {
		lens[i] = opts[i].size ? opts[i].size : sizeof(int);
		memset(out[i], 0, 32);
		if (getsockopt(*opts[i].fd, opts[i].level, opts[i].name, out[i], &lens[i]))
			fail("getsockopt %s: %m", opts[i].what);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct linger lg = { 1, 7 };
	struct timeval sto = { 3, 500000 }, rto = { 11, 0 };
	char after[N][32], before[N][32];
	socklen_t la[N], lb[N];

	test_set_suid(); /* SO_MARK and SO_BINDTODEVICE need CAP_NET_ADMIN/CAP_NET_RAW */
	test_init(argc, argv);
	tcp4 = socket(AF_INET, SOCK_STREAM, 0);
	tcp6 = socket(AF_INET6, SOCK_STREAM, 0);
	udp4 = socket(AF_INET, SOCK_DGRAM, 0);
	lst = socket(AF_INET, SOCK_STREAM, 0);
	if (tcp4 < 0 || tcp6 < 0 || udp4 < 0 || lst < 0)
		fail("socket: %m");
	seti(tcp4, SOL_SOCKET, SO_REUSEADDR, 1);
	seti(tcp4, SOL_SOCKET, SO_REUSEPORT, 1);
	seti(tcp4, SOL_SOCKET, SO_KEEPALIVE, 1);
	seti(tcp4, SOL_TCP, TCP_KEEPIDLE, 33);
	seti(tcp4, SOL_TCP, TCP_KEEPINTVL, 7);
	seti(tcp4, SOL_TCP, TCP_KEEPCNT, 4);
	seti(tcp4, SOL_TCP, TCP_NODELAY, 1);
	seti(tcp4, SOL_TCP, TCP_CORK, 1);
	seti(tcp4, SOL_SOCKET, SO_SNDBUF, 50000);
	seti(tcp4, SOL_SOCKET, SO_RCVBUF, 70000);
	seti(tcp4, SOL_SOCKET, SO_PRIORITY, 5);
	seti(tcp4, SOL_SOCKET, SO_RCVLOWAT, 17);
	seti(tcp4, SOL_SOCKET, SO_MARK, 0x1234);
	seti(tcp4, SOL_SOCKET, SO_OOBINLINE, 1);
	seti(tcp4, SOL_SOCKET, SO_DONTROUTE, 1);
	setsockopt(tcp4, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	setsockopt(tcp4, SOL_SOCKET, SO_SNDTIMEO, &sto, sizeof(sto));
	setsockopt(tcp4, SOL_SOCKET, SO_RCVTIMEO, &rto, sizeof(rto));
	seti(tcp4, SOL_IP, IP_TOS, 0x10);
	seti(tcp4, SOL_IP, IP_TTL, 33);
	seti(tcp4, SOL_IP, IP_FREEBIND, 1);
	if (setsockopt(tcp4, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3))
		fail("SO_BINDTODEVICE: %m");
	if (bind(tcp4, (void *)&a, sizeof(a)))
		fail("bind: %m");
	seti(tcp6, SOL_IPV6, IPV6_V6ONLY, 1);
	seti(tcp6, SOL_IPV6, IPV6_RECVPKTINFO, 1);
	seti(tcp6, SOL_SOCKET, SO_KEEPALIVE, 1);
	seti(udp4, SOL_SOCKET, SO_BROADCAST, 1);
	seti(udp4, SOL_IP, IP_PKTINFO, 1);
	seti(udp4, SOL_IP, IP_TTL, 200);
	seti(udp4, SOL_SOCKET, SO_RCVBUF, 40000);
	seti(udp4, SOL_SOCKET, SO_REUSEADDR, 1);
	if (bind(udp4, (void *)&a, sizeof(a)))
		fail("bind: %m");
	seti(lst, SOL_TCP, TCP_NODELAY, 1);
	if (bind(lst, (void *)&a, sizeof(a)) || listen(lst, 4))
		fail("bind/listen: %m");
	read_all(before, lb);
	test_daemon();
	if (test_break()) {
		seti(tcp4, SOL_TCP, TCP_KEEPIDLE, 34);
		test_msg("break: TCP_KEEPIDLE changed");
	}
	test_waitsig();

	read_all(after, la);
	for (int i = 0; i < N; i++)
		if (la[i] != lb[i] || memcmp(after[i], before[i], la[i]))
			fail("%s: %d (%d bytes) before, %d (%d bytes) after", opts[i].what, *(int *)before[i], lb[i], *(int *)after[i], la[i]);
	pass();
}
