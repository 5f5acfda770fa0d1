/* Supplementary groups: a long custom list (needs root to set). */
#define TEST_SUID
#include "zdtmtst.h"
#include <grp.h>
#include <unistd.h>

#define NG 40

int main(int argc, char **argv)
{
	gid_t want[NG], now[NG + 8];
	int i, n;

	test_init(argc, argv);
	for (i = 0; i < NG; i++)
		want[i] = 50000 + i * 37;
	if (setgroups(NG, want))
		fail("setgroups: %m");
	test_daemon();
	if (test_break()) {
		setgroups(NG - 1, want);
		test_msg("break: dropped the last group");
	}
	test_waitsig();

	n = getgroups(NG + 8, now);
	if (n != NG)
		fail("%d groups, expected %d", n, NG);
	for (i = 0; i < NG; i++)
		if (now[i] != want[i])
			fail("group %d is %d, expected %d", i, now[i], want[i]);
	pass();
}
