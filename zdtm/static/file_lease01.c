/*
 * Leases being broken, across checkpoint/restore (needs --file-locks):
 *  a: a read lease (O_RDONLY) a writer's non-blocking open broke: breaking to F_UNLCK;
 *  b: a write lease (on an O_RDONLY fd, so that it can be downgraded) a reader's non-blocking
 *     open broke: being downgraded to F_RDLCK;
 *  c: a write lease (O_RDWR) with F_SETSIG SIGRTMIN+1, broken while that signal is blocked, so
 *     the holder's notice is pending at dump time;
 *  d: a read lease (O_RDONLY) a child breaks with a blocking open for writing: the child is
 *     blocked in open() when the tree is dumped.
 * After restore each lease is still being broken towards the same type (fdinfo BREAKING,
 * F_GETLEASE, a conflicting non-blocking open still fails with EWOULDBLOCK); the holder got
 * exactly one lease signal for each break, none again at restore (a ghost signal); c's pending
 * signal comes once, with its fd; b can be downgraded and readers then open it; once the test
 * gives d's lease up the child's open goes through.
 */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 64

static volatile sig_atomic_t notices[MAXFD], stray;

static void on_sigio(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_fd >= 0 && si->si_fd < MAXFD)
		notices[si->si_fd]++;
	else
		stray++;
}

static void make(const char *name)
{
	int t = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (t < 0 || write(t, "x", 1) != 1 || close(t))
		fail("create %s: %m", name);
}

static int leased(const char *name, int mode, int type, int sig)
{
	int fd = open(name, mode);

	if (fd < 0 || fd >= MAXFD)
		fail("open %s: %m", name);
	if (fcntl(fd, F_SETLEASE, type))
		fail("F_SETLEASE %d on %s: %m", type, name);
	if (fcntl(fd, F_SETSIG, sig))
		fail("F_SETSIG on %s: %m", name);
	return fd;
}

/* a non-blocking open that a lease must refuse with EWOULDBLOCK */
static void refused_open(const char *name, int mode, const char *why)
{
	int fd = open(name, mode | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		fail("%s: a non-blocking open of %s went through", why, name);
	}
	if (errno != EWOULDBLOCK)
		fail("%s: a non-blocking open of %s: %m", why, name);
}

/* the lease line of fd's fdinfo: its state (ACTIVE, BREAKING) and type (READ, WRITE, UNLCK) */
static void lease_line(int fd, const char *state, const char *type)
{
	char path[64], buf[4096], st[32] = "", ty[32] = "";
	char *l;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) < 0)
		fail("read %s: %m", path);
	l = strstr(buf, " LEASE ");
	if (!l || sscanf(l, " LEASE %31s %31s", st, ty) != 2)
		fail("fd %d holds no lease (fdinfo: %s)", fd, buf);
	if (strcmp(st, state) || strcmp(ty, type))
		fail("fd %d: lease %s %s, expected %s %s", fd, st, ty, state, type);
}

static void lease_type(int fd, int want, const char *what)
{
	int t = fcntl(fd, F_GETLEASE);

	if (t != want)
		fail("%s: F_GETLEASE %d, expected %d (%m)", what, t, want);
}

/* waits (up to 10 s, for a signal that may never come) until fd has had `n` lease notices */
static void wait_notices(int fd, int n)
{
	for (int i = 0; i < 10000 && notices[fd] < n; i++)
		usleep(1000);
	if (notices[fd] != n)
		fail("fd %d: %d lease signal(s), expected %d", fd, (int)notices[fd], n);
}

