/* A program for criu/test/ns-user.spec.ts: a tree in a user namespace of its own (ids 0..65535
 * are host ids BASE..BASE+65535) that owns UTS and IPC namespaces. Run as root of the host:
 *   nsuser OUTFILE PIDFILE DIR MODE [break]
 * It makes DIR/ns (owned by the namespace's root), a child in a new user namespace (setgroups
 * "deny" in MODE deny, else "allow", written before the maps), maps it, and that child becomes
 * the namespace root, unshares UTS and IPC, sets the hostname and forks the tree's root R (a session
 * leader; its pid goes to PIDFILE). R drops CAP_SYS_BOOT from its bounding set and creates
 * DIR/ns/owned as uid 1000 gid 1001 of the namespace, sets kernel/msgmnb and makes a message
 * queue owned by 1000:1001 with one message, and holds a removed file owned by 1000:1001; the
 * tree has nice -3 (set on the host before, as no task inside could), and R a second thread; its child K takes uid 1000, gid 1001,
 * groups 1002 1003 (not in MODE deny) and only CAP_CHOWN and CAP_NET_BIND_SERVICE (permitted
 * and effective, CAP_CHOWN inheritable). At SIGTERM R and K check their ids, groups,
 * capabilities, hostname, the maps and setgroups as seen inside, and the file's owner; R writes
 * PASS or FAIL to OUTFILE. MODE nested: K lives in a user namespace of its own (nested): the
 * dump refuses it. break: R drops CAP_SYS_ADMIN from its effective set before its checks. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define BASE 200000
#define MSG_KEY 0x5eed0010

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static int outfd = -1, fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; dprintf(outfd, "FAIL: " __VA_ARGS__); dprintf(outfd, "\n"); } } while (0)

static void put(const char *file, const char *v)
{
	int fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, v, strlen(v)) < 0) { perror(file); exit(2); }
	close(fd);
}
static void slurp(const char *file, char *b, size_t n)
{
	int fd = open(file, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : read(fd, b, n - 1);
	b[r < 0 ? 0 : r] = 0;
	if (fd >= 0) close(fd);
}

struct caps { unsigned long long eff, prm, inh; };
static struct caps getcaps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	syscall(SYS_capget, &h, d);
	return (struct caps){ d[0].effective | (unsigned long long)d[1].effective << 32, d[0].permitted | (unsigned long long)d[1].permitted << 32,
			      d[0].inheritable | (unsigned long long)d[1].inheritable << 32 };
}
static int setcaps(struct caps c)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { c.eff, c.prm, c.inh }, { c.eff >> 32, c.prm >> 32, c.inh >> 32 } };
	return syscall(SYS_capset, &h, d);
}
#define BIT(c) (1ULL << (c))

static void check_ids(const char *who, uid_t u, gid_t g, int ngroups, const gid_t *groups)
{
	uid_t r, e, s;
	gid_t rg, eg, sg, gl[16];
	getresuid(&r, &e, &s);
	getresgid(&rg, &eg, &sg);
	CHECK(r == u && e == u && s == u && setfsuid(-1) == (int)u, "%s: uids %u %u %u, not %u", who, r, e, s, u);
	CHECK(rg == g && eg == g && sg == g && setfsgid(-1) == (int)g, "%s: gids %u %u %u, not %u", who, rg, eg, sg, g);
	if (ngroups >= 0) {
		int n = getgroups(16, gl);
		CHECK(n == ngroups && !memcmp(gl, groups, n * sizeof(gid_t)), "%s: %d groups (first %u), not %d", who, n, n > 0 ? gl[0] : 0, ngroups);
	}
}

static int kid_main(int deny, int ready)
{
	gid_t groups[2] = { 1002, 1003 };
	signal(SIGTERM, on_term);
	if (setresgid(1001, 1001, 1001) || (!deny && setgroups(2, groups)) || prctl(PR_SET_KEEPCAPS, 1) || setresuid(1000, 1000, 1000)) {
		dprintf(outfd, "FAIL: kid: cannot take its ids: %s\n", strerror(errno));
		return 1;
	}
	struct caps want = { BIT(CAP_CHOWN) | BIT(CAP_NET_BIND_SERVICE), BIT(CAP_CHOWN) | BIT(CAP_NET_BIND_SERVICE), BIT(CAP_CHOWN) };
	if (setcaps(want)) {
		dprintf(outfd, "FAIL: kid: capset: %s\n", strerror(errno));
		return 1;
	}
	if (write(ready, "k", 1) != 1)
		return 1;
	close(ready);
	while (!stop)
		pause();
	check_ids("kid", 1000, 1001, deny ? -1 : 2, groups);
	struct caps c = getcaps();
	CHECK(c.eff == want.eff && c.prm == want.prm && c.inh == want.inh, "kid: caps eff %llx prm %llx inh %llx", c.eff, c.prm, c.inh);
	CHECK(prctl(PR_GET_KEEPCAPS) == 1, "kid: keepcaps lost");
	return fails ? 1 : 0;
}

static void *idle(void *a)
{
	for (;;)
		pause();
	return a;
}

static int root_main(const char *dir, int deny, int nested, int brk)
{
	pthread_t th;
	char file[4096], b[256], host[64] = "";
	signal(SIGTERM, on_term);
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT)) { dprintf(outfd, "FAIL: capbset drop: %s\n", strerror(errno)); return 1; }
	snprintf(file, sizeof file, "%s/ns/owned", dir);
	int fd = open(file, O_CREAT | O_WRONLY | O_TRUNC, 0640);
	if (fd < 0 || write(fd, "mine\n", 5) != 5 || fchown(fd, 1000, 1001)) { dprintf(outfd, "FAIL: %s: %s\n", file, strerror(errno)); return 1; }
	/* a removed file (a ghost at the dump) owned inside */
	char gpath[4200];
	snprintf(gpath, sizeof gpath, "%s/ns/ghost", dir);
	int gfd = open(gpath, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (gfd < 0 || write(gfd, "boo\n", 4) != 4 || fchown(gfd, 1000, 1001) || unlink(gpath)) { dprintf(outfd, "FAIL: %s: %s\n", gpath, strerror(errno)); return 1; }
	/* an IPC namespace of the user namespace: its sysctls are its root's, a queue owned inside */
	put("/proc/sys/kernel/msgmnb", "32000");
	int q = msgget(MSG_KEY, IPC_CREAT | IPC_EXCL | 0600);
	struct msqid_ds qd;
	struct { long mtype; char text[8]; } m = { 7, "hello" };
	if (q < 0 || msgctl(q, IPC_STAT, &qd)) { dprintf(outfd, "FAIL: msgget: %s\n", strerror(errno)); return 1; }
	qd.msg_perm.uid = 1000, qd.msg_perm.gid = 1001, qd.msg_perm.mode = 0640;
	if (msgctl(q, IPC_SET, &qd) || msgsnd(q, &m, 6, 0)) { dprintf(outfd, "FAIL: msgctl: %s\n", strerror(errno)); return 1; }
	/* a thread: its tid, like the child's pid, is chosen through ns_last_pid at the restore */
	if (pthread_create(&th, NULL, idle, NULL)) { dprintf(outfd, "FAIL: pthread_create\n"); return 1; }
	int sync[2];
	if (pipe(sync)) return 1;
	pid_t kid = fork();
	if (kid == 0) {
		close(sync[0]);
		if (nested && unshare(CLONE_NEWUSER)) { dprintf(outfd, "FAIL: nested unshare: %s\n", strerror(errno)); _exit(1); }
		if (nested) {
			if (write(sync[1], "k", 1) != 1) _exit(1);
			while (!stop) pause();
			_exit(0);
		}
		_exit(kid_main(deny, sync[1]));
	}
	close(sync[1]);
	if (read(sync[0], b, 1) != 1) { dprintf(outfd, "FAIL: the kid did not start\n"); return 1; }
	close(sync[0]);
	dprintf(1, "%d\n", getpid());
	close(1);
	while (!stop)
		pause();

	if (brk) {
		struct caps c = getcaps();
		c.eff &= ~BIT(CAP_SYS_ADMIN);
		setcaps(c);
	}
	kill(kid, SIGTERM);
	int status;
	CHECK(waitpid(kid, &status, 0) == kid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "kid exited with status 0x%x", status);
	check_ids("root", 0, 0, -1, NULL);
	struct caps c = getcaps();
	CHECK(c.eff == c.prm && (c.eff & BIT(CAP_SYS_ADMIN)) && (c.eff & BIT(CAP_SETUID)), "root: caps eff %llx prm %llx", c.eff, c.prm);
	CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_BOOT) == 0 && prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) == 1, "root: bounding set");
	gethostname(host, sizeof host);
	CHECK(!strcmp(host, "criu-ts-userns"), "root: hostname %s", host);
	slurp("/proc/self/uid_map", b, sizeof b);
	CHECK(strstr(b, "0     200000      65536") != NULL, "root: uid_map %s", b);
	slurp("/proc/self/gid_map", b, sizeof b);
	CHECK(strstr(b, "0     200000      65536") != NULL, "root: gid_map %s", b);
	slurp("/proc/self/setgroups", b, sizeof b);
	CHECK(!strcmp(b, deny ? "deny\n" : "allow\n"), "root: setgroups %s", b);
	struct stat st;
	CHECK(!stat(file, &st) && st.st_uid == 1000 && st.st_gid == 1001 && (st.st_mode & 0777) == 0640, "root: %s owned by %u:%u", file, st.st_uid, st.st_gid);
	CHECK(!fstat(gfd, &st) && st.st_uid == 1000 && st.st_gid == 1001 && st.st_nlink == 0 && st.st_size == 4, "root: the removed file: %u:%u, %lu links",
	      st.st_uid, st.st_gid, (unsigned long)st.st_nlink);
	int nthreads = 0;
	DIR *td = opendir("/proc/self/task");
	for (struct dirent *de; td && (de = readdir(td));)
		nthreads += de->d_name[0] != '.';
	if (td) closedir(td);
	CHECK(nthreads == 2, "root: %d threads", nthreads);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, 0);
	CHECK(nice == -3 && !errno, "root: nice %d", nice);
	slurp("/proc/sys/kernel/msgmnb", b, sizeof b);
	CHECK(atoi(b) == 32000, "root: msgmnb %s", b);
	q = msgget(MSG_KEY, 0);
	memset(&qd, 0, sizeof qd);
	CHECK(q >= 0 && !msgctl(q, IPC_STAT, &qd) && qd.msg_perm.uid == 1000 && qd.msg_perm.gid == 1001 && qd.msg_perm.cuid == 0 && qd.msg_perm.cgid == 0 &&
	      (qd.msg_perm.mode & 0777) == 0640 && qd.msg_qnum == 1, "root: queue %d: owner %u:%u creator %u:%u mode %o, %lu messages", q, qd.msg_perm.uid,
	      qd.msg_perm.gid, qd.msg_perm.cuid, qd.msg_perm.cgid, qd.msg_perm.mode, (unsigned long)qd.msg_qnum);
	CHECK(q >= 0 && msgrcv(q, &m, sizeof m.text, 7, IPC_NOWAIT) == 6 && !strcmp(m.text, "hello"), "root: the message");
	CHECK(sethostname("criu-ts-userns", 14) == 0, "root: sethostname in its own UTS namespace: %s", strerror(errno));
	dprintf(outfd, "%s\n", fails ? "FAIL" : "PASS");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 5) return 2;
	const char *dir = argv[3], *mode = argv[4];
	int deny = !strcmp(mode, "deny"), nested = !strcmp(mode, "nested"), brk = argc > 5 && !strcmp(argv[5], "break");
	char p[4096], m[64];
	outfd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	int pidfd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (outfd < 0 || pidfd < 0) { perror("open"); return 2; }
	/* the namespace's root is no one on the host: it must pass through DIR */
	if (chmod(dir, 0755)) { perror(dir); return 2; }
	snprintf(p, sizeof p, "%s/ns", dir);
	if ((mkdir(p, 0755) && errno != EEXIST) || chown(p, BASE, BASE)) { perror(p); return 2; }

	/* a nice no task of the namespace could set itself (CAP_SYS_NICE of the host): inherited */
	if (setpriority(PRIO_PROCESS, 0, -3)) { perror("setpriority"); return 2; }
	int go[2], ready[2];
	if (pipe(go) || pipe(ready)) return 2;
	pid_t c = fork();
	if (c == 0) {
		char x;
		close(go[1]);
		close(ready[0]);
		if (unshare(CLONE_NEWUSER)) { perror("unshare user"); _exit(2); }
		if (write(ready[1], "u", 1) != 1 || read(go[0], &x, 1) != 1) _exit(2);
		if (setresgid(0, 0, 0) || (!deny && setgroups(0, NULL)) || setresuid(0, 0, 0)) { perror("become root inside"); _exit(2); }
		if (unshare(CLONE_NEWUTS | CLONE_NEWIPC) || sethostname("criu-ts-userns", 14)) { perror("uts, ipc"); _exit(2); }
		if (fork()) _exit(0);
		setsid();
		dup2(pidfd, 1);
		close(pidfd);
		_exit(root_main(dir, deny, nested, brk));
	}
	char x;
	close(go[0]);
	close(ready[1]);
	if (read(ready[0], &x, 1) != 1) return 2;
	snprintf(p, sizeof p, "/proc/%d/setgroups", c);
	put(p, deny ? "deny" : "allow");
	snprintf(m, sizeof m, "0 %d 65536\n", BASE);
	snprintf(p, sizeof p, "/proc/%d/uid_map", c);
	put(p, m);
	snprintf(p, sizeof p, "/proc/%d/gid_map", c);
	put(p, m);
	if (write(go[1], "g", 1) != 1) return 2;
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 2;
}
