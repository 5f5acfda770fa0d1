/* umask */
#include "zdtmtst.h"
#include <sys/stat.h>

#define MASK 0347

int main(int argc, char **argv)
{
	mode_t m;

	test_init(argc, argv);
	umask(MASK);
	test_daemon();
	if (test_break()) {
		umask(022);
		test_msg("break: umask set to 022");
	}
	test_waitsig();
	m = umask(0);
	if (m != MASK)
		fail("umask is %#o, expected %#o", m, MASK);
	pass();
}
