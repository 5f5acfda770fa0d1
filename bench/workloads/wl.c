/* Bench workloads, zdtm-style: set up, daemonize, write the pidfile when ready, then run until
 * SIGTERM, verify a checksum of all the memory set up, and write PASS or FAIL to the outfile.
 *
 *   wl MODE [ARGS] --pidfile P --outfile O
 *     dense  MIB             MIB of random private anonymous memory
 *     sparse GIB STRIDE      GIB reserved, one page in STRIDE written (random)
 *     vmas   N               N one-page private VMAs with gaps between them (random)
 *     tree   NPROC NTHR MIB  NPROC processes (a binary tree) with NTHR threads each, MIB of
 *                            random memory spread over them
 *     fds    N               N fds open on N regular files, each at its own offset
 *
 * While running, the root's main thread wakes every millisecond and keeps the largest gap
 * between two wake-ups (a freeze shows as a gap). SIGUSR1 is a ping: the main loop answers by
 * writing "<largest gap in us>\n" to O.ping (atomically, by rename) and resets the gap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static const char *pidfile, *outfile, *mode;
static volatile sig_atomic_t got_term, got_ping;
static int ready_fd = -1, sync_rd = -1;

static void on_term(int s) { (void)s; got_term = 1; }
static void on_ping(int s) { (void)s; got_ping = 1; }

static void die(const char *what)
{
	fprintf(stderr, "wl %s: %s: %s\n", mode, what, strerror(errno));
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---- data: 4 independent splitmix64 streams, 4-lane checksum ---- */
static void fill(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p, s0 = seed * 4 + 1, s1 = seed * 4 + 2, s2 = seed * 4 + 3, s3 = seed * 4 + 4;
	size_t n = len / 8, i = 0;
#define MIX(z) ({ uint64_t x = (z); x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL; x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL; x ^ (x >> 31); })
	for (; i + 4 <= n; i += 4) {
		s0 += 0x9e3779b97f4a7c15ULL; s1 += 0x9e3779b97f4a7c15ULL;
		s2 += 0x9e3779b97f4a7c15ULL; s3 += 0x9e3779b97f4a7c15ULL;
		w[i] = MIX(s0 * 4); w[i + 1] = MIX(s1 * 4 + 1); w[i + 2] = MIX(s2 * 4 + 2); w[i + 3] = MIX(s3 * 4 + 3);
	}
	for (; i < n; i++)
		w[i] = MIX(s0 += 0x9e3779b97f4a7c15ULL);
}

static uint64_t csum(const void *p, size_t len)
{
	const uint64_t *w = p;
	uint64_t a = 1, b = 2, c = 3, d = 4;
	size_t n = len / 8, i = 0;
#define ROT(x) (((x) << 31) | ((x) >> 33))
	for (; i + 4 <= n; i += 4) {
		a = ROT(a + w[i] * 0x9e3779b97f4a7c15ULL);
		b = ROT(b + w[i + 1] * 0xc2b2ae3d27d4eb4fULL);
		c = ROT(c + w[i + 2] * 0x165667b19e3779f9ULL);
		d = ROT(d + w[i + 3] * 0x27d4eb2f165667c5ULL);
	}
	for (; i < n; i++)
		a = ROT(a ^ w[i]) * 0x9e3779b97f4a7c15ULL;
	return a ^ ROT(b) ^ (c * 3) ^ (d * 7);
}

/* ---- the memory of this process: a list of regions and their checksums ---- */
struct region { void *p; size_t len; uint64_t sum; };
static struct region *regs;
static size_t nregs, cregs;

static void add_region(void *p, size_t len, uint64_t seed)
{
	if (nregs == cregs) {
		cregs = cregs ? cregs * 2 : 64;
		regs = realloc(regs, cregs * sizeof(*regs));
		if (!regs) die("realloc");
	}
	fill(p, len, seed);
	regs[nregs++] = (struct region){ p, len, csum(p, len) };
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) die("mmap");
	return p;
}

/* fds mode */
static int *fds, nfds;
static ino_t *inos;

