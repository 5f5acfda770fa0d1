/* /proc files held open: the task's own (/proc/self/status, its /proc/self directory, comm
 * opened read-write), a child's (/proc/CHILD/stat), and files outside /proc/PID (meminfo,
 * /proc/sys/kernel/ostype): each fd still names the same file and reads what it should. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int reread(int fd, char *buf, size_t sz)
{
	ssize_t n = pread(fd, buf, sz - 1, 0);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

static int pid_line(const char *status, const char *key)
{
	const char *p = strstr(status, key);
	return p ? atoi(p + strlen(key)) : -1;
}

int main(int argc, char **argv)
{
	int st, dir, comm, cst, mem, os, pos;
	char buf[8192], path[64], link_before[6][256], link_after[256];
	int fds[6], i;
	pid_t kid;
	struct stat sb1, sb2;

	test_init(argc, argv);
	kid = fork();
	if (kid < 0)
		fail("fork: %m");
	if (kid == 0) {
		for (;;)
			pause();
	}
	st = open("/proc/self/status", O_RDONLY);
	dir = open("/proc/self", O_RDONLY | O_DIRECTORY);
	comm = open("/proc/self/comm", O_RDWR);
	snprintf(path, sizeof(path), "/proc/%d/stat", kid);
	cst = open(path, O_RDONLY);
	mem = open("/proc/meminfo", O_RDONLY);
	os = open("/proc/sys/kernel/ostype", O_RDONLY);
	if (st < 0 || dir < 0 || comm < 0 || cst < 0 || mem < 0 || os < 0)
		fail("open: %m");
	if (write(comm, "zdtm-procf", 10) != 10)
		fail("write comm: %m");
	/* a position inside a seq file */
	if (read(st, buf, 10) != 10)
		fail("read: %m");
	fds[0] = st, fds[1] = dir, fds[2] = comm, fds[3] = cst, fds[4] = mem, fds[5] = os;
	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		ssize_t n = readlink(path, link_before[i], sizeof(link_before[i]) - 1);
		if (n < 0)
			fail("readlink: %m");
		link_before[i][n] = 0;
	}
	if (fstat(dir, &sb1))
		fail("fstat: %m");
	test_daemon();
	if (test_break()) {
		int other = open("/proc/1/status", O_RDONLY);
		dup2(other, st);
		close(other);
		test_msg("break: the status fd now shows task 1");
	}
	test_waitsig();

	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fds[i]);
		ssize_t n = readlink(path, link_after, sizeof(link_after) - 1);
		if (n < 0)
			fail("readlink: %m");
		link_after[n] = 0;
		if (strcmp(link_after, link_before[i]))
			fail("fd %d is %s, was %s", fds[i], link_after, link_before[i]);
	}
	pos = lseek(st, 0, SEEK_CUR);
	if (pos != 10)
		fail("status position %d, expected 10", pos);
	if (reread(st, buf, sizeof(buf)) || pid_line(buf, "\nPid:") != getpid())
		fail("the status fd shows pid %d, not %d", pid_line(buf, "\nPid:"), getpid());
	if (reread(comm, buf, sizeof(buf)) || strcmp(buf, "zdtm-procf\n"))
		fail("comm reads '%s'", buf);
	if (write(comm, "zdtm-again", 10) != 10)
		fail("comm is no longer writable: %m");
	if (reread(cst, buf, sizeof(buf)) || atoi(buf) != kid)
		fail("the child's stat fd shows '%.20s'", buf);
	if (reread(mem, buf, sizeof(buf)) || strncmp(buf, "MemTotal:", 9))
		fail("meminfo reads '%.20s'", buf);
	if (reread(os, buf, sizeof(buf)) || strcmp(buf, "Linux\n"))
		fail("ostype reads '%s'", buf);
	/* the directory fd is the task's own /proc/PID */
	if (fstatat(dir, "status", &sb2, 0) || fstat(dir, &sb1))
		fail("fstatat: %m");
	if (openat(dir, "status", O_RDONLY) < 0)
		fail("openat in /proc/self: %m");
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	pass();
}
