/*
 * Leases (F_SETLEASE) held across checkpoint/restore (needs --file-locks): a read lease on a
 * file opened O_RDONLY and a write lease on another opened O_WRONLY, both created by the test
 * (so owned by its uid).  After restore F_GETLEASE returns the same types, and a non-blocking
 * open of the write-leased file from another process would break it (EWOULDBLOCK).
 */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static char rname[4096], wname[4096];

/* 1 if a non-blocking open of the file in a new process fails with EWOULDBLOCK (a lease breaks) */
static int open_would_break(const char *name, int flags)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		int fd = open(name, flags | O_NONBLOCK);

		if (fd >= 0)
			_exit(0);
		_exit(errno == EWOULDBLOCK ? 1 : 2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		fail("checker: %m");
	if (WEXITSTATUS(status) > 1)
		fail("checker open of %s failed", name);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	int rfd, wfd, t;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	/* a break (the checks at the end) sends the lease holder SIGIO */
	signal(SIGIO, SIG_IGN);
	snprintf(rname, sizeof(rname), "%s.rd", test_filename);
	snprintf(wname, sizeof(wname), "%s.wr", test_filename);
	t = open(rname, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (t < 0 || write(t, "r", 1) != 1 || close(t))
		fail("create %s: %m", rname);
	t = open(wname, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (t < 0 || write(t, "w", 1) != 1 || close(t))
		fail("create %s: %m", wname);
	rfd = open(rname, O_RDONLY);
	wfd = open(wname, O_WRONLY);
	if (rfd < 0 || wfd < 0)
		fail("open: %m");
	if (fcntl(rfd, F_SETLEASE, F_RDLCK))
		fail("F_SETLEASE F_RDLCK: %m");
	if (fcntl(wfd, F_SETLEASE, F_WRLCK))
		fail("F_SETLEASE F_WRLCK: %m");
	test_daemon();
	if (test_break()) {
		if (fcntl(wfd, F_SETLEASE, F_UNLCK))
			fail("break: F_SETLEASE F_UNLCK: %m");
		test_msg("break: the write lease was released");
	}
	test_waitsig();

	t = fcntl(rfd, F_GETLEASE);
	if (t != F_RDLCK)
		fail("the read lease is not back: F_GETLEASE %d (%m)", t);
	t = fcntl(wfd, F_GETLEASE);
	if (t != F_WRLCK)
		fail("the write lease is not back: F_GETLEASE %d (%m)", t);
	if (!open_would_break(wname, O_RDONLY))
		fail("another open of the write-leased file does not break the lease");
	if (!open_would_break(rname, O_WRONLY))
		fail("a writer's open of the read-leased file does not break the lease");
	if (fcntl(rfd, F_SETLEASE, F_UNLCK) || fcntl(wfd, F_SETLEASE, F_UNLCK))
		fail("F_SETLEASE F_UNLCK: %m");
	pass();
}