int main(int argc, char **argv)
{
	char a[4096], b[4096], c[4096], d[4096], ch;
	struct sigaction sa;
	sigset_t rt;
	siginfo_t si;
	struct timespec zero = { 0, 0 };
	int fa, fb, fc, fdd, p[2], status, x;
	struct pollfd pfd;
	pid_t child;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigio;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGIO, &sa, NULL))
		fail("sigaction: %m");
	sigemptyset(&rt);
	sigaddset(&rt, SIGRTMIN + 1);
	if (sigprocmask(SIG_BLOCK, &rt, NULL))
		fail("sigprocmask: %m");
	snprintf(a, sizeof(a), "%s.a", test_filename);
	snprintf(b, sizeof(b), "%s.b", test_filename);
	snprintf(c, sizeof(c), "%s.c", test_filename);
	snprintf(d, sizeof(d), "%s.d", test_filename);
	make(a);
	make(b);
	make(c);
	make(d);

	fa = leased(a, O_RDONLY, F_RDLCK, SIGIO);
	refused_open(a, O_WRONLY, "breaking a");
	wait_notices(fa, 1);
	fb = leased(b, O_RDONLY, F_WRLCK, SIGIO);
	refused_open(b, O_RDONLY, "breaking b");
	wait_notices(fb, 1);
	fc = leased(c, O_RDWR, F_WRLCK, SIGRTMIN + 1);
	refused_open(c, O_WRONLY, "breaking c");
	fdd = leased(d, O_RDONLY, F_RDLCK, SIGIO);
	if (pipe(p))
		fail("pipe: %m");
	child = fork();
	if (child < 0)
		fail("fork: %m");
	if (child == 0) {
		close(fa);
		close(fb);
		close(fc);
		close(fdd);
		close(p[0]);
		/* blocks until the lease is given up (or lease-break-time passes) */
		x = open(d, O_WRONLY);
		if (x < 0 || write(p[1], "o", 1) != 1)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	/* the break reaches the holder once the child's open waits on it */
	wait_notices(fdd, 1);
	lease_line(fa, "BREAKING", "UNLCK");
	lease_line(fb, "BREAKING", "READ");
	lease_line(fc, "BREAKING", "UNLCK");
	lease_line(fdd, "BREAKING", "UNLCK");

	test_daemon();
	if (test_break()) {
		if (fcntl(fa, F_SETLEASE, F_UNLCK))
			fail("break: F_SETLEASE F_UNLCK: %m");
		test_msg("break: a's lease was given up");
	}
	test_waitsig();

	/* a */
	lease_line(fa, "BREAKING", "UNLCK");
	lease_type(fa, F_UNLCK, "a");
	refused_open(a, O_WRONLY, "a after restore");
	/* b: a reader's open still waits; once downgraded, readers get in */
	lease_line(fb, "BREAKING", "READ");
	lease_type(fb, F_RDLCK, "b");
	refused_open(b, O_RDONLY, "b after restore");
	if (fcntl(fb, F_SETLEASE, F_RDLCK))
		fail("b: downgrade to F_RDLCK: %m");
	lease_line(fb, "ACTIVE", "READ");
	x = open(b, O_RDONLY | O_NONBLOCK);
	if (x < 0)
		fail("b: a reader's open after the downgrade: %m");
	close(x);
	/* c: its notice was pending at dump time and comes once, with its fd */
	lease_line(fc, "BREAKING", "UNLCK");
	if (fcntl(fc, F_GETSIG) != SIGRTMIN + 1)
		fail("c: F_GETSIG %d, expected %d", fcntl(fc, F_GETSIG), SIGRTMIN + 1);
	if (sigtimedwait(&rt, &si, &zero) != SIGRTMIN + 1)
		fail("c: its pending lease signal is gone (%m)");
	if (si.si_fd != fc)
		fail("c: the lease signal names fd %d, not %d", si.si_fd, fc);
	if (sigtimedwait(&rt, &si, &zero) >= 0)
		fail("c: a second lease signal (fd %d)", si.si_fd);
	/* d: the child still waits in open(); it gets in once the lease is given up */
	lease_line(fdd, "BREAKING", "UNLCK");
	pfd.fd = p[0];
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 0)
		fail("d: the child's open went through before the lease was given up");
	if (fcntl(fdd, F_SETLEASE, F_UNLCK))
		fail("d: F_SETLEASE F_UNLCK: %m");
	if (poll(&pfd, 1, 10000) != 1 || read(p[0], &ch, 1) != 1 || ch != 'o')
		fail("d: the child's open does not go through once the lease is given up");
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("d: the child failed (status 0x%x)", status);
	/* one notice per break, none at restore */
	if (notices[fa] != 1 || notices[fb] != 1 || notices[fdd] != 1 || stray)
		fail("lease signals: a %d, b %d, d %d (1 each expected), %d stray", (int)notices[fa], (int)notices[fb], (int)notices[fdd], (int)stray);
	for (x = 0; x < MAXFD; x++)
		if (x != fa && x != fb && x != fdd && notices[x])
			fail("a lease signal for fd %d", x);
	pass();
}
