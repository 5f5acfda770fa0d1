/* argv: /proc/self/cmdline (mm->arg_start..arg_end) and argv[] strings on the stack. */
#include "zdtmtst.h"
#include <string.h>

int main(int argc, char **argv)
{
	static char saved[65536], now[65536];
	ssize_t len, len2;
	int i;
	char *p;

	test_init(argc, argv);
	len = read_file("/proc/self/cmdline", saved, sizeof(saved));
	if (len <= 0)
		fail("can't read /proc/self/cmdline");
	test_daemon();
	if (test_break()) {
		argv[argc - 1][0] ^= 0x01;	/* the last argument, in place */
		test_msg("break: changed argv[%d]", argc - 1);
	}
	test_waitsig();

	len2 = read_file("/proc/self/cmdline", now, sizeof(now));
	if (len2 != len || memcmp(saved, now, len))
		fail("/proc/self/cmdline changed (%zd -> %zd bytes)", len, len2);
	for (i = 0, p = saved; i < argc; i++, p += strlen(p) + 1) {
		if (p >= saved + len)
			fail("cmdline has fewer than %d arguments", argc);
		if (strcmp(argv[i], p))
			fail("argv[%d] is '%s', cmdline says '%s'", i, argv[i], p);
	}
	pass();
}
