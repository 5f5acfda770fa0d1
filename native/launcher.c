/* `criu`: the command users and container runtimes call.
 *
 * It stays the caller's child for the whole run and starts Node with the TypeScript tool as its
 * own child. Processes that must have a chosen PID are created here, on the tool's request,
 * with clone3(set_tid): as the launcher's children (so that a restore without -d can wait for
 * the root and exit with its status, as CRIU does), or with CLONE_PARENT as the caller's
 * children (-S/--restore-sibling). Each new process execs the static puppet.
 *
 *   criu ARGS...                  run the tool (node criu/bin/criu-boot.cjs ARGS...)
 *   criu --puppet-server FD       serve spawn requests on FD for a tool that runs without the
 *                                 launcher (library use); puppets become the tool's children
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/sched.h>
#include "common.h"

#ifndef NODE_PATH
#define NODE_PATH "node"
#endif

static char self_dir[PATH_MAX];
static pid_t tool_pid;

/* --exec-cmd: what LOP_EXEC asked to become once the tool is done (NULL: nothing) */
static char exec_buf[LAUNCHER_EXEC_MAX + 1];
static char **exec_argv;

struct exited { pid_t pid; int status; };
static struct exited exited[64];
static int nr_exited;

static void note_exit(pid_t pid, int status)
{
	if (nr_exited == 64)
		memmove(exited, exited + 1, sizeof(exited[0]) * 63), nr_exited--;
	exited[nr_exited++] = (struct exited){ pid, status };
}

static int find_exit(pid_t pid, int *status)
{
	for (int i = 0; i < nr_exited; i++)
		if (exited[i].pid == pid) {
			*status = exited[i].status;
			return 1;
		}
	return 0;
}

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

