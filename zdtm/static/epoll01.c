/* Nested epoll: an epoll watching another epoll (and fds with EPOLLOUT, EPOLLPRI, EPOLLRDHUP,
 * EPOLLEXCLUSIVE), the inner one watching a pipe, an eventfd and a socket. Targets and events
 * as fdinfo shows them, and readiness through both levels after the restore. */
#include "zdtmtst.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXT 8

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "tfd:events:data" of each target of epoll `ep`, sorted */
static int targets(int ep, char *out, size_t sz)
{
	char path[64], buf[4096], *p = buf, items[MAXT][64], *sorted[MAXT];
	size_t off = 0;
	int n = 0, i;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	while ((p = strstr(p, "tfd:")) && n < MAXT) {
		int tfd;
		unsigned ev;
		unsigned long long data;
		if (sscanf(p, "tfd: %d events: %x data: %llx", &tfd, &ev, &data) == 3) {
			snprintf(items[n], sizeof(items[n]), "%d:%x:%llx", tfd, ev, data);
			sorted[n] = items[n];
			n++;
		}
		p++;
	}
	qsort(sorted, n, sizeof(sorted[0]), cmp);
	out[0] = 0;
	for (i = 0; i < n; i++)
		off += snprintf(out + off, sz - off, "%s ", sorted[i]);
	return n;
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(int argc, char **argv)
{
	int outer, inner, pfd[2], efd, sk[2], n, outer2, inner2, p2[2];
	char in_before[1024], out_before[1024], in_after[1024], out_after[1024];
	struct epoll_event evs[MAXT];
	uint64_t v;

	test_init(argc, argv);
	/* an edge-triggered watcher at a lower fd than the epoll it watches, its edge already seen */
	outer2 = epoll_create1(0);
	inner2 = epoll_create1(0);
	if (outer2 < 0 || inner2 < 0 || pipe(p2) || write(p2[1], "y", 1) != 1)
		fail("setup: %m");
	if (add(inner2, p2[0], EPOLLIN, 0x4444) || add(outer2, inner2, EPOLLIN | EPOLLET, 0x5555))
		fail("epoll_ctl: %m");
	if (epoll_wait(outer2, evs, MAXT, 0) != 1 || epoll_wait(outer2, evs, MAXT, 0) != 0)
		fail("the edge-triggered watcher did not report its edge once");
	inner = epoll_create1(0);
	outer = epoll_create1(EPOLL_CLOEXEC);
	efd = eventfd(0, EFD_NONBLOCK);
	if (inner < 0 || outer < 0 || efd < 0 || pipe(pfd) || socketpair(AF_UNIX, SOCK_STREAM, 0, sk))
		fail("setup: %m");
	if (add(inner, pfd[0], EPOLLIN, 0x1111) || add(inner, efd, EPOLLIN | EPOLLET, 0x2222) ||
	    add(inner, sk[0], EPOLLIN | EPOLLPRI | EPOLLRDHUP, 0x3333))
		fail("epoll_ctl inner: %m");
	if (add(outer, inner, EPOLLIN, 0xaaaa) || add(outer, pfd[1], EPOLLOUT, 0xbbbb) || add(outer, sk[1], EPOLLIN | EPOLLEXCLUSIVE, 0xcccc))
		fail("epoll_ctl outer: %m");
	if (targets(inner, in_before, sizeof(in_before)) != 3 || targets(outer, out_before, sizeof(out_before)) != 3)
		fail("fdinfo does not list the targets");
	test_daemon();
	if (test_break()) {
		epoll_ctl(outer, EPOLL_CTL_DEL, inner, NULL);
		test_msg("break: the inner epoll is no longer watched");
	}
	test_waitsig();

	if (targets(inner, in_after, sizeof(in_after)) < 0 || targets(outer, out_after, sizeof(out_after)) < 0)
		fail("cannot read fdinfo");
	if (strcmp(in_before, in_after))
		fail("inner targets '%s', expected '%s'", in_after, in_before);
	if (strcmp(out_before, out_after))
		fail("outer targets '%s', expected '%s'", out_after, out_before);
	if ((n = epoll_wait(outer2, evs, MAXT, 0)) != 0)
		fail("the edge-triggered watcher of a ready epoll reports %d events again", n);
	if (epoll_wait(inner2, evs, MAXT, 0) != 1 || evs[0].data.u64 != 0x4444)
		fail("the inner epoll of the edge-triggered watcher lost its level-triggered pipe");
	/* only the pipe's write end is ready: the inner epoll has nothing */
	n = epoll_wait(outer, evs, MAXT, 0);
	if (n != 1 || evs[0].data.u64 != 0xbbbb || !(evs[0].events & EPOLLOUT))
		fail("outer epoll: %d events (first data %llx), expected only the pipe's EPOLLOUT", n, n > 0 ? (unsigned long long)evs[0].data.u64 : 0ULL);
	/* an event of the inner epoll wakes the outer one */
	v = 5;
	if (write(efd, &v, sizeof(v)) != sizeof(v))
		fail("write eventfd: %m");
	n = epoll_wait(outer, evs, MAXT, 0);
	if (n != 2)
		fail("outer epoll after the eventfd write: %d events, expected 2", n);
	n = epoll_wait(inner, evs, MAXT, 0);
	if (n != 1 || evs[0].data.u64 != 0x2222)
		fail("inner epoll: %d events (data %llx), expected the eventfd's", n, n > 0 ? (unsigned long long)evs[0].data.u64 : 0ULL);
	/* edge-triggered: reported once */
	if (epoll_wait(inner, evs, MAXT, 0) != 0)
		fail("the edge-triggered eventfd was reported twice");
	if (send(sk[1], "x", 1, MSG_OOB) != 1)
		fail("send OOB: %m");
	n = epoll_wait(inner, evs, MAXT, 0);
	if (n != 1 || evs[0].data.u64 != 0x3333 || !(evs[0].events & (EPOLLPRI | EPOLLIN)))
		fail("inner epoll after OOB data: %d events", n);
	pass();
}
