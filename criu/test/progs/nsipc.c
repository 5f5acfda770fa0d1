/* A program for criu/test/ns-uts-ipc.spec.ts, started under `unshare --uts --ipc`: it sets a
 * hostname and domainname, two IPC sysctls, makes a SysV shm segment (id 32768: one made and
 * removed before it) with data, a semaphore set with values and a message queue (id 12345,
 * through msg_next_id) with 3 messages, writes its pid and waits for SIGTERM; then it checks
 * everything and writes PASS or FAIL to the outfile.
 *   nsipc OUTFILE PIDFILE MODE [break]
 * MODE: plain; attached (the segment stays attached, and is checked to be it after the restore); nested (a child in a
 * UTS namespace of its own: the dump refuses it); mqueue (an unlinked POSIX message queue with 2
 * messages and a named one with 1, non-blocking; checked after the restore); mqnotify (the same with an mq_notify
 * registered on the named one: refused). break: the hostname is changed at SIGTERM,
 * before the checks, so the program FAILs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHM_KEY 0x5eed0001
#define SEM_KEY 0x5eed0002
#define MSG_KEY 0x5eed0003
#define SHM_SIZE 20000

static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }

static FILE *out;
static int fails;
#define CHECK(c, ...) do { if (!(c)) { fails++; fprintf(out, "FAIL: " __VA_ARGS__); fputc('\n', out); } } while (0)

static void put(const char *file, const char *v)
{
	int fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, v, strlen(v)) < 0) { perror(file); exit(2); }
	close(fd);
}
static long get(const char *file)
{
	char b[64] = "";
	int fd = open(file, O_RDONLY);
	if (fd < 0 || read(fd, b, sizeof b - 1) < 0) return -1;
	close(fd);
	return atol(b);
}

union semun { int val; struct semid_ds *buf; unsigned short *array; };
struct msg { long mtype; char text[64]; };
static const char *texts[3] = { "one", "two, a longer one", "three" };

int main(int argc, char **argv)
{
	if (argc < 4) return 2;
	const char *mode = argv[3];
	int brk = argc > 4 && !strcmp(argv[4], "break");
	/* the parent (unshare exec()ed us) is in the caller's namespaces */
	char mine[64] = "", theirs[64] = "", pp[64];
	snprintf(pp, sizeof pp, "/proc/%d/ns/uts", getppid());
	int same_uts = readlink("/proc/self/ns/uts", mine, sizeof mine - 1) < 0 || readlink(pp, theirs, sizeof theirs - 1) < 0 || !strcmp(mine, theirs);
	snprintf(pp, sizeof pp, "/proc/%d/ns/ipc", getppid());
	memset(mine, 0, sizeof mine), memset(theirs, 0, sizeof theirs);
	int same_ipc = readlink("/proc/self/ns/ipc", mine, sizeof mine - 1) < 0 || readlink(pp, theirs, sizeof theirs - 1) < 0 || !strcmp(mine, theirs);
	if (same_uts || same_ipc) {
		fprintf(stderr, "nsipc: run me under unshare --uts --ipc (I change the hostname and IPC sysctls)\n");
		return 2;
	}
	if (fork()) return 0; /* the caller goes on; the program is its own session's leader */
	setsid();
	out = fopen(argv[1], "w");
	if (!out) return 2;
	setvbuf(out, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);

	if (sethostname("criu-ts-ns", 10) || setdomainname("ns.example", 10)) { perror("sethostname"); return 2; }
	put("/proc/sys/kernel/msgmnb", "32768");
	put("/proc/sys/kernel/shmmni", "2048");

	int tmp = shmget(SHM_KEY, 4096, IPC_CREAT | 0600);
	shmctl(tmp, IPC_RMID, NULL);
	int shm = shmget(SHM_KEY, SHM_SIZE, IPC_CREAT | IPC_EXCL | 0640);
	char *p = shmat(shm, NULL, 0);
	if (shm < 0 || p == (void *)-1) { perror("shm"); return 2; }
	for (int i = 0; i < SHM_SIZE; i++) p[i] = (char)(i * 7 + 3);
	if (strcmp(mode, "attached")) shmdt(p);

	int sem = semget(SEM_KEY, 3, IPC_CREAT | 0600);
	unsigned short vals[3] = { 7, 42, 1000 };
	union semun su = { .array = vals };
	if (sem < 0 || semctl(sem, 0, SETALL, su)) { perror("sem"); return 2; }

	put("/proc/sys/kernel/msg_next_id", "12345");
	int mq = msgget(MSG_KEY, IPC_CREAT | 0660);
	if (mq < 0) { perror("msgget"); return 2; }
	for (int i = 0; i < 3; i++) {
		struct msg m = { .mtype = i + 1 };
		strcpy(m.text, texts[i]);
		if (msgsnd(mq, &m, strlen(texts[i]) + 1, 0)) { perror("msgsnd"); return 2; }
	}

	mqd_t mqq = -1, mqn = -1;
	struct mq_attr mqa = { .mq_maxmsg = 4, .mq_msgsize = 32 };
	if (!strcmp(mode, "mqueue") || !strcmp(mode, "mqnotify")) {
		/* an unlinked queue and a named one, in this IPC namespace's mqueue filesystem */
		mqq = mq_open("/criu-ts-nsipc", O_CREAT | O_RDWR, 0600, &mqa);
		mqn = mq_open("/criu-ts-nsipc-named", O_CREAT | O_RDWR | O_NONBLOCK, 0640, &mqa);
		if (mqq < 0 || mqn < 0) { perror("mq_open"); return 2; }
		mq_unlink("/criu-ts-nsipc");
		if (mq_send(mqq, "first", 6, 1) || mq_send(mqq, "urgent", 7, 9) || mq_send(mqn, "named", 6, 0)) { perror("mq_send"); return 2; }
		struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1 };
		signal(SIGUSR1, SIG_IGN);
		if (!strcmp(mode, "mqnotify") && mq_notify(mqn, &sev)) { perror("mq_notify"); return 2; }
	}
	if (!strcmp(mode, "nested") && fork() == 0) {
		unshare(CLONE_NEWUTS);
		while (!stop) pause();
		return 0;
	}

	char pb[32];
	snprintf(pb, sizeof pb, "%d\n", getpid());
	FILE *pf = fopen(argv[2], "w");
	fputs(pb, pf);
	fclose(pf);

	while (!stop) pause();
	if (brk) sethostname("broken", 6);

	char h[65] = "", d[65] = "";
	gethostname(h, sizeof h);
	getdomainname(d, sizeof d);
	CHECK(!strcmp(h, "criu-ts-ns"), "hostname %s", h);
	CHECK(!strcmp(d, "ns.example"), "domainname %s", d);
	CHECK(get("/proc/sys/kernel/msgmnb") == 32768, "msgmnb %ld", get("/proc/sys/kernel/msgmnb"));
	CHECK(get("/proc/sys/kernel/shmmni") == 2048, "shmmni %ld", get("/proc/sys/kernel/shmmni"));

	int shm2 = shmget(SHM_KEY, 0, 0);
	CHECK(shm2 == shm && shm > 0, "shm id %d, was %d", shm2, shm);
	struct shmid_ds ds;
	CHECK(shmctl(shm2, IPC_STAT, &ds) == 0 && ds.shm_segsz == SHM_SIZE && (ds.shm_perm.mode & 0777) == 0640, "shm stat");
	char *q = shmat(shm2, NULL, SHM_RDONLY);
	CHECK(q != (void *)-1, "shmat %s", strerror(errno));
	if (q != (void *)-1)
		for (int i = 0; i < SHM_SIZE; i++)
			if (q[i] != (char)(i * 7 + 3)) { CHECK(0, "shm byte %d", i); break; }
	if (!strcmp(mode, "attached") && q != (void *)-1) {
		/* still attached where it was, and the segment itself: a write shows through q */
		for (int i = 0; i < SHM_SIZE; i++)
			if (p[i] != (char)(i * 7 + 3)) { CHECK(0, "attached shm byte %d", i); break; }
		p[1] ^= 0x55;
		CHECK(q[1] == p[1], "the attach at %p is not the segment", (void *)p);
	}

	int sem2 = semget(SEM_KEY, 0, 0);
	unsigned short got[3] = { 0 };
	union semun sg = { .array = got };
	CHECK(sem2 == sem && semctl(sem2, 0, GETALL, sg) == 0, "sem id %d, was %d", sem2, sem);
	CHECK(got[0] == 7 && got[1] == 42 && got[2] == 1000, "sem values %u %u %u", got[0], got[1], got[2]);

	int mq2 = msgget(MSG_KEY, 0);
	CHECK(mq2 == mq && mq == 12345, "msg id %d, was %d", mq2, mq);
	for (int i = 0; i < 3; i++) {
		struct msg m;
		ssize_t n = msgrcv(mq2, &m, sizeof m.text, 0, IPC_NOWAIT);
		CHECK(n == (ssize_t)strlen(texts[i]) + 1 && m.mtype == i + 1 && !strcmp(m.text, texts[i]), "message %d", i);
	}
	if (!strcmp(mode, "mqueue")) {
		struct mq_attr a;
		char b[32];
		unsigned pr;
		CHECK(mq_getattr(mqq, &a) == 0 && a.mq_maxmsg == 4 && a.mq_msgsize == 32 && a.mq_curmsgs == 2 && a.mq_flags == 0, "unlinked queue attributes");
		CHECK(mq_getattr(mqn, &a) == 0 && a.mq_curmsgs == 1 && a.mq_flags == O_NONBLOCK, "named queue attributes");
		CHECK(mq_receive(mqq, b, sizeof b, &pr) == 7 && pr == 9 && !strcmp(b, "urgent"), "unlinked queue: first message");
		CHECK(mq_receive(mqq, b, sizeof b, &pr) == 6 && pr == 1 && !strcmp(b, "first"), "unlinked queue: second message");
		mqd_t again = mq_open("/criu-ts-nsipc-named", O_RDONLY | O_NONBLOCK);
		CHECK(again >= 0 && mq_receive(again, b, sizeof b, &pr) == 6 && !strcmp(b, "named"), "the named queue by its name");
		CHECK(mq_open("/criu-ts-nsipc", O_RDONLY) < 0, "the unlinked queue has a name");
	}
	fprintf(out, fails ? "FAIL\n" : "PASS\n");
	return fails ? 1 : 0;
}
