/*
 * OFD locks (F_OFD_SETLK) held across checkpoint/restore (needs --file-locks): a write lock on
 * bytes 0-9 of one open file description, which a child shares (inherited), and a read lock on
 * 20-29 of another.  After restore a new description of the file asks F_OFD_GETLK about each
 * range; the write lock belongs to the description, so it stays while the child still has it
 * after the test closes its fd, and goes once the child closes its own.
 */
#include "zdtmtst.h"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int ofd(int fd, int cmd, short type, off_t start, off_t len, struct flock *out)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len, .l_pid = 0 };
	int r = fcntl(fd, cmd, &fl);

	if (out)
		*out = fl;
	return r;
}

/* what a new description of the file sees when it asks for `type` on start+len */
static void expect(short type, off_t start, off_t len, short got, off_t gstart, off_t glen)
{
	struct flock fl;
	int fd = open(test_filename, O_RDWR);

	if (fd < 0 || ofd(fd, F_OFD_GETLK, type, start, len, &fl))
		fail("F_OFD_GETLK: %m");
	close(fd);
	if (fl.l_type != got || (got != F_UNLCK && (fl.l_start != gstart || fl.l_len != glen)))
		fail("asking %d on %lld+%lld: got type %d %lld+%lld, expected %d %lld+%lld", type, (long long)start, (long long)len, fl.l_type,
		     (long long)fl.l_start, (long long)fl.l_len, got, (long long)gstart, (long long)glen);
}

int main(int argc, char **argv)
{
	int wfd, rfd, go[2], done[2];
	pid_t child;
	char c;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	wfd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	rfd = open(test_filename, O_RDONLY);
	if (wfd < 0 || rfd < 0)
		fail("open: %m");
	if (ofd(wfd, F_OFD_SETLK, F_WRLCK, 0, 10, NULL) || ofd(rfd, F_OFD_SETLK, F_RDLCK, 20, 10, NULL))
		fail("F_OFD_SETLK: %m");
	if (pipe(go) || pipe(done))
		fail("pipe: %m");
	child = fork();
	if (child < 0)
		fail("fork: %m");
	if (child == 0) {
		/* holds the write-locked description until told to close it */
		close(rfd);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		close(wfd);
		if (write(done[1], "c", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	test_daemon();
	if (test_break()) {
		ofd(rfd, F_OFD_SETLK, F_UNLCK, 20, 10, NULL);
		test_msg("break: the OFD read lock is released");
	}
	test_waitsig();

	expect(F_RDLCK, 5, 1, F_WRLCK, 0, 10);
	expect(F_WRLCK, 12, 5, F_UNLCK, 0, 0);
	expect(F_RDLCK, 25, 1, F_UNLCK, 0, 0);
	expect(F_WRLCK, 25, 1, F_RDLCK, 20, 10);
	/* OFD locks conflict between descriptions of one process, and belong to the description */
	close(wfd);
	expect(F_WRLCK, 0, 1, F_WRLCK, 0, 10);
	if (write(go[1], "g", 1) != 1 || read(done[0], &c, 1) != 1)
		fail("the child does not answer");
	expect(F_WRLCK, 0, 1, F_UNLCK, 0, 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	pass();
}
