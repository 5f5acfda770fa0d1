/* A program for criu/test/ns-pid.spec.ts, started as init of a pid namespace of its own
 * (`unshare --pid --fork nspid …`; it refuses to run as anything but pid 1). It makes a session,
 * forks child A (pid 2, leader of process group 2), child B (pid 3, in A's group), child C
 * (pid 4, exits with 7 and stays a zombie), a thread, and in MODE nested child N: init of a pid
 * namespace below (clone(CLONE_NEWPID)) with a child of its own there. Every task saves
 * getpid()/getppid()/gettid()/getpgrp() at start, writes its host pid (readlink /proc/self:
 * the host's /proc) to PIDFILE (the root) and waits for SIGTERM; then each checks its values
 * again, the root reaps the zombie (status 7) and its children (their exit codes: failed
 * checks) and writes PASS or FAIL to OUTFILE. The root also holds a pidfd of A and a unix socket
 * whose SIGIO owner is A, and B a POSIX lock on OUTFILE.lock (dumped with --file-locks): the images
 * hold their pids, checked after the restore.
 *   nspid OUTFILE PIDFILE MODE [break]
 * MODE: plain or nested. break: the root's saved pid of A is wrong, so the program FAILs.
 *   nspid --hold PID: a process on host pid PID, for a test that needs it taken. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static char msgs[8192];
static int fails;
#define CHECK(c, ...)                                                                          \
	do {                                                                                   \
		if (!(c)) {                                                                    \
			fails++;                                                               \
			snprintf(msgs + strlen(msgs), sizeof msgs - strlen(msgs), "FAIL: " __VA_ARGS__); \
			strncat(msgs, "\n", sizeof msgs - strlen(msgs) - 1);                 \
		}                                                                              \
	} while (0)

struct ids { pid_t pid, ppid, pgrp, sid; };
static struct ids now(void) { return (struct ids){ getpid(), getppid(), getpgrp(), getsid(0) }; }

static void check_ids(const char *who, struct ids want)
{
	struct ids got = now();
	CHECK(got.pid == want.pid, "%s: getpid() %d, was %d", who, got.pid, want.pid);
	CHECK(got.ppid == want.ppid, "%s: getppid() %d, was %d", who, got.ppid, want.ppid);
	CHECK(got.pgrp == want.pgrp, "%s: getpgrp() %d, was %d", who, got.pgrp, want.pgrp);
	CHECK(got.sid == want.sid, "%s: getsid() %d, was %d", who, got.sid, want.sid);
}

static void wait_term(void)
{
	while (!stop) pause();
}

/* a child: saves its ids, waits, checks them; its exit code is its failures */
static void child_body(const char *who)
{
	struct ids saved = now();
	wait_term();
	check_ids(who, saved);
	if (fails) fputs(msgs, stderr);
	_exit(fails);
}

static pid_t thread_tid_saved, thread_tid_now;
static volatile int thread_go;
static void *thread_fn(void *a)
{
	(void)a;
	thread_tid_saved = (pid_t)syscall(SYS_gettid);
	while (!thread_go) usleep(1000);
	thread_tid_now = (pid_t)syscall(SYS_gettid);
	return NULL;
}

static const char *lock_path; /* child B holds a POSIX lock on it (fork_child's lock) */

static pid_t fork_child(const char *who, int group)
{
	int ready[2];
	if (pipe(ready)) { perror("pipe"); exit(2); }
	pid_t p = fork();
	if (p < 0) { perror("fork"); exit(2); }
	if (p == 0) {
		if (group == 0) setpgid(0, 0);
		else if (group > 0) setpgid(0, group);
		if (group > 0 && lock_path) {
			int fd = open(lock_path, O_RDWR | O_CREAT, 0600);
			struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
			if (fd < 0 || fcntl(fd, F_SETLK, &fl)) { perror(lock_path); _exit(100); }
		}
		close(ready[0]);
		close(ready[1]);
		child_body(who);
	}
	close(ready[1]);
	char c;
	while (read(ready[0], &c, 1) < 0 && errno == EINTR);	/* EOF once the child is set up */
	close(ready[0]);
	if (group == 0) setpgid(p, p);
	else if (group > 0) setpgid(p, group);
	return p;
}

/* N: init of a pid namespace below the root's, with one child there */
static char nested_stack[1 << 16] __attribute__((aligned(16)));
static int nested_init(void *a)
{
	(void)a;
	signal(SIGTERM, on_term);
	struct ids saved = now();
	pid_t k = fork_child("nested child", -1);
	wait_term();
	check_ids("nested init", saved);
	CHECK(k == 2, "nested init: its child is %d, not 2", k);
	kill(k, SIGTERM);
	int st;
	CHECK(waitpid(k, &st, 0) == k && WIFEXITED(st) && WEXITSTATUS(st) == 0, "nested init: its child %d failed (status 0x%x)", k, st);
	if (fails) fputs(msgs, stderr);
	return fails;
}

/* nspid --hold PID: a process on host pid PID (clone3 set_tid), left running, for a test that
 * needs a pid taken */
