/* Credentials: distinct real/effective/saved uids and gids (root needed to set them). */
#define TEST_SUID
#include "zdtmtst.h"
#include <sys/fsuid.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uid_t r, e, s;
	gid_t gr, ge, gs;

	test_init(argc, argv);
	if (setresgid(2001, 2002, 2003))
		fail("setresgid: %m");
	if (setresuid(1001, 1002, 0))	/* saved uid 0: we can come back */
		fail("setresuid: %m");
	test_daemon();
	if (test_break()) {
		/* the saved uid 0 lets us regain root for a moment */
		if (seteuid(0) || setresgid(2001, 2002, 2099) || seteuid(1002))
			fail("break: %m");
		test_msg("break: saved gid set to 2099");
	}
	test_waitsig();

	if (getresuid(&r, &e, &s) || getresgid(&gr, &ge, &gs))
		fail("getres[ug]id: %m");
	if (r != 1001 || e != 1002 || s != 0)
		fail("uids are %d/%d/%d, expected 1001/1002/0", r, e, s);
	if (gr != 2001 || ge != 2002 || gs != 2003)
		fail("gids are %d/%d/%d, expected 2001/2002/2003", gr, ge, gs);
	if (setfsuid(-1) != 1002 || setfsgid(-1) != 2002)
		fail("fsuid/fsgid are %d/%d, expected 1002/2002", setfsuid(-1), setfsgid(-1));
	pass();
}