/* 0 if every region and fd is as it was set up; else prints what differs */
static int verify(void)
{
	int bad = 0;
	for (size_t i = 0; i < nregs; i++) {
		uint64_t s = csum(regs[i].p, regs[i].len);
		if (s != regs[i].sum) {
			if (bad < 5)
				printf("FAIL: pid %d region %zu at %p (%zu bytes): checksum %016llx, expected %016llx\n",
				       getpid(), i, regs[i].p, regs[i].len, (unsigned long long)s, (unsigned long long)regs[i].sum);
			bad++;
		}
	}
	for (int i = 0; i < nfds; i++) {
		struct stat st;
		off_t off = lseek(fds[i], 0, SEEK_CUR);
		if (fstat(fds[i], &st) || st.st_ino != inos[i] || off != (off_t)i) {
			if (bad < 5)
				printf("FAIL: pid %d fd %d: inode %lu offset %lld, expected %lu %d\n", getpid(), fds[i],
				       (unsigned long)st.st_ino, (long long)off, (unsigned long)inos[i], i);
			bad++;
		}
	}
	return bad;
}

/* ---- tree mode ---- */
static int nproc_total, nthr;
static size_t tree_mib;
static pid_t kids[2];
static int nkids;

static void *idle_thread(void *a)
{
	(void)a;
	for (;;)
		pause();
	return NULL;
}

static void start_threads(int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t t;
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 64 << 10);
		if (pthread_create(&t, &at, idle_thread, NULL)) {
			errno = EAGAIN;
			die("pthread_create");
		}
	}
}

static void tree_memory(int idx)
{
	size_t per = (tree_mib << 20) / nproc_total;
	per = (per + PAGE - 1) & ~(PAGE - 1);
	if (per)
		add_region(map(per), per, 1000 + idx);
}

/* the subtree under index idx: children 2i+1 and 2i+2 */
static void tree_spawn(int idx, int sync_fd);

static int wait_kids(void)
{
	int bad = 0;
	for (int i = 0; i < nkids; i++) {
		int st;
		if (kill(kids[i], SIGTERM)) {
			printf("FAIL: pid %d: child %d is gone\n", getpid(), kids[i]);
			bad++;
			continue;
		}
		pid_t w;
		while ((w = waitpid(kids[i], &st, 0)) < 0 && errno == EINTR)
			;
		if (w < 0) {
			printf("FAIL: pid %d: waitpid(%d): %s (not its child any more?)\n", getpid(), kids[i], strerror(errno));
			bad++;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			printf("FAIL: pid %d: child %d ended with status 0x%x\n", getpid(), kids[i], st);
			bad++;
		}
	}
	return bad;
}

static void tree_child(int idx, int sync_fd)
{
	sigset_t none;
	tree_spawn(idx, sync_fd);
	tree_memory(idx);
	start_threads(nthr - 1);
	if (write(sync_fd, "k", 1) != 1)
		die("write sync");
	close(sync_fd);
	sigemptyset(&none);
	while (!got_term)
		sigsuspend(&none);
	_exit(wait_kids() + verify() ? 1 : 0);
}