static int hold(pid_t want)
{
	struct { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size; } ca;
	memset(&ca, 0, sizeof ca);
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	long r = syscall(SYS_clone3, &ca, sizeof ca);
	if (r < 0) { perror("clone3(set_tid)"); return 2; }
	if (r == 0) {
		for (int fd = 0; fd < 3; fd++) close(fd);
		for (;;) pause();
	}
	printf("%ld\n", r);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--hold")) return hold(atoi(argv[2]));
	if (argc < 4) { fprintf(stderr, "usage: nspid OUTFILE PIDFILE MODE [break]\n"); return 2; }
	const char *outfile = argv[1], *pidfile = argv[2], *mode = argv[3];
	int brk = argc > 4 && !strcmp(argv[4], "break");
	int nested = !strcmp(mode, "nested");
	if (getpid() != 1) { fprintf(stderr, "nspid: pid %d: not init of its own pid namespace (run it under unshare --pid --fork)\n", getpid()); return 2; }
	signal(SIGTERM, on_term);
	if (setsid() < 0) { perror("setsid"); return 2; }
	int devnull = open("/dev/null", O_RDWR);
	dup2(devnull, 0);

	char lockfile[4096];
	snprintf(lockfile, sizeof lockfile, "%s.lock", outfile);
	lock_path = lockfile;
	pid_t a = fork_child("child A", 0);
	pid_t b = fork_child("child B", a);
	pid_t c = fork();
	if (c == 0) _exit(7);
	pid_t n = 0;
	if (nested) {
		n = clone(nested_init, nested_stack + sizeof nested_stack, CLONE_NEWPID | SIGCHLD, NULL);
		if (n < 0) { perror("clone(CLONE_NEWPID)"); return 2; }
	}
	/* a pidfd of A and a unix socket whose owner for SIGIO is A: pids the images hold */
	int pidfd = (int)syscall(SYS_pidfd_open, a, 0);
	if (pidfd < 0) { perror("pidfd_open"); return 2; }
	int sio[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sio) || fcntl(sio[0], F_SETOWN, a)) { perror("F_SETOWN"); return 2; }
	pthread_t th;
	pthread_create(&th, NULL, thread_fn, NULL);
	while (!thread_tid_saved) usleep(1000);
	/* the zombie is there before the pid is written */
	siginfo_t si;
	memset(&si, 0, sizeof si);
	while (waitid(P_PID, c, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR);
	struct ids saved = now();
	pid_t saved_a = brk ? a + 1 : a;

	char self[64] = "";
	if (readlink("/proc/self", self, sizeof self - 1) < 0) { perror("readlink /proc/self"); return 2; }
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
	FILE *pf = fopen(tmp, "w");
	if (!pf) { perror(tmp); return 2; }
	fprintf(pf, "%s\n", self);
	fclose(pf);
	rename(tmp, pidfile);

	wait_term();
	check_ids("root", saved);
	CHECK(saved.pid == 1 && saved.ppid == 0, "root: pid %d ppid %d at start", saved.pid, saved.ppid);
	CHECK(a == 2 && b == 3 && c == 4, "children %d %d %d, not 2 3 4", a, b, c);
	CHECK(a == saved_a, "child A is %d, %d was saved", a, saved_a);
	CHECK(fcntl(sio[0], F_GETOWN) == a, "socket: F_GETOWN %d, not child A %d", fcntl(sio[0], F_GETOWN), a);
	char info[256], line[256];
	snprintf(info, sizeof info, "/proc/self/fdinfo/%d", pidfd);
	FILE *fi = fopen(info, "r");
	int nspid_last = -1;
	while (fi && fgets(line, sizeof line, fi))
		if (!strncmp(line, "NSpid:", 6)) { char *sp = strrchr(line, '\t'); if (!sp) sp = strrchr(line, ' '); nspid_last = atoi(sp ? sp + 1 : line + 6); }
	if (fi) fclose(fi);
	CHECK(nspid_last == a, "pidfd: NSpid ends in %d, not child A %d", nspid_last, a);
	int lfd = open(lockfile, O_RDWR);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
	CHECK(lfd >= 0 && fcntl(lfd, F_GETLK, &fl) == 0 && fl.l_type == F_WRLCK && fl.l_pid == b, "lock: held by %d (type %d), not child B %d", fl.l_pid, fl.l_type, b);
	thread_go = 1;
	pthread_join(th, NULL);
	CHECK(thread_tid_now == thread_tid_saved, "thread: gettid() %d, was %d", thread_tid_now, thread_tid_saved);
	int st;
	CHECK(waitpid(c, &st, WNOHANG) == c && WIFEXITED(st) && WEXITSTATUS(st) == 7, "zombie %d: not reaped with status 7 (0x%x)", c, st);
	pid_t kids[3] = { a, b, n };
	const char *names[3] = { "child A", "child B", "nested init" };
	for (int i = 0; i < 3; i++) {
		if (!kids[i]) continue;
		kill(kids[i], SIGTERM);
		st = 0;
		pid_t r = waitpid(kids[i], &st, 0);
		CHECK(r == kids[i] && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s (%d): %d failed check(s) (status 0x%x)", names[i], kids[i],
		      WIFEXITED(st) ? WEXITSTATUS(st) : -1, st);
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", outfile);
	FILE *o = fopen(tmp, "w");
	if (!o) return 2;
	fputs(msgs, o);
	fprintf(o, "%s\n", fails ? "FAIL" : "PASS");
	fclose(o);
	rename(tmp, outfile);
	return fails ? 1 : 0;
}
