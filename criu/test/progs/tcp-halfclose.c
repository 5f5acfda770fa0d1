/* A TCP server for criu/test/tcp.spec.ts's half-closed connections: listens on 127.0.0.1,
 * prints "port N", accepts one client and then reports, one line each, every change of the
 * connection's TCP state ("state N"), the data it reads ("data TEXT") and end-of-file ("eof").
 * It shuts its side down (SHUT_WR) on SIGUSR1 or at end-of-file, and never closes the
 * socket, so that it can be dumped in FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT or LAST_ACK. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t bye;
static void on_usr1(int sig)
{
	(void)sig;
	bye = 1;
}

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), c, last = -1, shut = 0, eof = 0;
	char buf[256];

	if (l < 0 || bind(l, (void *)&a, len) || listen(l, 1) || getsockname(l, (void *)&a, &len))
		return 1;
	signal(SIGUSR1, on_usr1);
	printf("port %d\n", ntohs(a.sin_port));
	fflush(stdout);
	c = accept(l, NULL, NULL);
	if (c < 0)
		return 1;
	for (;;) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		struct pollfd p = { .fd = c, .events = eof ? 0 : POLLIN };

		if (getsockopt(c, SOL_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state != last) {
			last = ti.tcpi_state;
			printf("state %d\n", last);
			fflush(stdout);
		}
		if (bye && !shut) {
			shutdown(c, SHUT_WR);
			shut = 1;
		}
		if (poll(&p, 1, 20) == 1 && (p.revents & POLLIN)) {
			ssize_t n = read(c, buf, sizeof(buf) - 1);
			if (n > 0) {
				buf[n] = 0;
				buf[strcspn(buf, "\n")] = 0;
				printf("data %s\n", buf);
			} else if (n == 0) {
				printf("eof\n");
				eof = 1;
				if (!shut) {
					shutdown(c, SHUT_WR);
					shut = 1;
				}
			}
			fflush(stdout);
		}
	}
}
