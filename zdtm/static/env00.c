/* The environment: /proc/self/environ (mm->env_start..env_end) and the strings it points to. */
#include "zdtmtst.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char saved[65536];

int main(int argc, char **argv, char **envp)
{
	ssize_t len, len2;
	static char now[65536];

	setenv("ZDTM_ENV00", "the environment must survive", 1);	/* heap copy */
	test_init(argc, argv);
	len = read_file("/proc/self/environ", saved, sizeof(saved));
	if (len <= 0)
		fail("can't read /proc/self/environ");
	if (!envp[0])
		fail("empty environment");
	test_daemon();
	if (test_break()) {
		/* rewrite the first byte of the first string in the original environment area */
		envp[0][0] ^= 0x20;
		test_msg("break: changed envp[0] to %.20s", envp[0]);
	}
	test_waitsig();

	len2 = read_file("/proc/self/environ", now, sizeof(now));
	if (len2 != len || memcmp(now, saved, len))
		fail("/proc/self/environ changed (%zd -> %zd bytes): starts with '%.40s' instead of '%.40s'",
		     len, len2, now, saved);
	/* the envp strings still live where /proc says */
	if (strcmp(envp[0], saved))
		fail("envp[0] is '%s', expected '%s'", envp[0], saved);
	if (!getenv("ZDTM_ENV00") || strcmp(getenv("ZDTM_ENV00"), "the environment must survive"))
		fail("ZDTM_ENV00 is '%s'", getenv("ZDTM_ENV00") ?: "(unset)");
	pass();
}
