/* A program for criu/test/ns-net.spec.ts: it moves into a network namespace of its own
 * (unshare(CLONE_NEWNET)), sets lo up with MTU 16000 and the addresses 10.77.0.1/24 and
 * fd00::77/64, changes net sysctls (net.unix.max_dgram_qlen, net.ipv4.conf.lo.accept_local,
 * net.ipv4.conf.all.log_martians, net.ipv6.conf.lo.hop_limit, net.ipv4.ping_group_range),
 * listens on TCP 10.77.0.1:7777 and binds UDP [fd00::77]:7778, writes its pid and waits for
 * SIGTERM; then it checks all of it (a connection to the listener, a datagram to the UDP socket)
 * and writes PASS or FAIL to the outfile.
 *   nsnet OUTFILE PIDFILE MODE [break]
 * MODE: plain; link (an ifb besides lo: the dump refuses it); route (a route in a table other
 * than main: refused); nft (an nftables table of its own: dumped and restored); empty (nothing set up but lo down:
 * for --empty-ns and --join-ns, where the checks are only that the sockets work).
 * break: lo's MTU is changed at SIGTERM, before the checks, so the program FAILs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static FILE *out;
static int fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; fprintf(out, "FAIL: " __VA_ARGS__); fputc('\n', out); } } while (0)

static void put(const char *file, const char *v)
{
	int fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, v, strlen(v)) < 0) { perror(file); exit(2); }
	close(fd);
}
static void get(const char *file, char *b, size_t n)
{
	memset(b, 0, n);
	int fd = open(file, O_RDONLY);
	if (fd < 0 || read(fd, b, n - 1) < 0) strcpy(b, "?");
	if (fd >= 0) close(fd);
	b[strcspn(b, "\n")] = 0;
}
static void sh(const char *cmd)
{
	if (system(cmd)) { fprintf(stderr, "nsnet: %s failed\n", cmd); exit(2); }
}

int main(int argc, char **argv)
{
	if (argc < 4) return 2;
	const char *mode = argv[3];
	int brk = argc > 4 && !strcmp(argv[4], "break");
	int empty = !strcmp(mode, "empty");
	if (unshare(CLONE_NEWNET)) { perror("unshare(CLONE_NEWNET)"); return 2; }
	if (fork()) return 0; /* the caller goes on; the program is its own session's leader */
	setsid();
	out = fopen(argv[1], "w");
	if (!out) return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);

	if (!empty) {
		sh("ip link set lo up mtu 16000 && ip addr add 10.77.0.1/24 dev lo && ip addr add fd00::77/64 dev lo nodad");
		put("/proc/sys/net/unix/max_dgram_qlen", "77");
		put("/proc/sys/net/ipv4/conf/lo/accept_local", "1");
		put("/proc/sys/net/ipv4/conf/all/log_martians", "1");
		put("/proc/sys/net/ipv6/conf/lo/hop_limit", "33");
		put("/proc/sys/net/ipv4/ping_group_range", "100 200");
	} else {
		sh("ip link set lo up && ip addr add 10.77.0.1/24 dev lo && ip addr add fd00::77/64 dev lo nodad");
	}
	if (!strcmp(mode, "link")) sh("ip link add criu-ts-ifb0 type ifb");
	if (!strcmp(mode, "route")) sh("ip route add 10.88.0.0/16 via 10.77.0.2 table 100");
	if (!strcmp(mode, "nft")) sh("nft add table inet criu_ts_mine");

	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(7777) };
	inet_pton(AF_INET, "10.77.0.1", &a4.sin_addr);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (void *)&a4, sizeof a4) || listen(l, 8)) { perror("tcp listener"); return 2; }
	int u = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(7778) };
	inet_pton(AF_INET6, "fd00::77", &a6.sin6_addr);
	if (bind(u, (void *)&a6, sizeof a6)) { perror("udp bind"); return 2; }

	char pb[32];
	snprintf(pb, sizeof pb, "%d\n", getpid());
	FILE *pf = fopen(argv[2], "w");
	fputs(pb, pf);
	fclose(pf);

	while (!stop) pause();
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr = { 0 };
	strcpy(ifr.ifr_name, "lo");
	if (brk) { ifr.ifr_mtu = 1500; ioctl(s, SIOCSIFMTU, &ifr); }

	char mine[64] = "", init[64] = "", b[128];
	readlink("/proc/self/ns/net", mine, sizeof mine - 1);
	readlink("/proc/1/ns/net", init, sizeof init - 1);
	CHECK(strcmp(mine, init), "in the network namespace of pid 1 (%s)", mine);
	if (!empty) {
		CHECK(!ioctl(s, SIOCGIFFLAGS, &ifr) && (ifr.ifr_flags & IFF_UP), "lo is down (flags 0x%x)", ifr.ifr_flags);
		CHECK(!ioctl(s, SIOCGIFMTU, &ifr) && ifr.ifr_mtu == 16000, "lo mtu %d", ifr.ifr_mtu);
		get("/proc/sys/net/unix/max_dgram_qlen", b, sizeof b);
		CHECK(!strcmp(b, "77"), "net.unix.max_dgram_qlen %s", b);
		get("/proc/sys/net/ipv4/conf/lo/accept_local", b, sizeof b);
		CHECK(!strcmp(b, "1"), "net.ipv4.conf.lo.accept_local %s", b);
		get("/proc/sys/net/ipv4/conf/all/log_martians", b, sizeof b);
		CHECK(!strcmp(b, "1"), "net.ipv4.conf.all.log_martians %s", b);
		get("/proc/sys/net/ipv6/conf/lo/hop_limit", b, sizeof b);
		CHECK(!strcmp(b, "33"), "net.ipv6.conf.lo.hop_limit %s", b);
		get("/proc/sys/net/ipv4/ping_group_range", b, sizeof b);
		CHECK(!strcmp(b, "100\t200"), "net.ipv4.ping_group_range %s", b);
		struct ifaddrs *ifa, *i;
		int v4 = 0, v6 = 0;
		getifaddrs(&ifa);
		for (i = ifa; i; i = i->ifa_next) {
			if (!i->ifa_addr || strcmp(i->ifa_name, "lo")) continue;
			char t[64] = "";
			if (i->ifa_addr->sa_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, t, sizeof t);
			if (i->ifa_addr->sa_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, t, sizeof t);
			v4 |= !strcmp(t, "10.77.0.1");
			v6 |= !strcmp(t, "fd00::77");
		}
		freeifaddrs(ifa);
		CHECK(v4 && v6, "addresses of lo: 10.77.0.1 %s, fd00::77 %s", v4 ? "there" : "missing", v6 ? "there" : "missing");
	}
	/* the listener takes a connection, the UDP socket a datagram */
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(!connect(c, (void *)&a4, sizeof a4), "connect to 10.77.0.1:7777: %s", strerror(errno));
	int acc = accept(l, NULL, NULL);
	CHECK(acc >= 0 && write(c, "x", 1) == 1 && read(acc, b, 1) == 1 && b[0] == 'x', "the listener's connection carries no byte");
	int u2 = socket(AF_INET6, SOCK_DGRAM, 0);
	CHECK(sendto(u2, "dgram", 5, 0, (void *)&a6, sizeof a6) == 5, "sendto [fd00::77]:7778: %s", strerror(errno));
	CHECK(recv(u, b, sizeof b, MSG_DONTWAIT) == 5 && !memcmp(b, "dgram", 5), "no datagram on [fd00::77]:7778");
	fputs(fails ? "FAIL\n" : "PASS\n", out);
	return 0;
}
