/* zdtm protocol: options, daemonization, credentials, SIGTERM, verdicts. */
#include "zdtmtst.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

char *test_filename, *test_dirname, *test_outfile, *test_pidfile;

#define MAX_EXTRA_OPTS 32
static struct { char *name, *value; } extra_opts[MAX_EXTRA_OPTS];
static int nr_extra_opts;

static volatile int32_t sig_received;
static int ready_pipe = -1;
static int force_suid;
static int break_mode = -1;
static pid_t main_pid;

const char *test_opt(const char *name)
{
	for (int i = 0; i < nr_extra_opts; i++)
		if (!strcmp(extra_opts[i].name, name))
			return extra_opts[i].value;
	return NULL;
}

bool test_break(void)
{
	if (break_mode < 0) {
		const char *b = getenv("ZDTM_BREAK");
		break_mode = b && !strcmp(b, "1");
	}
	return break_mode;
}

pid_t test_main_pid(void) { return main_pid; }
void test_set_suid(void) { force_suid = 1; }
volatile int *test_sig_flag(void) { return (volatile int *)&sig_received; }

int sys_futex(volatile int32_t *uaddr, int op, int val, const void *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

pid_t sys_gettid(void) { return syscall(SYS_gettid); }

static void vlog(const char *prefix, const char *fmt, va_list ap)
{
	char buf[4096];
	int saved = errno;
	int n = snprintf(buf, sizeof(buf), "%d: %s", (int)getpid(), prefix);
	errno = saved;
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(STDERR_FILENO, buf + off, n - off);
		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			break;
		}
		off += w;
	}
	errno = saved;
}

void test_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog("", fmt, ap);
	va_end(ap);
}

static void write_line(const char *s)
{
	size_t n = strlen(s);
	while (n) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		s += w;
		n -= w;
	}
}

void pass(void)
{
	if (main_pid && getpid() != main_pid) {
		test_msg("pass() called in a helper task");
		_exit(0);
	}
	write_line("PASS\n");
	exit(0);
}

void fail(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	if (main_pid && getpid() != main_pid) {
		/* A helper task: report in the log, the main task decides. */
		vlog("helper error: ", fmt, ap);
		va_end(ap);
		_exit(1);
	}
	n = snprintf(buf, sizeof(buf), "FAIL: ");
	n += vsnprintf(buf + n, sizeof(buf) - n - 2, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	/* the reason must stay on one line */
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	buf[n] = 0;
	write_line(buf);
	exit(1);
}

static void sigterm_handler(int sig)
{
	(void)sig;
	sig_received = 1;
	sys_futex(&sig_received, FUTEX_WAKE, INT_MAX, NULL);
}

bool test_go(void) { return !sig_received; }

void test_waitsig(void)
{
	while (!sig_received)
		sys_futex(&sig_received, FUTEX_WAIT, 0, NULL);
}

/* test_daemon writes its byte, then closes the pipe: the runner records the tree's fds when
 * the pidfile appears, so the pidfile waits until the test's end of the pipe is closed (its
 * fd no longer names the pipe), or the test is gone, or 10 s passed. */
static void wait_ready_closed(pid_t pid, int rfd, int wfd)
{
	char link[64], want[64], got[64];
	struct stat st;
	ssize_t n;

	if (fstat(rfd, &st))
		return;
	snprintf(want, sizeof(want), "pipe:[%lu]", (unsigned long)st.st_ino);
	snprintf(link, sizeof(link), "/proc/%d/fd/%d", pid, wfd);
	for (int i = 0; i < 10000; i++) {
		n = readlink(link, got, sizeof(got) - 1);
		if (n < 0)
			return;
		got[n] = 0;
		if (strcmp(got, want))
			return;
		usleep(1000);
	}
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s --pidfile=P --outfile=O [--filename=F] [--dirname=D] [--NAME=VALUE]\n", prog);
	exit(2);
}

static void parse_opts(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i], *name, *val;
		char **dst = NULL;

		if (!strcmp(a, "-o") || !strcmp(a, "-p") || !strcmp(a, "-f") || !strcmp(a, "-d")) {
			if (i + 1 >= argc)
				usage(argv[0]);
			switch (a[1]) {
			case 'o': test_outfile = argv[++i]; break;
			case 'p': test_pidfile = argv[++i]; break;
			case 'f': test_filename = argv[++i]; break;
			case 'd': test_dirname = argv[++i]; break;
			}
			continue;
		}
		if (strncmp(a, "--", 2))
			usage(argv[0]);
		name = strdup(a + 2);
		val = strchr(name, '=');
		if (val)
			*val++ = 0;
		else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
			val = argv[++i];
		else
			val = "";
		if (!strcmp(name, "pidfile"))
			dst = &test_pidfile;
		else if (!strcmp(name, "outfile"))
			dst = &test_outfile;
		else if (!strcmp(name, "filename"))
			dst = &test_filename;
		else if (!strcmp(name, "dirname"))
			dst = &test_dirname;
		if (dst) {
			*dst = val;
		} else if (nr_extra_opts < MAX_EXTRA_OPTS) {
			extra_opts[nr_extra_opts].name = name;
			extra_opts[nr_extra_opts].value = val;
			nr_extra_opts++;
		}
	}
	if (!test_pidfile || !test_outfile)
		usage(argv[0]);
}

