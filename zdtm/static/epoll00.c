/* epoll: registered fds with their events and data; readiness reported after the restore. */
#include "zdtmtst.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define NP 4

/*
 * "tfd:events:data" of each target, without the inode details, sorted: the kernel lists the
 * targets in the order of their struct file addresses, which a restore does not keep.
 */
static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int targets(int ep, char *out, size_t sz)
{
	char path[64], buf[4096], *p = buf, items[NP + 1][64], *sorted[NP + 1];
	size_t off = 0;
	int n = 0, i;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ep);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	while ((p = strstr(p, "tfd:")) && n <= NP) {
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
	return 0;
}

int main(int argc, char **argv)
{
	int ep, p[NP][2], i, n;
	uint32_t evs[NP] = { EPOLLIN, EPOLLIN | EPOLLET, EPOLLIN | EPOLLRDHUP, EPOLLIN | EPOLLONESHOT };
	char before[1024], after[1024];
	struct epoll_event e, got[NP + 1];

	test_init(argc, argv);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		fail("epoll_create1: %m");
	for (i = 0; i < NP; i++) {
		if (pipe(p[i]))
			fail("pipe: %m");
		e.events = evs[i];
		e.data.u64 = 0xabc0000000000000ull + i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, p[i][0], &e))
			fail("epoll_ctl: %m");
	}
	/* pipe 1 already has data: with ET it was reported once and must not be again */
	if (write(p[1][1], "e", 1) != 1 || epoll_wait(ep, got, NP, 0) != 1)
		fail("setup: the edge was not reported");
	if (targets(ep, before, sizeof(before)))
		fail("can't read fdinfo");
	test_daemon();
	if (test_break()) {
		epoll_ctl(ep, EPOLL_CTL_DEL, p[2][0], NULL);
		test_msg("break: removed pipe 2 from the epoll set");
	}
	test_waitsig();

	if (targets(ep, after, sizeof(after)))
		fail("can't read fdinfo");
	if (strcmp(before, after))
		fail("epoll targets '%s', expected '%s'", after, before);
	if (epoll_wait(ep, got, NP, 0) != 0)
		fail("events reported with nothing new");
	for (i = 0; i < NP; i++) {
		if (write(p[i][1], "x", 1) != 1)
			fail("write: %m");
		n = epoll_wait(ep, got, NP + 1, 1000);
		if (n != 1)
			fail("pipe %d: %d events", i, n);
		if (got[0].data.u64 != 0xabc0000000000000ull + i || !(got[0].events & EPOLLIN))
			fail("pipe %d: event %#x data %#llx", i, got[0].events, (unsigned long long)got[0].data.u64);
		char buf[8];
		read(p[i][0], buf, sizeof(buf));
	}
	pass();
}
