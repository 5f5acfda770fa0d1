/* A TCP client for criu/test/tcp.spec.ts: a non-blocking connect to 127.0.0.1:PORT (argv[1]),
 * then one line "state N" for every change of the socket's TCP state; dumped in SYN_SENT while
 * the test drops its SYNs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <poll.h>
int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), last = -1;

	if (argc < 2)
		return 2;
	a.sin_port = htons(atoi(argv[1]));
	connect(c, (void *)&a, sizeof(a));
	for (;;) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);

		if (getsockopt(c, SOL_TCP, TCP_INFO, &ti, &tl) == 0 && ti.tcpi_state != last) {
			last = ti.tcpi_state;
			printf("state %d\n", last);
			fflush(stdout);
		}
		usleep(20000);
	}
}
