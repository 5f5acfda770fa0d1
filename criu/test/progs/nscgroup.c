/* A program for criu/test/ns-misc.spec.ts, started under `unshare --cgroup` in a cgroup of
 * the test's: it is init of nothing, only in a cgroup namespace of its own. It writes its pid
 * and waits for SIGTERM (the test moves it into a child cgroup `inner` of the unified
 * hierarchy meanwhile); then /proc/self/cgroup must read "0::/inner" (its cgroup seen from
 * inside its namespace) and every other hierarchy "/".
 *   nscgroup OUTFILE PIDFILE MODE [break]
 * MODE: plain. break: it expects "0::/elsewhere", so it FAILs. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

int main(int argc, char **argv)
{
	if (argc < 4) return 2;
	int brk = argc > 4 && !strcmp(argv[4], "break");
	char mine[64] = "", theirs[64] = "", pp[64];
	snprintf(pp, sizeof pp, "/proc/%d/ns/cgroup", getppid());
	if (readlink("/proc/self/ns/cgroup", mine, sizeof mine - 1) < 0 || readlink(pp, theirs, sizeof theirs - 1) < 0 || !strcmp(mine, theirs)) {
		fprintf(stderr, "nscgroup: run me under unshare --cgroup\n");
		return 2;
	}
	if (fork()) return 0;
	setsid();
	FILE *out = fopen(argv[1], "w");
	if (!out) return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	FILE *pf = fopen(argv[2], "w");
	fprintf(pf, "%d\n", getpid());
	fclose(pf);
	while (!stop) pause();
	/* the unified hierarchy's line; every other one (v1) at the namespace's root */
	char cg[256] = "", found[256] = "";
	int bad = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f) { fprintf(out, "FAIL: /proc/self/cgroup\n"); return 1; }
	while (fgets(cg, sizeof cg, f)) {
		if (!strncmp(cg, "0::", 3)) strcpy(found, cg);
		else if (!strstr(cg, ":/\n")) bad = 1, fprintf(out, "FAIL: not at its namespace's root: %s", cg);
	}
	fclose(f);
	const char *want = brk ? "0::/elsewhere\n" : "0::/inner\n";
	if (strcmp(found, want)) { fprintf(out, "FAIL: /proc/self/cgroup reads %s", found); return 1; }
	if (bad) { fprintf(out, "FAIL\n"); return 1; }
	fprintf(out, "PASS\n");
	return 0;
}