/* Runs in the new process: nothing but raw syscalls until the exec. */
static void become_puppet(int transport, int want_fd)
{
	char fdstr[16], path[PATH_MAX + 16];
	sigset_t none;

	if (transport != want_fd) {
		if (dup3(transport, want_fd, 0) < 0)
			_exit(120);
	} else {
		fcntl(want_fd, F_SETFD, 0);
	}
	if (want_fd > 0)
		syscall(SYS_close_range, 0, want_fd - 1, 0);
	syscall(SYS_close_range, want_fd + 1, ~0U, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	snprintf(fdstr, sizeof fdstr, "%d", want_fd);
	snprintf(path, sizeof path, "%s/puppet", self_dir);
	char *argv[] = { "puppet", fdstr, NULL };
	char *envp[] = { NULL };
	execve(path, argv, envp);
	_exit(121);
}

/* In a new user namespace: wait until the tool has written its maps (one byte on the
 * transport), then become the namespace's root, so that the puppet exec'd next has every
 * capability in it. Groups are dropped where setgroups is allowed (the restore sets the
 * task's own); with "deny" the launcher's stay. */
static void become_userns_root(int transport)
{
	char c;

	if (read(transport, &c, 1) != 1)
		_exit(122);
	if (syscall(SYS_setresgid, 0, 0, 0))
		_exit(123);
	syscall(SYS_setgroups, 0, NULL);
	if (syscall(SYS_setresuid, 0, 0, 0))
		_exit(124);
}

static int spawn(struct launcher_req *rq, int transport, int force_parent)
{
	struct clone_args ca;
	memset(&ca, 0, sizeof ca);
	ca.flags = rq->clone_flags;
	if ((rq->flags & LF_SIBLING) || force_parent)
		ca.flags |= CLONE_PARENT;
	ca.exit_signal = (ca.flags & CLONE_PARENT) ? 0 : (rq->exit_signal ? rq->exit_signal : SIGCHLD);
	if (ca.flags & CLONE_PARENT)
		ca.exit_signal = 0; /* the kernel keeps the parent's exit_signal with CLONE_PARENT */
	if (rq->nr_tids > 32)
		return -EINVAL;
	if (rq->nr_tids) {
		ca.set_tid = (uint64_t)(uintptr_t)rq->set_tid;
		ca.set_tid_size = rq->nr_tids;
	}
	long r = syscall(SYS_clone3, &ca, sizeof ca);
	if (r == 0 && (ca.flags & CLONE_NEWUSER))
		become_userns_root(transport);
	if (r == 0)
		become_puppet(transport, rq->transport_fd);
	return r < 0 ? -errno : (int)r;
}

/* The offsets of the namespace this process's children get, as /proc/self/timens_offsets
 * shows them (all zero on the host). */
static int read_offsets(struct timespec *mono, struct timespec *boot)
{
	char buf[256], name[32];
	long long s;
	long ns;
	FILE *f = fopen("/proc/self/timens_offsets", "re");
	if (!f)
		return -errno;
	memset(mono, 0, sizeof *mono);
	memset(boot, 0, sizeof *boot);
	while (fgets(buf, sizeof buf, f))
		if (sscanf(buf, "%31s %lld %ld", name, &s, &ns) == 3) {
			struct timespec *t = !strcmp(name, "monotonic") ? mono : !strcmp(name, "boottime") ? boot : NULL;
			if (t)
				t->tv_sec = s, t->tv_nsec = ns;
		}
	fclose(f);
	return 0;
}

/* want - (now - prev): the offset that makes the clock read `want` in the new namespace now */
static void offset_for(clockid_t clk, const int64_t *want, const struct timespec *prev, int64_t *out)
{
	struct timespec now;
	clock_gettime(clk, &now);
	int64_t ns = (want[0] - (now.tv_sec - prev->tv_sec)) * 1000000000LL + want[1] - (now.tv_nsec - prev->tv_nsec);
	out[0] = ns / 1000000000LL;
	out[1] = ns % 1000000000LL;
	if (out[1] < 0)
		out[1] += 1000000000LL, out[0]--;
}

/* A new time namespace for the children to come, its clocks continuing from rq->clocks. The
 * offsets must be written before the first task enters it, so this runs before any spawn. */
static int set_timens(const struct launcher_req *rq, struct launcher_resp *rs)
{
	struct timespec pm, pb;
	char line[96];
	int fd, r;

	if (unshare(CLONE_NEWTIME))
		return -errno;
	if ((r = read_offsets(&pm, &pb)) < 0)
		return r;
	offset_for(CLOCK_MONOTONIC, rq->clocks, &pm, rs->offsets);
	offset_for(CLOCK_BOOTTIME, rq->clocks + 2, &pb, rs->offsets + 2);
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (int i = 0; i < 2; i++) {
		int n = snprintf(line, sizeof line, "%d %lld %lld\n", i ? CLOCK_BOOTTIME : CLOCK_MONOTONIC,
				 (long long)rs->offsets[2 * i], (long long)rs->offsets[2 * i + 1]);
		if (write(fd, line, n) != n) {
			r = -errno;
			close(fd);
			return r;
		}
	}
	close(fd);
	return 0;
}

/* LOP_EXEC: the NUL-ended arguments in exec_buf[0 .. len) become exec_argv */
static int set_exec(size_t len)
{
	size_t n = 0;
	if (!len || exec_buf[len - 1] != 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		n += !exec_buf[i];
	free(exec_argv);
	exec_argv = calloc(n + 1, sizeof(char *));
	if (!exec_argv)
		return -ENOMEM;
	for (size_t i = 0, k = 0; i < len; i += strlen(exec_buf + i) + 1)
		exec_argv[k++] = exec_buf + i;
	return 0;
}

/* one request; returns 0 to go on, -1 when the peer closed */
static int serve_one(int sk, int force_parent, pid_t *wait_root)
{
	struct launcher_req rq;
	struct launcher_resp rs = { 0, 0, { 0 } };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov[2] = { { &rq, sizeof rq }, { exec_buf, LAUNCHER_EXEC_MAX } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	int fd = -1;

	memset(&rq, 0, sizeof rq);
	ssize_t n = recvmsg(sk, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
	switch (rq.op) {
	case LOP_SPAWN:
		rs.result = fd < 0 ? -EBADF : spawn(&rq, fd, force_parent);
		break;
	case LOP_WAIT_ROOT:
		*wait_root = rq.pid;
		rs.result = 0;
		break;
	case LOP_TIMENS:
		rs.result = set_timens(&rq, &rs);
		break;
	case LOP_EXEC:
		rs.result = (size_t)n > sizeof rq && !(mh.msg_flags & MSG_TRUNC) && !force_parent ? set_exec((size_t)n - sizeof rq) : -EINVAL;
		break;
	default:
		rs.result = -EINVAL;
	}
	if (fd >= 0)
		close(fd);
	if (send(sk, &rs, sizeof rs, MSG_NOSIGNAL) < 0)
		return -1;
	return 0;
}

static void reap(int sfd)
{
	struct signalfd_siginfo si;
	int st;
	pid_t p;
	while (read(sfd, &si, sizeof si) > 0)
		;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0)
		note_exit(p, st);
}

#if defined(__x86_64__)
#define NODE_ARCH "x64"
#elif defined(__aarch64__)
#define NODE_ARCH "arm64"
#else
#define NODE_ARCH "unknown"
#endif

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

/* What V8 sees of the CPU, hashed (FNV-1a): a snapshot holds V8's CPU features (its cache
 * version tag) and Node exits 14 on a blob made on another CPU, so a blob's name carries the key
 * of the CPU it was made on. x86_64: the CPUID leaves V8's base::CPU reads (vendor; signature and
 * features of leaf 1, not its APIC id; leaf 7; the extended leaves) and XCR0, what the kernel
 * enables of AVX; aarch64: the kernel's HWCAPs. */
static unsigned long long cpu_key(void)
{
	unsigned int w[24] = { 0 }, k = 0;
#if defined(__x86_64__)
	unsigned int a, b, c, d, max = __get_cpuid_max(0, NULL), emax = __get_cpuid_max(0x80000000, NULL);
	__cpuid(0, a, w[0], w[1], w[2]);
	__cpuid(1, w[3], b, w[4], w[5]);
	k = 6;
	if (w[4] & (1u << 27)) { /* OSXSAVE: XCR0 */
		__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
		w[k++] = a;
		w[k++] = d;
	}
	if (max >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		w[k++] = b;
		w[k++] = c;
		w[k++] = d;
	}
	static const unsigned int ext[] = { 0x80000001, 0x80000007, 0x80000008 };
	for (unsigned int i = 0; i < sizeof ext / sizeof ext[0] && ext[i] <= emax; i++) {
		unsigned int l = ext[i];
		__cpuid(l, a, b, c, d);
		w[k++] = l == 0x80000008 ? a : c;
		w[k++] = d;
	}
#elif defined(__aarch64__)
	unsigned long h1 = getauxval(AT_HWCAP), h2 = getauxval(AT_HWCAP2);
	w[k++] = h1;
	w[k++] = h1 >> 32;
	w[k++] = h2;
	w[k++] = h2 >> 32;
#endif
	unsigned long long h = 1469598103934665603ull;
	for (unsigned int i = 0; i < k * 4; i++) {
		h ^= ((unsigned char *)w)[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int newer(const struct stat *a, const char *path)
{
	struct stat b;
	if (stat(path, &b))
		return 0;
	return a->st_mtim.tv_sec > b.st_mtim.tv_sec ||
	       (a->st_mtim.tv_sec == b.st_mtim.tv_sec && a->st_mtim.tv_nsec >= b.st_mtim.tv_nsec);
}

/* The V8 start-up snapshot of the tool made on this CPU (criu/bundle.mjs): used when it is newer than the bundle
 * and the modules, and its record (BLOB.node) names this tree and the very Node binary that runs
 * (another Node refuses the blob and exits). NODE_OPTIONS may change V8's flags, which a blob
 * must match: the snapshot is left aside then, as with CRIU_NO_SNAPSHOT=1. */
static int snapshot_blob(const char *node, char *blob, size_t n)
{
	char dist[PATH_MAX + 32], path[2 * PATH_MAX + 16], root[PATH_MAX], real[PATH_MAX], rec[2 * PATH_MAX + 64];
	const char *opts = getenv("NODE_OPTIONS"), *off = getenv("CRIU_NO_SNAPSHOT");
	struct stat st, ns;
	if ((opts && *opts) || (off && *off && strcmp(off, "0")) || !strchr(node, '/'))
		return 0;
	snprintf(dist, sizeof dist, "%s/../../dist/criu/src", self_dir);
	snprintf(blob, n, "%s/criu.cjs." NODE_ARCH "-%016llx.blob", dist, cpu_key());
	if (stat(blob, &st))
		return 0;
	snprintf(path, sizeof path, "%s/criu.cjs", dist);
	if (!newer(&st, path))
		return 0;
	snprintf(path, sizeof path, "%s/cli/criu.js", dist);
	if (!newer(&st, path))
		return 0;
	snprintf(path, sizeof path, "%s.node", blob);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t len = fread(rec, 1, sizeof rec - 1, f);
	fclose(f);
	rec[len] = 0;
	snprintf(path, sizeof path, "%s/../..", self_dir);
	if (!realpath(path, root) || !realpath(node, real) || stat(real, &ns))
		return 0;
	char want[sizeof rec];
	snprintf(want, sizeof want, "%s\n%s\t%lld\t%lld\n", root, real, (long long)ns.st_size, (long long)ns.st_mtim.tv_sec);
	return !strcmp(rec, want);
}

static int run_tool(int argc, char **argv)
{
	int sv[2];
	sigset_t mask, old;
	pid_t wait_root = 0;
	char fdenv[32];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		perror("criu: socketpair");
		return 1;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	tool_pid = fork();
	if (tool_pid < 0) {
		perror("criu: fork");
		return 1;
	}
	if (tool_pid == 0) {
		char script[2 * PATH_MAX];
		const char *node = getenv("CRIU_NODE");
		const char *sc = getenv("CRIU_SCRIPT");
		sigprocmask(SIG_SETMASK, &old, NULL);
		dup3(sv[1], sv[1], 0);
		fcntl(sv[1], F_SETFD, 0);
		snprintf(fdenv, sizeof fdenv, "%d", sv[1]);
		setenv("CRIU_LAUNCHER_FD", fdenv, 1);
		char **nargv = calloc(argc + 8, sizeof(char *));
		int k = 0;
		nargv[k++] = (char *)(node ? node : NODE_PATH);
		if (!sc && snapshot_blob(nargv[0], script, sizeof script)) {
			/* node --snapshot-blob BLOB FLAGS -- ARGS: the flags as the blob was made with */
			nargv[k++] = "--snapshot-blob";
			nargv[k++] = script;
			nargv[k++] = "--no-warnings";
			nargv[k++] = "--stack-size=4000";
			nargv[k++] = "--min-semi-space-size=16";
			nargv[k++] = "--";
		} else {
			if (!sc) {
				snprintf(script, sizeof script, "%s/../../criu/bin/criu-boot.cjs", self_dir);
				sc = script;
			}
			nargv[k++] = "--no-warnings";
			nargv[k++] = "--stack-size=4000";
			nargv[k++] = "--min-semi-space-size=16";
			nargv[k++] = (char *)sc;
		}
		for (int i = 1; i < argc; i++)
			nargv[k++] = argv[i];
		nargv[k] = NULL;
		execv(nargv[0], nargv);
		if (!node && errno == ENOENT)
			execvp("node", nargv);
		fprintf(stderr, "criu: cannot start node (%s): %s\n", nargv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);

	int tool_status = -1;
	for (;;) {
		struct pollfd pf[2] = { { sv[0], POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(pf, 2, -1) < 0 && errno != EINTR)
			break;
		if (pf[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si)
				if (si.ssi_signo != SIGCHLD)
					kill(tool_pid, si.ssi_signo);
			int st;
			pid_t p;
			while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
				if (p == tool_pid)
					tool_status = st;
				else
					note_exit(p, st);
			}
		}
		if (pf[0].revents & POLLIN) {
			if (serve_one(sv[0], 0, &wait_root) < 0)
				pf[0].revents |= POLLHUP;
		}
		if ((pf[0].revents & (POLLHUP | POLLERR)) || tool_status != -1)
			break;
	}
	close(sv[0]);
	if (tool_status == -1) {
		while (waitpid(tool_pid, &tool_status, 0) < 0 && errno == EINTR)
			;
	}
	/* the puppets a failed restore killed: the tool traced them, and the kernel handed their
	 * zombies to us as it exited (before the tool's own exit, after its socket closed, which
	 * ended the loop above); reaped now, so that no pid of theirs is left once we exit */
	{
		int st;
		pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0)
			note_exit(p, st);
	}
	if (exit_code(tool_status) == 0 && exec_argv) {
		/* --exec-cmd: become the command, keeping the restored root as our child (CRIU
		 * execvp()s in the process that forked the root) */
		close(sfd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(exec_argv[0], exec_argv);
		fprintf(stderr, "Error (criu): Failed to exec command %s: %s\n", exec_argv[0], strerror(errno));
		return 1;
	}
	if (exit_code(tool_status) != 0 || !wait_root)
		return exit_code(tool_status);
	/* a restore without -d: wait for the restored root and exit with its status */
	int st;
	for (;;) {
		if (find_exit(wait_root, &st))
			return exit_code(st);
		pid_t p = waitpid(-1, &st, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		note_exit(p, st);
		(void)reap;
	}
}

static int run_server(int sk)
{
	pid_t dummy = 0;
	while (serve_one(sk, 1, &dummy) == 0)
		;
	return 0;
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0) {
		perror("criu: readlink /proc/self/exe");
		return 1;
	}
	exe[n] = 0;
	char *slash = strrchr(exe, '/');
	*slash = 0;
	snprintf(self_dir, sizeof self_dir, "%s", exe);

	/* a caller may start us with 0, 1 or 2 closed (pycriu closes all three before it runs
	 * `criu swrk`): they would be taken by our sockets, and the tool's output would go there */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) < 0)
			return 1;

	/* for criu/bundle.mjs, which names the snapshot it makes after this CPU */
	if (getenv("CRIU_LAUNCHER_CPU_KEY")) {
		printf("%s-%016llx\n", NODE_ARCH, cpu_key());
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--puppet-server"))
		return run_server(atoi(argv[2]));
	return run_tool(argc, argv);
}
