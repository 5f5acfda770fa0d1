/* pidfds: of a live child (blocking and PIDFD_NONBLOCK), and of a child that exited and was reaped. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int sys_pidfd_open(pid_t pid, unsigned flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}
static int sys_pidfd_send_signal(int pidfd, int sig)
{
	return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* the "Pid:" line of a pidfd's fdinfo (-1 once its task is reaped), -2 if none */
static int fdinfo_pid(int fd)
{
	char path[64], buf[1024], *p;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "\nPid:")))
		return -2;
	return atoi(p + 5);
}

int main(int argc, char **argv)
{
	int live, nb, dead, dead2, st, own_inodes;
	struct stat s1, s2;
	pid_t kid, gone;
	struct pollfd pfd;
	siginfo_t si;

	test_init(argc, argv);
	kid = fork();
	if (kid < 0)
		fail("fork: %m");
	if (kid == 0) {
		for (;;)
			pause();
	}
	live = sys_pidfd_open(kid, 0);
	nb = sys_pidfd_open(kid, PIDFD_NONBLOCK);
	if (live < 0 || nb < 0)
		fail("pidfd_open: %m");
	gone = fork();
	if (gone < 0)
		fail("fork: %m");
	if (gone == 0)
		_exit(7);
	dead = sys_pidfd_open(gone, 0);
	dead2 = sys_pidfd_open(gone, PIDFD_NONBLOCK);
	if (dead < 0 || dead2 < 0)
		fail("pidfd_open of the exiting child: %m");
	if (waitpid(gone, &st, 0) != gone)
		fail("waitpid: %m");
	/* pidfs (6.9) gives each task an inode; before it every pidfd is on one anonymous inode */
	if (fstat(live, &s1) || fstat(dead, &s2))
		fail("fstat: %m");
	own_inodes = s1.st_ino != s2.st_ino;
	if (!own_inodes)
		test_msg("pidfds share one anonymous inode on this kernel (before 6.9): no task identity by inode to check");
	test_daemon();
	if (test_break()) {
		int self = sys_pidfd_open(getpid(), 0);
		dup2(self, live);
		close(self);
		test_msg("break: the live pidfd now names the test itself");
	}
	test_waitsig();

	if (fdinfo_pid(live) != kid || fdinfo_pid(nb) != kid)
		fail("the live pidfds name %d and %d, not the child %d", fdinfo_pid(live), fdinfo_pid(nb), kid);
	if (fcntl(nb, F_GETFL) & O_NONBLOCK ? 0 : 1)
		fail("PIDFD_NONBLOCK is lost");
	if (fcntl(live, F_GETFL) & O_NONBLOCK)
		fail("the blocking pidfd became non-blocking");
	if (fdinfo_pid(dead) != -1)
		fail("the pidfd of the reaped child names pid %d", fdinfo_pid(dead));
	/* two pidfds of one dead task: one task (inode) again, each with its own flags */
	if (fstat(dead, &s1) || fstat(dead2, &s2) || s1.st_ino != s2.st_ino)
		fail("the two pidfds of the reaped child name different tasks");
	if (own_inodes && (fstat(live, &s2) || s1.st_ino == s2.st_ino))
		fail("the dead and the live pidfds name the same task");
	if (!(fcntl(dead2, F_GETFL) & O_NONBLOCK) || fdinfo_pid(dead2) != -1)
		fail("the second dead pidfd lost PIDFD_NONBLOCK or names a pid");
	pfd.fd = dead;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLIN))
		fail("the pidfd of the reaped child does not poll as exited");
	if (sys_pidfd_send_signal(dead, 0) == 0 || errno != ESRCH)
		fail("a signal through the dead pidfd did not fail with ESRCH: %m");
	pfd.fd = live;
	if (poll(&pfd, 1, 0) != 0)
		fail("the live child polls as exited");
	/* the pidfd must be the child's: kill it through it and reap it through it */
	if (sys_pidfd_send_signal(live, SIGKILL))
		fail("pidfd_send_signal: %m");
	memset(&si, 0, sizeof(si));
	if (waitid(P_PIDFD, live, &si, WEXITED))
		fail("waitid(P_PIDFD): %m");
	if (si.si_pid != kid || si.si_code != CLD_KILLED)
		fail("waitid on the pidfd gave pid %d code %d", si.si_pid, si.si_code);
	pass();
}
