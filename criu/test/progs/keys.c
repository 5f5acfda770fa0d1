/* A foreground job of an interactive shell: its terminal in raw mode, it answers every key with
 * "key:<c> fg=<1 if its group is the terminal's foreground group> n=<keys so far>", and quits on q
 * (the terminal's modes put back). */
#include <stdio.h>
#include <termios.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/syscall.h>

int main(void)
{
	struct termios saved, raw;
	unsigned char c;
	int n = 0;

	/* what the test runner's terminals leak into the shell is not the job's */
	syscall(SYS_close_range, 3, ~0U, 0);
	if (tcgetattr(0, &saved))
		return 2;
	raw = saved;
	cfmakeraw(&raw);
	raw.c_oflag |= OPOST | ONLCR;
	if (tcsetattr(0, TCSANOW, &raw))
		return 3;
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	while (read(0, &c, 1) == 1) {
		n++;
		printf("key:%c fg=%d n=%d\n", c, tcgetpgrp(0) == getpgrp(), n);
		fflush(stdout);
		if (c == 'q')
			break;
	}
	tcsetattr(0, TCSANOW, &saved);
	return 0;
}
