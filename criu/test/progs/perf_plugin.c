/*
 * A sample CRIU plugin (criu-plugin.h's ABI) that dumps and restores what no fd kind handles: a
 * software perf event of a task (plugins-engine.spec.ts). DUMP_EXT_FILE gets the tool's own copy
 * of the fd: the plugin checks it is a perf event, finds the task that holds it (kcmp over
 * /proc/PID/fd), reads its count and writes perf-event-ID.img in the images directory
 * (criu_get_image_dir()): the task's pid, the count and the perf_event_attr. The kernel shows no
 * event's attr through its fd, so this sample records the one event it knows how to make again,
 * the task clock (PERF_TYPE_SOFTWARE / PERF_COUNT_SW_TASK_CLOCK). It records itself in the
 * inventory (add_inventory_plugin), so the images cannot be restored without it. RESTORE_EXT_FILE
 * reads that file and opens the event again on the same task (the restore has made the task
 * on its pid by then); the count starts again from zero.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"

#define PERF_IMG_MAGIC 0x50455246 /* "PERF" */

struct perf_img {
	uint32_t magic;
	int32_t pid;
	uint64_t count;
	struct perf_event_attr attr;
};

static int in_inventory;

static int is_perf(const char *fdpath)
{
	char link[64] = "";

	if (readlink(fdpath, link, sizeof(link) - 1) < 0)
		return 0;
	return !strcmp(link, "anon_inode:[perf_event]");
}

/* the task other than us holding the open file description of our fd */
static int owner_of(int fd)
{
	pid_t me = getpid();
	struct dirent *p, *f;
	DIR *procs, *fds;
	char d[64], l[384];
	int found = -1;

	procs = opendir("/proc");
	if (!procs)
		return -1;
	while (found < 0 && (p = readdir(procs))) {
		int pid = atoi(p->d_name);

		if (pid <= 0 || pid == me)
			continue;
		snprintf(d, sizeof(d), "/proc/%d/fd", pid);
		fds = opendir(d);
		if (!fds)
			continue;
		while ((f = readdir(fds))) {
			int theirs = atoi(f->d_name);

			if (f->d_name[0] == '.')
				continue;
			snprintf(l, sizeof(l), "%s/%s", d, f->d_name);
			if (is_perf(l) && syscall(SYS_kcmp, me, pid, KCMP_FILE, fd, theirs) == 0) {
				found = pid;
				break;
			}
		}
		closedir(fds);
	}
	closedir(procs);
	return found;
}

static int perf_dump(int fd, int id)
{
	struct perf_img img;
	char self[64], name[64];
	int out;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (!is_perf(self))
		return -ENOTSUP;
	memset(&img, 0, sizeof(img));
	img.magic = PERF_IMG_MAGIC;
	img.pid = owner_of(fd);
	if (img.pid < 0) {
		pr_err("perf_event: no task holds file %#x\n", id);
		return -1;
	}
	if (read(fd, &img.count, sizeof(img.count)) != sizeof(img.count)) {
		pr_perror("perf_event: cannot read the count of file %#x", id);
		return -1;
	}
	img.attr.type = PERF_TYPE_SOFTWARE;
	img.attr.size = sizeof(img.attr);
	img.attr.config = PERF_COUNT_SW_TASK_CLOCK;
	snprintf(name, sizeof(name), "perf-event-%d.img", id);
	out = openat(criu_get_image_dir(), name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (out < 0 || write(out, &img, sizeof(img)) != sizeof(img)) {
		pr_perror("perf_event: cannot write %s", name);
		if (out >= 0)
			close(out);
		return -1;
	}
	close(out);
	if (!in_inventory && add_inventory_plugin(CR_PLUGIN_DESC.name))
		return -1;
	in_inventory = 1;
	pr_info("perf_event: dumped file %#x of task %d (count %llu) to %s\n", id, img.pid, (unsigned long long)img.count, name);
	return 0;
}

static int perf_restore(int id)
{
	struct perf_img img;
	char name[64];
	int in, fd;

	snprintf(name, sizeof(name), "perf-event-%d.img", id);
	in = openat(criu_get_image_dir(), name, O_RDONLY);
	if (in < 0)
		return -ENOTSUP; /* not one of ours */
	if (read(in, &img, sizeof(img)) != sizeof(img) || img.magic != PERF_IMG_MAGIC) {
		pr_err("perf_event: %s is damaged\n", name);
		close(in);
		return -1;
	}
	close(in);
	fd = syscall(SYS_perf_event_open, &img.attr, img.pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		pr_perror("perf_event: cannot open the event of file %#x on task %d again", id, img.pid);
		return -1;
	}
	pr_info("perf_event: restored file %#x on task %d as fd %d\n", id, img.pid, fd);
	return fd;
}

static int perf_init(int stage)
{
	pr_info("perf_event: init stage %d\n", stage);
	return 0;
}

static void perf_exit(int stage, int ret)
{
	pr_info("perf_event: exit stage %d ret %d\n", stage, ret);
}

CR_PLUGIN_REGISTER("perf_event", perf_init, perf_exit)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, perf_dump)
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, perf_restore)
