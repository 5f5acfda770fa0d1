/* Transition: keeps forking short-lived children (several in flight) until SIGTERM;
 * each child's exit code proves it saw the right memory; all are reaped with the right status. */
#include "zdtmtst.h"
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define INFLIGHT 4
#define BUFSZ (256 * 1024)

static uint8_t buf[BUFSZ];
static uint32_t crc = 61;

static int code_for(pid_t pid) { return (crc ^ (uint32_t)pid) & 0x7f; }

int main(int argc, char **argv)
{
	pid_t kids[INFLIGHT] = { 0 };
	unsigned long forks = 0, reaped = 0;
	int i, status;

	test_init(argc, argv);
	datagen(buf, BUFSZ, &crc);
	test_daemon();
	while (test_go()) {
		for (i = 0; i < INFLIGHT; i++) {
			if (kids[i])
				continue;
			pid_t pid = fork();
			if (pid < 0) {
				if (errno == EAGAIN || errno == EINTR)
					continue;
				fail("fork: %m");
			}
			if (pid == 0) {
				uint32_t c = zdtm_crc32(0, buf, BUFSZ);
				usleep(1000);
				_exit((c ^ (uint32_t)getpid()) & 0x7f);
			}
			kids[i] = pid;
			forks++;
			if (test_break() && forks == INFLIGHT) {
				kill(pid, SIGKILL);
				test_msg("break: killed child %d", pid);
			}
		}
		pid_t pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			fail("waitpid: %m");
		}
		for (i = 0; i < INFLIGHT && kids[i] != pid; i++)
			;
		if (i == INFLIGHT)
			fail("reaped an unknown child %d", pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != code_for(pid))
			fail("child %d ended with status %#x, expected exit %d", pid, status, code_for(pid));
		kids[i] = 0;
		reaped++;
	}
	for (i = 0; i < INFLIGHT; i++) {
		if (!kids[i])
			continue;
		if (waitpid(kids[i], &status, 0) != kids[i])
			fail("waitpid(%d): %m", kids[i]);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != code_for(kids[i]))
			fail("child %d ended with status %#x, expected exit %d", kids[i], status, code_for(kids[i]));
		reaped++;
	}
	if (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD)
		fail("unexpected children remain");
	if (reaped != forks || forks == 0)
		fail("forked %lu, reaped %lu", forks, reaped);
	test_msg("%lu children forked and checked", forks);
	pass();
}