static void tree_spawn(int idx, int sync_fd)
{
	sigset_t all, old;
	nkids = 0;
	sigfillset(&all);
	for (int c = 2 * idx + 1; c <= 2 * idx + 2 && c < nproc_total; c++) {
		sigprocmask(SIG_BLOCK, &all, &old); /* the child inherits a blocked mask until it is set up */
		pid_t p = fork();
		if (p < 0)
			die("fork");
		if (p == 0) {
			nregs = 0;
			close(ready_fd);
			close(sync_rd);
			sigprocmask(SIG_SETMASK, &old, NULL);
			tree_child(c, sync_fd);
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		kids[nkids++] = p;
	}
}

/* ---- setup per mode, in the daemon ---- */
static void setup(int argc, char **argv)
{
	static const struct { const char *m; int n; } need[] = { { "dense", 1 }, { "sparse", 2 }, { "vmas", 1 }, { "fds", 1 }, { "tree", 3 } };
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!strcmp(mode, need[i].m) && argc < need[i].n) {
			fprintf(stderr, "wl %s needs %d arguments\n", mode, need[i].n);
			exit(2);
		}
	if (!strcmp(mode, "dense")) {
		size_t len = strtoull(argv[0], NULL, 0) << 20;
		void *p = map(len);
		/* in 64 MiB regions of one VMA, so a bad page is located */
		for (size_t off = 0; off < len; off += 64 << 20)
			add_region((char *)p + off, len - off < (64 << 20) ? len - off : 64 << 20, off >> 20);
	} else if (!strcmp(mode, "sparse")) {
		size_t len = strtoull(argv[0], NULL, 0) << 30, stride = strtoull(argv[1], NULL, 0) * PAGE;
		char *p = map(len);
		for (size_t off = 0; off < len; off += stride)
			add_region(p + off, PAGE, off / stride);
	} else if (!strcmp(mode, "vmas")) {
		int n = atoi(argv[0]);
		char *base = mmap(NULL, 2 * n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (base == MAP_FAILED)
			die("mmap");
		munmap(base, 2 * n * PAGE);
		for (int i = 0; i < n; i++) {
			char *p = mmap(base + 2 * i * PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (p == MAP_FAILED)
				die("mmap fixed");
			add_region(p, PAGE, i);
		}
	} else if (!strcmp(mode, "fds")) {
		char dir[4096];
		nfds = atoi(argv[0]);
		fds = calloc(nfds, sizeof(int));
		inos = calloc(nfds, sizeof(ino_t));
		snprintf(dir, sizeof(dir), "%s.files", outfile);
		mkdir(dir, 0755);
		for (int i = 0; i < nfds; i++) {
			char path[4200], buf[4096];
			struct stat st;
			snprintf(path, sizeof(path), "%s/f%04d", dir, i);
			fds[i] = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
			if (fds[i] < 0)
				die("open");
			memset(buf, 'a' + i % 26, sizeof(buf));
			if (write(fds[i], buf, sizeof(buf)) != sizeof(buf) || lseek(fds[i], i, SEEK_SET) != i || fstat(fds[i], &st))
				die("write file");
			inos[i] = st.st_ino;
		}
		add_region(map(4 << 20), 4 << 20, 7);
	} else if (!strcmp(mode, "tree")) {
		int p[2];
		char c;
		nproc_total = atoi(argv[0]);
		nthr = atoi(argv[1]);
		tree_mib = strtoull(argv[2], NULL, 0);
		if (pipe(p))
			die("pipe");
		sync_rd = p[0];
		tree_spawn(0, p[1]);
		close(p[1]);
		/* every other process says "k" when its memory and threads are up */
		for (int i = 1; i < nproc_total; i++)
			if (read(p[0], &c, 1) != 1)
				die("tree setup");
		close(p[0]);
		tree_memory(0);
		start_threads(nthr - 1);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		exit(2);
	}
}

static void write_file(const char *path, const char *text)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) || rename(tmp, path))
		die(path);
}

int main(int argc, char **argv)
{
	int nargs = 0, p[2];
	char *args[8];
	struct sigaction sa;

	if (argc < 2) {
		fprintf(stderr, "usage: wl MODE [ARGS] --pidfile P --outfile O\n");
		return 2;
	}
	mode = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--pidfile") && i + 1 < argc)
			pidfile = argv[++i];
		else if (!strcmp(argv[i], "--outfile") && i + 1 < argc)
			outfile = argv[++i];
		else if (nargs < 8)
			args[nargs++] = argv[i];
	}
	if (!pidfile || !outfile) {
		fprintf(stderr, "wl: --pidfile and --outfile are required\n");
		return 2;
	}

	/* outfile is stdout and stderr; stdin is /dev/null; nothing else inherited stays */
	int fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		die("outfile");
	close(fd);
	fd = open("/dev/null", O_RDONLY);
	dup2(fd, 0);
	if (fd > 0)
		close(fd);
	syscall(SYS_close_range, 3, ~0u, 0);
	setvbuf(stdout, NULL, _IONBF, 0);

	if (pipe(p))
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid > 0) {
		char c, buf[32];
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(1);
		snprintf(buf, sizeof(buf), "%d\n", pid);
		write_file(pidfile, buf);
		_exit(0);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() < 0)
		die("setsid");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_ping;
	sigaction(SIGUSR1, &sa, NULL);

	setup(nargs, args);
	if (write(ready_fd, "r", 1) != 1)
		die("ready");
	close(ready_fd);

	/* the heartbeat */
	char ping[4200], text[64];
	snprintf(ping, sizeof(ping), "%s.ping", outfile);
	uint64_t last = now_ns(), maxgap = 0;
	while (!got_term) {
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
		uint64_t t = now_ns();
		if (t - last > maxgap)
			maxgap = t - last;
		last = t;
		if (got_ping) {
			got_ping = 0;
			snprintf(text, sizeof(text), "%llu\n", (unsigned long long)(maxgap / 1000));
			write_file(ping, text);
			maxgap = 0;
		}
	}
	int bad = (nkids ? wait_kids() : 0) + verify();
	if (bad)
		printf("FAIL: %d bad regions/fds/children\n", bad);
	else
		printf("PASS (%zu regions, %d fds, %d child subtrees checked)\n", nregs, nfds, nkids);
	return bad ? 1 : 0;
}
