/* A session with a controlling terminal: the leader's pty slave is its session's terminal, a
 * child in a group of its own is in the foreground, and both hold /dev/tty. After the restore
 * the terminal is the session's again with the same foreground group, the child still has it
 * as its controlling terminal, and /dev/tty of each is that terminal. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static int ctty_nr(void)
{
	char buf[1024], *p;
	int tty = -1;
	if (read_file("/proc/self/stat", buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
		return -1;
	/* ") S ppid pgrp session tty_nr" */
	if (sscanf(p + 2, "%*c %*d %*d %*d %d", &tty) != 1)
		return -1;
	return tty;
}

/* what a task checks of its terminal: its controlling one is `rdev`, and its /dev/tty fd reaches it */
static const char *check(int devtty, dev_t rdev, pid_t fg)
{
	static char msg[128];
	struct stat st;
	pid_t pg = -1, sid = -1;
	if ((dev_t)ctty_nr() != rdev) {
		snprintf(msg, sizeof(msg), "controlling terminal %x, want %x", ctty_nr(), (int)rdev);
		return msg;
	}
	if (fstat(devtty, &st) || st.st_rdev != makedev(5, 0))
		return "the /dev/tty fd is not /dev/tty";
	if (ioctl(devtty, TIOCGPGRP, &pg) || pg != fg || ioctl(devtty, TIOCGSID, &sid) || sid != getsid(0)) {
		snprintf(msg, sizeof(msg), "through /dev/tty: group %d sid %d, want %d %d", pg, sid, fg, getsid(0));
		return msg;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int m, s, devtty, p[2], status;
	char path[64], c;
	pid_t child, pg = -1;
	struct stat st;
	const char *err;

	test_init(argc, argv);
	signal(SIGTTOU, SIG_IGN);
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, path, sizeof(path)))
		fail("posix_openpt: %m");
	s = open(path, O_RDWR); /* a session leader without a terminal: this one becomes it */
	if (s < 0 || fstat(s, &st))
		fail("open %s: %m", path);
	if (tcgetsid(s) != getsid(0))
		fail("%s is not the session's terminal", path);
	devtty = open("/dev/tty", O_RDWR);
	if (devtty < 0 || pipe(p))
		fail("/dev/tty, pipe: %m");
	child = fork();
	if (child < 0)
		fail("fork: %m");
	if (child == 0) {
		setpgid(0, 0);
		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(2);
		err = check(devtty, st.st_rdev, getpid());
		if (err)
			test_msg("child: %s", err);
		_exit(err ? 1 : 0);
	}
	close(p[0]);
	setpgid(child, child);
	if (tcsetpgrp(s, child))
		fail("tcsetpgrp: %m");

	test_daemon();
	if (test_break()) {
		tcsetpgrp(s, getpid());
		test_msg("break: the leader's group is in the foreground now");
	}
	test_waitsig();

	if (tcgetsid(s) != getsid(0))
		fail("%s is not the session's terminal after the restore (%d)", path, tcgetsid(s));
	if (ioctl(m, TIOCGPGRP, &pg) || pg != child)
		fail("the foreground group is %d, want %d", pg, child);
	err = check(devtty, st.st_rdev, child);
	if (err)
		fail("leader: %s", err);
	if (write(p[1], "x", 1) != 1 || waitpid(child, &status, 0) != child)
		fail("child: %m");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("the child's checks failed (status %x)", status);
	pass();
}
