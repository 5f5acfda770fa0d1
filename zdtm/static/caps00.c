/* Capabilities: effective, permitted, inheritable sets, the bounding set and the
 * ambient set, all set to unusual values (needs root). */
#define TEST_SUID
#include "zdtmtst.h"
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int capget_(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return syscall(SYS_capget, &h, d);
}

static int capset_(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return syscall(SYS_capset, &h, d);
}

static void status_line(const char *key, char *out, size_t sz)
{
	char buf[8192], *p;
	out[0] = 0;
	if (read_file("/proc/self/status", buf, sizeof(buf)) <= 0 || !(p = strstr(buf, key)))
		return;
	snprintf(out, sz, "%.*s", (int)strcspn(p, "\n"), p);
}

int main(int argc, char **argv)
{
	struct __user_cap_data_struct d[2], now[2];
	char bnd[128], amb[128], bnd2[128], amb2[128];

	test_init(argc, argv);
	if (capget_(d))
		fail("capget: %m");
	/* drop a few from the bounding set */
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT) || prctl(PR_CAPBSET_DROP, CAP_MKNOD))
		fail("PR_CAPBSET_DROP: %m");
	d[0].effective &= ~((1u << CAP_CHOWN) | (1u << CAP_KILL));
	d[0].permitted &= ~(1u << CAP_KILL);
	d[0].inheritable = (1u << CAP_NET_RAW) | (1u << CAP_SETUID);
	d[1].effective &= ~(1u << (CAP_SYSLOG - 32));
	d[1].inheritable = 0;
	if (capset_(d))
		fail("capset: %m");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0))
		fail("PR_CAP_AMBIENT_RAISE: %m");
	if (capget_(d))
		fail("capget: %m");
	status_line("CapBnd:", bnd, sizeof(bnd));
	status_line("CapAmb:", amb, sizeof(amb));
	test_daemon();
	if (test_break()) {
		struct __user_cap_data_struct b[2];
		memcpy(b, d, sizeof(b));
		b[0].effective &= ~(1u << CAP_DAC_OVERRIDE);
		capset_(b);
		test_msg("break: dropped CAP_DAC_OVERRIDE from the effective set");
	}
	test_waitsig();

	if (capget_(now))
		fail("capget: %m");
	for (int i = 0; i < 2; i++)
		if (now[i].effective != d[i].effective || now[i].permitted != d[i].permitted ||
		    now[i].inheritable != d[i].inheritable)
			fail("caps word %d: eff %#x prm %#x inh %#x, expected %#x %#x %#x", i, now[i].effective,
			     now[i].permitted, now[i].inheritable, d[i].effective, d[i].permitted, d[i].inheritable);
	status_line("CapBnd:", bnd2, sizeof(bnd2));
	status_line("CapAmb:", amb2, sizeof(amb2));
	if (strcmp(bnd, bnd2))
		fail("%s, expected %s", bnd2, bnd);
	if (strcmp(amb, amb2))
		fail("%s, expected %s", amb2, amb);
	pass();
}
