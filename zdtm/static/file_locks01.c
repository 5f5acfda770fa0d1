/*
 * POSIX record locks held across checkpoint/restore (needs --file-locks): a write lock on
 * bytes 0-9, a read lock on 20-29 and a write lock from 100 to EOF, taken through an fd and
 * a dup() of it.  After restore a forked checker asks F_GETLK about each range and must see
 * the test's locks (type, range, pid) and nothing where there is none.
 */
#include "zdtmtst.h"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

static int setlk(int fd, short type, off_t start, off_t len)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	return fcntl(fd, F_SETLK, &fl);
}

struct probe {
	short ask;		/* the lock the checker would take */
	off_t start, len;
	short type;		/* what F_GETLK must say: F_UNLCK or the conflicting lock */
	off_t lstart, llen;
};

static const struct probe probes[] = {
	{ F_RDLCK, 3, 1, F_WRLCK, 0, 10 },
	{ F_WRLCK, 9, 5, F_WRLCK, 0, 10 },
	{ F_RDLCK, 12, 5, F_UNLCK, 0, 0 },
	{ F_RDLCK, 25, 1, F_UNLCK, 0, 0 },	/* a read lock does not conflict with a read lock */
	{ F_WRLCK, 25, 1, F_RDLCK, 20, 10 },
	{ F_WRLCK, 50, 10, F_UNLCK, 0, 0 },
	{ F_RDLCK, 1000, 1, F_WRLCK, 100, 0 },
};

int main(int argc, char **argv)
{
	int fd, fd2, status;
	pid_t me, pid;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fail("open: %m");
	fd2 = dup(fd);
	if (fd2 < 0 || setlk(fd, F_WRLCK, 0, 10) || setlk(fd2, F_RDLCK, 20, 10) || setlk(fd, F_WRLCK, 100, 0))
		fail("F_SETLK: %m");
	test_daemon();
	if (test_break()) {
		setlk(fd, F_UNLCK, 20, 10);
		test_msg("break: the read lock on 20-29 is released");
	}
	test_waitsig();

	me = getpid();
	pid = fork();
	if (pid == 0) {
		int cfd = open(test_filename, O_RDWR);
		unsigned i;

		if (cfd < 0) {
			test_msg("checker: open: %m");
			_exit(1);
		}
		for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			const struct probe *p = &probes[i];
			struct flock fl = { .l_type = p->ask, .l_whence = SEEK_SET, .l_start = p->start, .l_len = p->len };

			if (fcntl(cfd, F_GETLK, &fl)) {
				test_msg("checker: F_GETLK: %m");
				_exit(1);
			}
			if (fl.l_type != p->type || (p->type != F_UNLCK && (fl.l_start != p->lstart || fl.l_len != p->llen || fl.l_pid != me))) {
				test_msg("probe %u (%d on %lld+%lld): got type %d %lld+%lld pid %d, expected type %d %lld+%lld pid %d", i, p->ask,
					 (long long)p->start, (long long)p->len, fl.l_type, (long long)fl.l_start, (long long)fl.l_len, fl.l_pid,
					 p->type, (long long)p->lstart, (long long)p->llen, me);
				_exit(1);
			}
		}
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		fail("checker: %m");
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("the checker saw other locks than the test holds (see above)");
	/* the test still owns them: it can change and drop them */
	if (setlk(fd2, F_UNLCK, 0, 0))
		fail("unlock: %m");
	pass();
}
