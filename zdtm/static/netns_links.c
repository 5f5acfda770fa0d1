/* Links, addresses, routes, rules, firewall and per-link sysctls of the tree's own network
 * namespace (flavors ns and uns: the launcher gives the tree one): a veth pair with both ends
 * inside (its own MTU, MAC and state on each end), IPv4 and IPv6 addresses on it, a route via
 * the peer, a rule, an nftables table with a rule, net.ipv4.conf.<link>.forwarding,
 * net.ipv6.conf.{all,<link>}.accept_dad. The state as
 * `ip` and `nft` print it (routes sorted: routes of one prefix on two links come back in another
 * order) is taken, once DAD has passed on every address (the link-local ones the kernel made
 * and their local routes), before the checkpoint and must read the same right after it: the
 * restore brings back addresses that had passed DAD without a second DAD (no "tentative"
 * address, no missing local route for its second).
 * Break mode changes the MTU of one end. */
#define TEST_SUID
#include "zdtmtst.h"
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

/* what the namespace holds, as the tools print it (no counters, no lifetimes) */
#define STATE                                                                                              \
	"ip -o link show | sed 's/ link-netnsid [0-9]*//'; ip -o addr show | sed 's/valid_lft.*//'; " \
	"ip route show table all | sort; ip -6 route show table all | sort; ip rule show; "                      \
	"nft list ruleset 2>/dev/null | grep -v '^#'; "                                                           \
	"cat /proc/sys/net/ipv4/conf/zdtm-v0/forwarding /proc/sys/net/ipv6/conf/zdtm-v1/hop_limit "           \
	"/proc/sys/net/ipv6/conf/all/accept_dad /proc/sys/net/ipv6/conf/zdtm-v0/accept_dad"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (!getenv("ZDTM_NEWNS"))
		fail("the test needs a network namespace of the tree's own (flavors ns and uns)");
	if (mkdir(test_dirname, 0755))
		fail("mkdir %s: %m", test_dirname);
	if (!realpath(test_dirname, dir))
		fail("realpath %s: %m", test_dirname);
	/* DAD wanted by `all` as well as by each link (the kernel's default has it by the links only) */
	run_sh("echo 1 > /proc/sys/net/ipv6/conf/all/accept_dad");
	run_sh("ip link add zdtm-v0 mtu 1480 address 02:00:00:00:aa:01 type veth peer name zdtm-v1 mtu 1400 address 02:00:00:00:aa:02");
	run_sh("ip addr add 10.123.0.1/24 dev zdtm-v0 && ip addr add 10.123.0.2/24 dev zdtm-v1");
	run_sh("ip addr add fd00:123::1/64 dev zdtm-v0 nodad && ip link set zdtm-v0 up && ip link set zdtm-v1 up");
	run_sh("ip route add 10.124.0.0/16 via 10.123.0.2 dev zdtm-v0 && ip rule add from 10.123.0.0/24 lookup main pref 1000");
	run_sh("nft add table inet zdtm_t && nft add chain inet zdtm_t in '{ type filter hook input priority 0; }' && "
	   "nft add rule inet zdtm_t in tcp dport 9 drop");
	run_sh("echo 1 > /proc/sys/net/ipv4/conf/zdtm-v0/forwarding && echo 33 > /proc/sys/net/ipv6/conf/zdtm-v1/hop_limit");
	/* DAD of the link-local addresses: up to a few seconds (rtr_solicit_delay, then one probe) */
	run_sh("for i in $(seq 100); do [ -z \"$(ip -6 addr show tentative)\" ] && exit 0; sleep 0.1; done; "
	       "echo 'DAD did not end in 10 s' >&2; ip -6 addr show tentative >&2; exit 1");
	save_output(STATE, in_dir(dir, "before"));
	test_daemon();
	if (test_break()) {
		run_sh("ip link set zdtm-v1 mtu 1300");
		test_msg("break: the MTU of zdtm-v1 changed");
	}
	test_waitsig();

	expect_output(STATE, in_dir(dir, "before"), 0);
	pass();
}