static void write_pidfile(pid_t pid)
{
	char tmp[PATH_MAX], buf[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", test_pidfile, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pr_perror("can't create %s", tmp);
		exit(1);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, n) != n || fsync(fd) || close(fd)) {
		pr_perror("can't write %s", tmp);
		unlink(tmp);
		exit(1);
	}
	if (rename(tmp, test_pidfile)) {
		pr_perror("can't rename %s to %s", tmp, test_pidfile);
		unlink(tmp);
		exit(1);
	}
}

static void drop_credentials(void)
{
	gid_t groups[] = { ZDTM_GROUP1, ZDTM_GROUP2 };

	if (geteuid() != 0) {
		test_msg("not root: keeping uid %d", (int)geteuid());
		return;
	}
	if (setgroups(2, groups) || setresgid(ZDTM_GID, ZDTM_GID, ZDTM_GID) ||
	    setresuid(ZDTM_UID, ZDTM_UID, ZDTM_UID)) {
		pr_perror("can't drop credentials");
		exit(1);
	}
	/* the uid change cleared it: keep /proc/self owned by us */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) {
		pr_perror("PR_SET_DUMPABLE");
		exit(1);
	}
}

void __test_init(int argc, char **argv, int suid)
{
	int fd, p[2];
	pid_t pid;
	char c;
	struct sigaction sa;

	parse_opts(argc, argv);
	test_break();

	fd = open(test_outfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "can't open %s: %m\n", test_outfile);
		exit(1);
	}
	if (!suid && !force_suid && geteuid() == 0 && fchown(fd, ZDTM_UID, ZDTM_GID)) {
		fprintf(stderr, "can't chown %s: %m\n", test_outfile);
		exit(1);
	}
	if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
		fprintf(stderr, "can't redirect output: %m\n");
		exit(1);
	}
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0) {
		pr_perror("can't open /dev/null");
		exit(1);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	/* nothing the launcher inherited belongs to the test's state */
	if (syscall(SYS_close_range, 3, ~0u, 0)) {
		for (int i = 3; i < 1024; i++)
			close(i);
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);

	if (pipe2(p, O_CLOEXEC)) {
		pr_perror("pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		pr_perror("fork");
		exit(1);
	}
	if (pid > 0) {
		int status;

		close(p[1]);
		if (read(p[0], &c, 1) == 1) {
			wait_ready_closed(pid, p[0], p[1]);
			write_pidfile(pid);
			_exit(0);
		}
		if (waitpid(pid, &status, 0) == pid) {
			if (WIFEXITED(status))
				test_msg("test exited with %d before it was set up", WEXITSTATUS(status));
			else
				test_msg("test killed by signal %d before it was set up", WTERMSIG(status));
		}
		_exit(1);
	}

	close(p[0]);
	ready_pipe = p[1];
	main_pid = getpid();
	if (setsid() < 0) {
		pr_perror("setsid");
		exit(1);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sigterm_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL)) {
		pr_perror("sigaction(SIGTERM)");
		exit(1);
	}

	if (!suid && !force_suid)
		drop_credentials();
	if (test_break())
		test_msg("break mode: the state will be corrupted on purpose");
}

void test_daemon(void)
{
	char c = 'R';

	if (ready_pipe < 0)
		return;
	if (write(ready_pipe, &c, 1) != 1) {
		pr_perror("can't notify the parent");
		exit(1);
	}
	close(ready_pipe);
	ready_pipe = -1;
}
