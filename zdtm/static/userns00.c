/* A user namespace of its own: the test maps its root to itself (uid_map and gid_map "0 0 1",
 * setgroups "deny" first, as an unprivileged task must), makes a UTS namespace owned by it, sets
 * the hostname, drops CAP_NET_RAW from its bounding set and CAP_MKNOD from its effective set.
 * After the restore all of it must be as it was. Break: the hostname changes. */
#define TEST_SUID
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void put(const char *file, const char *v)
{
	int fd = open(file, O_WRONLY);
	if (fd < 0 || write(fd, v, strlen(v)) != (ssize_t)strlen(v))
		fail("write %s: %m", file);
	if (fd >= 0)
		close(fd);
}

static void get(const char *file, char *b, size_t n)
{
	int fd = open(file, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : read(fd, b, n - 1);
	b[r < 0 ? 0 : r] = 0;
	if (fd >= 0)
		close(fd);
}

static unsigned long long effective(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	syscall(SYS_capget, &h, d);
	return d[0].effective | (unsigned long long)d[1].effective << 32;
}

int main(int argc, char **argv)
{
	char b[256], map[64], gmap[64], host[64] = "";

	test_init(argc, argv);
	/* the ids outside, read before the unshare (inside they are unmapped until the maps exist) */
	snprintf(map, sizeof map, "0 %d 1\n", (int)geteuid());
	snprintf(gmap, sizeof gmap, "0 %d 1\n", (int)getegid());
	if (unshare(CLONE_NEWUSER))
		fail("unshare(CLONE_NEWUSER): %m");
	put("/proc/self/setgroups", "deny");
	put("/proc/self/uid_map", map);
	put("/proc/self/gid_map", gmap);
	if (unshare(CLONE_NEWUTS) || sethostname("zdtm-userns", 11))
		fail("a UTS namespace: %m");
	if (prctl(PR_CAPBSET_DROP, CAP_NET_RAW))
		fail("PR_CAPBSET_DROP: %m");
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	syscall(SYS_capget, &h, d);
	d[0].effective &= ~(1U << CAP_MKNOD);
	if (syscall(SYS_capset, &h, d))
		fail("capset: %m");
	unsigned long long eff = effective();

	test_daemon();
	if (test_break()) {
		sethostname("broken", 6);
		test_msg("break: hostname changed");
	}
	test_waitsig();

	gethostname(host, sizeof host);
	if (strcmp(host, "zdtm-userns"))
		fail("hostname is %s", host);
	get("/proc/self/setgroups", b, sizeof b);
	if (strcmp(b, "deny\n"))
		fail("setgroups is %s", b);
	get("/proc/self/uid_map", b, sizeof b);
	if (!strstr(b, "         0 ") || !strstr(b, "          1"))
		fail("uid_map is %s", b);
	if (getuid() != 0 || getgid() != 0)
		fail("ids %d/%d inside, not 0/0", (int)getuid(), (int)getgid());
	if (effective() != eff)
		fail("effective capabilities %llx, not %llx", effective(), eff);
	if (prctl(PR_CAPBSET_READ, CAP_NET_RAW) != 0 || prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN) != 1)
		fail("the bounding set changed");
	pass();
}
