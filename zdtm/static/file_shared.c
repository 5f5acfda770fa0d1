/* A file description shared by a parent and its child (one position for both). */
#include "zdtmtst.h"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int fd, req[2], resp[2];
	pid_t child;
	off_t got;
	char c;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 65536))
		fail("open: %m");
	lseek(fd, 4321, SEEK_SET);
	if (pipe(req) || pipe(resp))
		fail("pipe: %m");
	child = fork();
	if (child == 0) {
		close(req[1]);
		close(resp[0]);
		/* report the position; on 'M' move it to 999 */
		while (read(req[0], &c, 1) == 1) {
			if (c == 'M')
				lseek(fd, 999, SEEK_SET);
			off_t p = lseek(fd, 0, SEEK_CUR);
			if (write(resp[1], &p, sizeof(p)) != sizeof(p))
				_exit(1);
		}
		_exit(0);
	}
	close(req[0]);
	close(resp[1]);
	test_daemon();
	if (test_break()) {
		int nfd = open(test_filename, O_RDWR);
		lseek(nfd, 4321, SEEK_SET);
		dup2(nfd, fd);	/* same number and position, but no longer shared */
		close(nfd);
		test_msg("break: the parent's fd %d is a new description", fd);
	}
	test_waitsig();

	if (lseek(fd, 0, SEEK_CUR) != 4321)
		fail("the parent's position is %lld", (long long)lseek(fd, 0, SEEK_CUR));
	if (write(req[1], "?", 1) != 1 || read(resp[0], &got, sizeof(got)) != sizeof(got))
		fail("the child does not answer");
	if (got != 4321)
		fail("the child's position is %lld, expected 4321", (long long)got);
	lseek(fd, 2222, SEEK_SET);
	if (write(req[1], "?", 1) != 1 || read(resp[0], &got, sizeof(got)) != sizeof(got) || got != 2222)
		fail("the child does not see the parent's move (it is at %lld)", (long long)got);
	if (write(req[1], "M", 1) != 1 || read(resp[0], &got, sizeof(got)) != sizeof(got))
		fail("the child does not answer");
	if (lseek(fd, 0, SEEK_CUR) != 999)
		fail("the parent does not see the child's move (at %lld)", (long long)lseek(fd, 0, SEEK_CUR));
	close(req[1]);
	waitpid(child, NULL, 0);
	pass();
}
