/* A bridge and a macvlan in the tree's own network namespace (flavors ns and uns): a bridge
 * zdtm-br0 (its MTU and MAC) with an address, one end of a veth pair as its port, and a macvlan
 * zdtm-mv0 (mode private) on the other end, with an address of its own. The links as `ip`
 * prints them (their kinds, masters and macvlan mode with -d, without bridge timers and
 * counters) and the addresses are taken before the checkpoint and must read the same after it
 * (within 5 s: the carrier reaches a macvlan from its veth asynchronously).
 * Break mode takes the port out of the bridge. */
#define TEST_SUID
#include "zdtmtst.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

/* the links (their kinds, masters and macvlan mode, without bridge timers and counters) and addresses */
#define STATE                                                                                                         \
	"ip -o link show | sed 's/ link-netnsid [0-9]*//'; ip -o link show type bridge; ip -o link show master zdtm-br0; " \
	"ip -o -d link show zdtm-mv0 | grep -o 'macvlan mode [a-z]*'; "                                                     \
	"ip -o addr show | sed 's/ tentative//; s/valid_lft.*//'"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (!getenv("ZDTM_NEWNS"))
		fail("the test needs a network namespace of the tree's own (flavors ns and uns)");
	if (mkdir(test_dirname, 0755) || !realpath(test_dirname, dir))
		fail("mkdir %s: %m", test_dirname);
	run_sh("ip link add zdtm-br0 mtu 1450 address 02:00:00:00:bb:01 type bridge");
	run_sh("ip link add zdtm-p0 address 02:00:00:00:bb:02 type veth peer name zdtm-p1 address 02:00:00:00:bb:03");
	run_sh("ip link set zdtm-p0 master zdtm-br0 && ip link set zdtm-p0 up && ip link set zdtm-p1 up && ip link set zdtm-br0 up");
	run_sh("ip link add zdtm-mv0 link zdtm-p1 address 02:00:00:00:bb:04 type macvlan mode private && ip link set zdtm-mv0 up");
	run_sh("ip addr add 10.125.0.1/24 dev zdtm-br0 && ip addr add 10.125.0.2/24 dev zdtm-mv0");
	save_output(STATE, in_dir(dir, "before"));
	test_daemon();
	if (test_break()) {
		run_sh("ip link set zdtm-p0 nomaster");
		test_msg("break: zdtm-p0 left the bridge");
	}
	test_waitsig();

	/* a carrier reaches the links stacked on a veth asynchronously (linkwatch): up to 5 s */
	expect_output(STATE, in_dir(dir, "before"), 5000);
	pass();
}
