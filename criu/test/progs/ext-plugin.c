/* A plugin for criu/test/plugin-ext.spec.ts: the mount and link hooks of CRIU's plugin API.
 *   DUMP_EXT_MOUNT     takes the mount at $EXTPLUG_MNT (a path in the tree's view)
 *   RESTORE_EXT_MOUNT  mounts a tmpfs at the path it is given, holding a file "f" that reads
 *                      "made by the plugin for mount ID\n"
 *   DUMP_EXT_LINK      takes the links of kind $EXTPLUG_LINK_KIND
 * Everything else: -ENOTSUP. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"

static int dump_ext_mount(char *mountpoint, int id)
{
	const char *want = getenv("EXTPLUG_MNT");

	pr_info("extplug: dump_ext_mount %s %d\n", mountpoint, id);
	return want && !strcmp(want, mountpoint) ? 0 : -ENOTSUP;
}

static int restore_ext_mount(int id, char *mountpoint, char *old_root, int *is_file)
{
	char p[4096], text[64];
	int fd, n;

	pr_info("extplug: restore_ext_mount %d %s %s %s\n", id, mountpoint, old_root, is_file ? "is_file" : "(no is_file)");
	if (mount("extplug", mountpoint, "tmpfs", 0, "size=64k")) {
		pr_perror("extplug: mount a tmpfs at %s", mountpoint);
		return -1;
	}
	snprintf(p, sizeof(p), "%s/f", mountpoint);
	n = snprintf(text, sizeof(text), "made by the plugin for mount %d\n", id);
	fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, text, n) != n || close(fd))
		return -1;
	return 0;
}

static int dump_ext_link(int index, int type, char *kind)
{
	const char *want = getenv("EXTPLUG_LINK_KIND");

	pr_info("extplug: dump_ext_link %d %d %s\n", index, type, kind);
	return want && !strcmp(want, kind) ? 0 : -ENOTSUP;
}

CR_PLUGIN_REGISTER_DUMMY("extplug")
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_MOUNT, dump_ext_mount)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_MOUNT, restore_ext_mount)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_LINK, dump_ext_link)
