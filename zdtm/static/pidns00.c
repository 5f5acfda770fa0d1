/* A pid namespace below the tree's: a child made with clone(CLONE_NEWPID) is init (pid 1) of
 * it and forks a grandchild there (pid 2) and a thread; each saves getpid()/getppid()/gettid()
 * before and checks them after the restore, and the test checks the host view of both (NSpid).
 * Break mode: the init's saved pid is changed, so its check FAILs. */
#define TEST_SUID
#include "zdtmtst.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static int pfd[2];	/* the init tells the test it is ready */
static volatile sig_atomic_t broken;
static void on_usr1(int s) { (void)s; broken = 1; }

static int check(const char *who, pid_t pid, pid_t ppid)
{
	int bad = 0;
	if (getpid() != pid) { test_msg("%s: getpid() %d, was %d", who, getpid(), pid); bad++; }
	if (getppid() != ppid) { test_msg("%s: getppid() %d, was %d", who, getppid(), ppid); bad++; }
	return bad;
}

static pid_t th_saved;
static volatile int th_go;
static pid_t th_now;
static void *thread_fn(void *a)
{
	(void)a;
	th_saved = syscall(SYS_gettid);
	while (!th_go) usleep(1000);
	th_now = syscall(SYS_gettid);
	return NULL;
}

static char stack[1 << 16] __attribute__((aligned(16)));
static int init_fn(void *a)
{
	(void)a;
	signal(SIGTERM, on_term);
	signal(SIGUSR1, on_usr1);
	pid_t me = getpid(), parent = getppid();
	pid_t k = fork();
	if (k == 0) {
		pid_t kme = getpid(), kp = getppid();
		while (!stop) pause();
		_exit(check("grandchild", kme, kp));
	}
	pthread_t th;
	pthread_create(&th, NULL, thread_fn, NULL);
	while (!th_saved) usleep(1000);
	if (write(pfd[1], &k, sizeof k) != sizeof k) _exit(100);
	while (!stop) pause();
	if (broken) me++;
	int bad = check("nested init", me, parent);
	if (me != 1 || k != 2) { test_msg("nested init: pid %d, its child %d: not 1 and 2", me, k); bad++; }
	th_go = 1;
	pthread_join(th, NULL);
	if (th_now != th_saved) { test_msg("nested thread: gettid() %d, was %d", th_now, th_saved); bad++; }
	kill(k, SIGTERM);
	int st = 0;
	if (waitpid(k, &st, 0) != k || !WIFEXITED(st) || WEXITSTATUS(st)) { test_msg("grandchild: status 0x%x", st); bad++; }
	return bad;
}

static int nspid_of(pid_t pid, int *v, int n)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f) return -1;
	int got = -1;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "NSpid:", 6)) continue;
		char *s = line + 6;
		got = 0;
		while (got < n && sscanf(s, "%d", &v[got]) == 1) {
			got++;
			while (*s == ' ' || *s == '\t') s++;
			while (*s && *s != ' ' && *s != '\t' && *s != '\n') s++;
		}
	}
	fclose(f);
	return got;
}

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (pipe(pfd)) fail("pipe: %m");
	pid_t init = clone(init_fn, stack + sizeof stack, CLONE_NEWPID | SIGCHLD, NULL);
	if (init < 0) fail("clone(CLONE_NEWPID): %m");
	pid_t k;
	if (read(pfd[0], &k, sizeof k) != sizeof k) fail("the nested init did not start");
	int before[4], nb = nspid_of(init, before, 4);
	if (nb < 2 || before[nb - 1] != 1) fail("the nested init is not pid 1 of its namespace");
	test_daemon();
	if (test_break()) {
		/* the init's saved pid goes wrong: its check fails */
		kill(init, SIGUSR1);
	}
	test_waitsig();
	int after[4], na = nspid_of(init, after, 4);
	if (na != nb || memcmp(before, after, sizeof(int) * nb)) fail("the nested init's NSpid changed (%d levels, %d before)", na, nb);
	kill(init, SIGTERM);
	int st = 0;
	if (waitpid(init, &st, 0) != init) fail("waitpid(%d): %m", init);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) fail("the nested pid namespace failed its checks (status 0x%x)", st);
	pass();
}
