/* zdtm-subreaper: the zdtm runner's own reaper, one per test.
 *
 * It makes itself a child subreaper, then runs the commands the runner sends on stdin: the test
 * program, every `criu` call, the namespace launcher. Whatever they leave behind (the daemonized
 * test, a tree restored with --restore-detached) is re-parented here, and every orphan is reaped
 * at once with waitpid(-1), so the PIDs of a dumped tree are free again as soon as the tool kills
 * it (PID 1 reaps lazily).
 *
 * Requests on stdin, all fields NUL-terminated:
 *   TAG CWD OUT ERR NENV ENV... NARGV ARGV...   run ARGV (PATH lookup) with ENV added; CWD, OUT
 *                                               and ERR may be empty (inherit, /dev/null, =OUT)
 *   quit                                        kill everything that is left, reap it, exit
 * Reports on stdout, one line each:
 *   started TAG PID | exited TAG PID CODE | reaped PID CODE | error TAG MESSAGE
 * CODE is the exit status, or 128+signal. End of stdin (the runner is gone) or SIGTERM/SIGINT
 * act as `quit`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TRACKED 256

static struct { pid_t pid; char tag[64]; } tracked[MAX_TRACKED];
static char *inbuf;
static size_t inlen, incap;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static int code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

static void note_exit(pid_t pid, int status)
{
	for (int i = 0; i < MAX_TRACKED; i++)
		if (tracked[i].pid == pid) {
			say("exited %s %d %d\n", tracked[i].tag, pid, code_of(status));
			tracked[i].pid = 0;
			return;
		}
	say("reaped %d %d\n", pid, code_of(status));
}

static void reap_all(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		note_exit(pid, status);
}

/* SIGKILL every child (orphans re-parented here included); returns how many were found. */
static int kill_children(void)
{
	char path[64], buf[512];
	pid_t self = getpid();
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		int pid = atoi(de->d_name), fd, ppid;
		ssize_t r;
		char *p;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = 0;
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 2, "%*c %d", &ppid) != 1 || ppid != self)
			continue;
		kill(pid, SIGKILL);
		n++;
	}
	closedir(d);
	return n;
}

static void quit(int code)
{
	int status;
	pid_t pid;

	for (;;) {
		kill_children();
		pid = waitpid(-1, &status, 0);
		if (pid > 0) {
			note_exit(pid, status);
			continue;
		}
		if (errno == EINTR)
			continue;
		break;	/* ECHILD: nothing is left */
	}
	exit(code);
}

static void run(char **f, int nf, const sigset_t *oldmask)
{
	const char *tag = f[0], *cwd = f[1], *out = f[2], *err = f[3];
	int nenv, nargv;
	char **env, **argv;
	pid_t pid;
	int slot;

	if (nf < 6 || (nenv = atoi(f[4])) < 0 || 5 + nenv >= nf ||
	    (nargv = atoi(f[5 + nenv])) <= 0 || 6 + nenv + nargv != nf) {
		say("error %s malformed request\n", tag);
		return;
	}
	env = f + 5;
	argv = f + 6 + nenv;

	for (slot = 0; slot < MAX_TRACKED && tracked[slot].pid; slot++)
		;
	if (slot == MAX_TRACKED) {
		say("error %s too many commands\n", tag);
		return;
	}

	pid = fork();
	if (pid < 0) {
		say("error %s fork: %s\n", tag, strerror(errno));
		return;
	}
	if (pid == 0) {
		int fd;
		char **a;

		sigprocmask(SIG_SETMASK, oldmask, NULL);
		signal(SIGPIPE, SIG_DFL);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		fd = open(*out ? out : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		if (*err) {
			fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd < 0)
				_exit(126);
		}
		dup2(fd, 2);
		for (fd = 3; fd < 1024; fd++)
			close(fd);
		if (*cwd && chdir(cwd)) {
			dprintf(2, "zdtm-subreaper: chdir %s: %m\n", cwd);
			_exit(126);
		}
		for (a = env; a < env + nenv; a++)
			putenv(*a);
		execvp(argv[0], argv);
		dprintf(2, "zdtm-subreaper: exec %s: %m\n", argv[0]);
		_exit(127);
	}
	tracked[slot].pid = pid;
	snprintf(tracked[slot].tag, sizeof(tracked[slot].tag), "%s", tag);
	say("started %s %d\n", tracked[slot].tag, pid);
}

/* The next NUL-terminated field at *p, or NULL if it is not complete yet. */
static char *field(size_t *p)
{
	char *s = inbuf + *p, *z;

	if (*p >= inlen || !(z = memchr(s, 0, inlen - *p)))
		return NULL;
	*p = z - inbuf + 1;
	return s;
}

/* Runs the complete requests in inbuf, keeps a partial one for later. */
static void handle_input(const sigset_t *oldmask)
{
	size_t off = 0;

	for (;;) {
		char *f[1024], *s;
		int nf = 0, n;
		size_t p = off;

		if (!(s = field(&p)))
			break;
		if (!strcmp(s, "quit"))
			quit(0);
		f[nf++] = s;
		while (nf < 5 && (s = field(&p)))
			f[nf++] = s;
		if (nf < 5)
			break;
		n = atoi(f[4]);
		while (n-- > 0 && nf < 1000 && (s = field(&p)))
			f[nf++] = s;
		if (n >= 0 || !(s = field(&p)))
			break;
		f[nf++] = s;
		n = atoi(s);
		while (n-- > 0 && nf < 1023 && (s = field(&p)))
			f[nf++] = s;
		if (n >= 0)
			break;
		f[nf] = NULL;
		run(f, nf, oldmask);
		off = p;
	}
	memmove(inbuf, inbuf + off, inlen - off);
	inlen -= off;
}

int main(void)
{
	sigset_t mask, oldmask;
	struct pollfd pfd[2];
	int sfd;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
		perror("zdtm-subreaper: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, &oldmask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("zdtm-subreaper: signalfd");
		return 1;
	}
	incap = 1 << 16;
	inbuf = malloc(incap);
	say("ready %d\n", getpid());

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = 0, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("zdtm-subreaper: poll");
			quit(1);
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGCHLD)
					quit(0);
				break;
			}
			reap_all();
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r;

			if (incap - inlen < 4096) {
				incap *= 2;
				inbuf = realloc(inbuf, incap);
			}
			r = read(0, inbuf + inlen, incap - inlen);
			if (r <= 0) {
				if (r < 0 && errno == EINTR)
					continue;
				quit(0);
			}
			inlen += r;
			handle_input(&oldmask);
		}
	}
}
