/* Times a command from exec to exit, with CLOCK_MONOTONIC, away from Node's event loop.
 *
 *   timeit RESULT -- CMD ARGS...
 *       writes "WALL_NS STATUS -1 EXEC_REALTIME_NS EXIT_REALTIME_NS MAXRSS_KIB\n" to RESULT (STATUS
 *       as from waitpid; the CLOCK_REALTIME stamps are to compare with the time stamps of files;
 *       MAXRSS_KIB the peak RSS of CMD and of the descendants it waited for)
 *   timeit --ping PIDFILE PINGFILE TIMEOUT_MS RESULT -- CMD ARGS...
 *       after CMD exits 0 (a `criu restore -d`), sends SIGUSR1 to the PID in PIDFILE and waits
 *       for PINGFILE to appear (the restored workload answers): the same line with
 *       ANSWER_NS (in place of -1) from exec of CMD to the answer, -1 if none came in TIMEOUT_MS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* wall-clock time, to compare with file time stamps */
static int64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL, *pingfile = NULL, *result;
	long timeout_ms = 0;
	int i = 1;

	if (argc > 1 && !strcmp(argv[1], "--ping")) {
		if (argc < 7)
			goto usage;
		pidfile = argv[2];
		pingfile = argv[3];
		timeout_ms = atol(argv[4]);
		i = 5;
	}
	if (argc < i + 3 || strcmp(argv[i + 1], "--"))
		goto usage;
	result = argv[i];
	char **cmd = argv + i + 2;

	int64_t r0 = real_ns(), t0 = now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "timeit: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("waitpid");
			return 2;
		}
	int64_t t1 = now_ns(), r1 = real_ns(), answer = -1;

	if (pingfile && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		char buf[32] = "";
		FILE *f = fopen(pidfile, "r");
		pid_t target = 0;
		if (f) {
			if (fgets(buf, sizeof(buf), f))
				target = atoi(buf);
			fclose(f);
		}
		if (target > 0 && kill(target, SIGUSR1) == 0) {
			struct stat sb;
			struct timespec nap = { 0, 50000 };
			while (now_ns() - t1 < timeout_ms * 1000000LL) {
				if (stat(pingfile, &sb) == 0) {
					answer = now_ns() - t0;
					break;
				}
				nanosleep(&nap, NULL);
			}
		}
	}
	FILE *r = fopen(result, "w");
	if (!r) {
		perror(result);
		return 2;
	}
	/* the largest RSS of CMD and of every descendant it waited for (criu: its Node child) */
	struct rusage ru;
	long maxrss = getrusage(RUSAGE_CHILDREN, &ru) == 0 ? ru.ru_maxrss : -1;
	fprintf(r, "%lld %d %lld %lld %lld %ld\n", (long long)(t1 - t0), st, (long long)answer, (long long)r0, (long long)r1, maxrss);
	fclose(r);
	return 0;
usage:
	fprintf(stderr, "usage: timeit [--ping PIDFILE PINGFILE TIMEOUT_MS] RESULT -- CMD ARGS...\n");
	return 2;
}
