/* A program for criu/test/ns-misc.spec.ts, started under `unshare --time --monotonic 1000
 * --boottime 1000 --fork`: it is in a time namespace 1000 s ahead of the host; it makes another one
 * (unshare(CLONE_NEWTIME), offsets 50000 s) and forks a child into it: a nested time namespace,
 * whose task's time_for_children differs from its own. Both sleep from one absolute
 * CLOCK_MONOTONIC deadline to the next. At SIGTERM the parent asks the child for its clocks:
 * CLOCK_MONOTONIC and CLOCK_BOOTTIME must read 49000 s (+-2 s) ahead of the parent's, neither may
 * have gone back in either task, and the child must still be in the namespace the parent's
 * children get.
 *   nstime OUTFILE PIDFILE MODE [break]
 * MODE: nested; alone (no child: the dump refuses a time_for_children no task lives in). break: the child moves into the parent's time namespace (setns) before the
 * dump, so the clocks no longer differ by 49000 s and the program FAILs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif
#define NS 1000000000LL

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static int64_t now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * NS + ts.tv_nsec;
}

/* sleep to the next 0.1 s deadline; 1 if a clock went back */
static int tick(int64_t *last_m, int64_t *last_b, int64_t *deadline)
{
	*deadline += NS / 10;
	struct timespec d = { *deadline / NS, *deadline % NS };
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL);
	int64_t m = now(CLOCK_MONOTONIC), b = now(CLOCK_BOOTTIME);
	int back = m < *last_m || b < *last_b;
	if (m > *deadline + 10 * NS)
		*deadline = m; /* a long stop (the dump): go on from here */
	*last_m = m, *last_b = b;
	return back;
}

static void link_of(pid_t pid, const char *ns, char *buf, size_t n)
{
	char p[64];
	memset(buf, 0, n);
	snprintf(p, sizeof p, "/proc/%d/ns/%s", pid, ns);
	if (readlink(p, buf, n - 1) < 0)
		snprintf(buf, n, "?");
}

int main(int argc, char **argv)
{
	if (argc < 4) return 2;
	int brk = argc > 4 && !strcmp(argv[4], "break");
	char a[64], b[64];
	link_of(getpid(), "time", a, sizeof a);
	link_of(getppid(), "time", b, sizeof b);
	if (!strcmp(a, b)) {
		fprintf(stderr, "nstime: run me under unshare --time --fork (I make time namespaces)\n");
		return 2;
	}
	if (fork()) return 0;
	setsid();
	FILE *out = fopen(argv[1], "w");
	if (!out) return 2;
	setvbuf(out, NULL, _IOLBF, 0);

	if (unshare(CLONE_NEWTIME)) { fprintf(out, "FAIL: unshare: %s\n", strerror(errno)); return 1; }
	int fd = open("/proc/self/timens_offsets", O_WRONLY);
	const char *offs = "1 50000 0\n7 50000 0\n";
	if (fd < 0 || write(fd, offs, strlen(offs)) < 0) { fprintf(out, "FAIL: timens_offsets: %s\n", strerror(errno)); return 1; }
	close(fd);

	if (!strcmp(argv[3], "alone")) {
		signal(SIGTERM, on_term);
		FILE *pf = fopen(argv[2], "w");
		fprintf(pf, "%d\n", getpid());
		fclose(pf);
		int64_t last_m = now(CLOCK_MONOTONIC), last_b = now(CLOCK_BOOTTIME), deadline = last_m;
		int back = 0;
		while (!stop) back |= tick(&last_m, &last_b, &deadline);
		fprintf(out, back ? "FAIL: a clock went back\n" : "PASS\n");
		return back;
	}
	int req[2], resp[2], ready[2];
	if (pipe(req) || pipe(resp) || pipe(ready)) return 2;
	pid_t child = fork();
	if (child == 0) {
		close(req[1]);
		close(resp[0]);
		if (brk) {
			int pfd = open("/proc/self/ns/time", O_RDONLY); /* ours: the nested one */
			char p[64];
			snprintf(p, sizeof p, "/proc/%d/ns/time", getppid());
			int theirs = open(p, O_RDONLY);
			if (theirs < 0 || setns(theirs, CLONE_NEWTIME)) fprintf(out, "break: setns: %s\n", strerror(errno));
			close(pfd);
			close(theirs);
		}
		close(ready[0]);
		if (write(ready[1], "r", 1) != 1) _exit(1);
		close(ready[1]);
		char c;
		while (read(req[0], &c, 1) == 1) {
			int64_t v[2] = { now(CLOCK_MONOTONIC), now(CLOCK_BOOTTIME) };
			if (write(resp[1], v, sizeof v) != sizeof v) _exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	close(ready[1]);
	char r;
	if (read(ready[0], &r, 1) != 1) { fprintf(out, "FAIL: the child did not start\n"); return 1; }
	close(ready[0]);
	signal(SIGTERM, on_term);

	FILE *pf = fopen(argv[2], "w");
	fprintf(pf, "%d\n", getpid());
	fclose(pf);

	int64_t last_m = now(CLOCK_MONOTONIC), last_b = now(CLOCK_BOOTTIME), deadline = last_m;
	int back = 0;
	while (!stop) back |= tick(&last_m, &last_b, &deadline);

	int fails = 0;
	if (back) fails++, fprintf(out, "FAIL: a clock of the parent went back\n");
	char mine[64], kid[64], kids[64];
	link_of(getpid(), "time_for_children", mine, sizeof mine);
	link_of(child, "time", kid, sizeof kid);
	link_of(getpid(), "time", kids, sizeof kids);
	if (strcmp(mine, kid)) fails++, fprintf(out, "FAIL: the child is in %s, the parent's children get %s\n", kid, mine);
	if (!strcmp(kids, kid)) fails++, fprintf(out, "FAIL: the child is in the parent's time namespace %s\n", kid);
	int64_t v[2];
	int64_t pm = now(CLOCK_MONOTONIC), pb = now(CLOCK_BOOTTIME);
	if (write(req[1], "?", 1) != 1 || read(resp[0], v, sizeof v) != sizeof v) {
		fails++, fprintf(out, "FAIL: the child does not answer\n");
	} else {
		int64_t dm = v[0] - pm, db = v[1] - pb;
		if (dm < 48998 * NS || dm > 49002 * NS || db < 48998 * NS || db > 49002 * NS)
			fails++, fprintf(out, "FAIL: the child's clocks are %lld, %lld ns ahead of the parent's, not 49000 s\n", (long long)dm, (long long)db);
	}
	if (pm < 1000 * NS) fails++, fprintf(out, "FAIL: the parent's monotonic clock %lld is not 1000 s ahead\n", (long long)pm);
	kill(child, SIGKILL);
	fprintf(out, fails ? "FAIL\n" : "PASS\n");
	return fails ? 1 : 0;
}
