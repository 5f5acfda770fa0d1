/*
 * Holds one of each fd kind of criu/src/files for the unit tests (files.spec.ts).
 * fdkinds DIR JSON [clean]: DIR is a directory of its own; a child in a new session builds the
 * fds, writes its pid and their numbers as one JSON object to JSON (atomically), and sleeps
 * until killed; the parent exits when the file is there. With "clean", the fds the tool refuses
 * (an owned eventfd, an epoll with a closed target, a linked remap) are left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define die(what) do { perror(what); exit(1); } while (0)

static char path[4096];
static const char *at(const char *dir, const char *name)
{
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

int main(int argc, char **argv)
{
	const char *dir = argv[1], *out = argv[2];
	int clean = argc > 3;
	sigset_t m;
	struct itimerspec its = {0};
	struct timespec now;
	struct epoll_event ev;
	char page[4096], tmp[4200];
	int f, owned = -1, epgone = -1, linked = -1;
	FILE *o;
	pid_t child;

	if (argc < 3) {
		fprintf(stderr, "usage: fdkinds DIR JSON [clean]\n");
		return 2;
	}
	child = fork();
	if (child < 0) die("fork");
	if (child) {
		for (int i = 0; i < 1000 && access(out, F_OK); i++)
			usleep(10000);
		return access(out, F_OK) ? 1 : 0;
	}
	setsid();
	f = open("/dev/null", O_RDWR);
	dup2(f, 0); dup2(f, 1); dup2(f, 2);
	if (f > 2) close(f);

	/* signalfd */
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	int sfd = signalfd(-1, &m, SFD_NONBLOCK);
	/* timerfds: relative periodic, absolute, expired with a tick */
	int trel = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	its.it_value.tv_sec = 1000;
	its.it_interval.tv_sec = 7;
	its.it_interval.tv_nsec = 5000;
	if (timerfd_settime(trel, 0, &its, NULL)) die("timerfd_settime");
	int tabs = timerfd_create(CLOCK_REALTIME, 0);
	clock_gettime(CLOCK_REALTIME, &now);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = now.tv_sec + 500;
	if (timerfd_settime(tabs, TFD_TIMER_ABSTIME, &its, NULL)) die("timerfd_settime abs");
	int tick = timerfd_create(CLOCK_MONOTONIC, 0);
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = 1;
	if (timerfd_settime(tick, 0, &its, NULL)) die("timerfd_settime tick");
	usleep(10000);
	/* inotify on a directory and on a file in it */
	int ify = inotify_init1(IN_NONBLOCK);
	close(open(at(dir, "watched"), O_CREAT | O_WRONLY, 0644));
	int wd1 = inotify_add_watch(ify, dir, IN_CREATE | IN_DELETE);
	int wd2 = inotify_add_watch(ify, at(dir, "watched"), IN_MODIFY | IN_ONESHOT);
	if (wd1 < 0 || wd2 < 0) die("inotify_add_watch");
	/* eventfd in semaphore mode, and one with an owner */
	int efd = eventfd(5, EFD_SEMAPHORE | EFD_NONBLOCK);
	if (!clean) {
		owned = eventfd(0, 0);
		fcntl(owned, F_SETOWN, getpid());
	}
	/* epoll over the eventfd (level) and the signalfd (edge) */
	int ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u64 = 0x1234;
	epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
	ev.events = EPOLLIN | EPOLLET;
	ev.data.u64 = 0xfeedbeefcafe;
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	/* an epoll whose target fd was closed (the file lives on in a dup) */
	if (!clean) {
		int t1 = eventfd(0, 0);
		epgone = epoll_create1(0);
		if (dup(t1) < 0) die("dup");
		ev.events = EPOLLIN;
		epoll_ctl(epgone, EPOLL_CTL_ADD, t1, &ev);
		close(t1);
	}
	/* memfd: data pages around a hole, sealed; a second read-only description */
	int mfd = memfd_create("fdk-memfd", MFD_ALLOW_SEALING);
	memset(page, 'A', sizeof(page));
	pwrite(mfd, page, sizeof(page), 0);
	memset(page, 'B', sizeof(page));
	pwrite(mfd, page, sizeof(page), 3 * 4096);
	if (ftruncate(mfd, 5 * 4096 + 100)) die("ftruncate");
	fchmod(mfd, 0640);
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK)) die("F_ADD_SEALS");
	lseek(mfd, 77, SEEK_SET);
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", mfd);
	int mro = open(self, O_RDONLY);
	lseek(mro, 123, SEEK_SET);
	/* ghost files: a small one, a big sparse write-only one */
	int gsmall = open(at(dir, "small"), O_RDWR | O_CREAT, 0600);
	write(gsmall, "hello ghost", 11);
	lseek(gsmall, 3, SEEK_SET);
	unlink(at(dir, "small"));
	int gbig = open(at(dir, "big"), O_WRONLY | O_CREAT, 0640);
	memset(page, 'C', sizeof(page));
	pwrite(gbig, page, sizeof(page), 0);
	memset(page, 'D', sizeof(page));
	pwrite(gbig, page, sizeof(page), 8 * 4096);
	if (ftruncate(gbig, 16 * 4096)) die("ftruncate big");
	unlink(at(dir, "big"));
	/* removed from one directory, still linked in another (a linked remap) */
	if (!clean) {
		linked = open(at(dir, "linked"), O_RDWR | O_CREAT, 0600);
		char other[4096];
		snprintf(other, sizeof(other), "%s/linked2", dir);
		if (link(at(dir, "linked"), other)) die("link");
		unlink(at(dir, "linked"));
	}
	/* a FIFO of which only a write end is left, with data */
	mkfifo(at(dir, "fifo"), 0600);
	int keep = open(at(dir, "fifo"), O_RDWR);
	int fw = open(at(dir, "fifo"), O_WRONLY);
	write(fw, "fifo bytes", 10);
	close(keep);
	if (sfd < 0 || trel < 0 || tabs < 0 || tick < 0 || ify < 0 || efd < 0 || ep < 0 || mfd < 0 || mro < 0 ||
	    gsmall < 0 || gbig < 0 || fw < 0 || (!clean && (linked < 0 || owned < 0 || epgone < 0)))
		die("setup");
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	o = fopen(tmp, "w");
	if (!o) die("fopen");
	fprintf(o, "{\"pid\":%d,", getpid());
	fprintf(o, "\"sfd\":%d,\"trel\":%d,\"tabs\":%d,\"tick\":%d,\"ify\":%d,\"wd1\":%d,\"wd2\":%d,\"efd\":%d,"
	       "\"owned\":%d,\"ep\":%d,\"epgone\":%d,\"mfd\":%d,\"mro\":%d,\"gsmall\":%d,\"gbig\":%d,\"linked\":%d,\"fw\":%d}\n",
	       sfd, trel, tabs, tick, ify, wd1, wd2, efd, owned, ep, epgone, mfd, mro, gsmall, gbig, linked, fw);
	fclose(o);
	rename(tmp, out);
	for (;;)
		pause();
}
