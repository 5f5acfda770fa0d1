/* fanotify: a group's init and event flags, inode marks (a file with a mask and an ignored mask,
 * a directory with FAN_EVENT_ON_CHILD) and a mount mark, as fdinfo shows them; the restored group
 * still reports a write to the marked file. */
#define TEST_SUID
#include <ctype.h>
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the "fanotify" lines of fd's fdinfo, sorted; a mount mark's mnt_id left out (a restore that
 * rebuilds the mounts gives them new ids: the mark is checked by an event on that mount instead) */
static int marks(int fd, char *out, size_t sz)
{
	char path[64], buf[8192], *lines[32], *p, *save;
	size_t off = 0;
	int n = 0;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	for (p = strtok_r(buf, "\n", &save); p && n < 32; p = strtok_r(NULL, "\n", &save))
		if (!strncmp(p, "fanotify ", 9)) {
			char *m = strstr(p, "mnt_id:");
			if (m)
				for (m += 7; isxdigit((unsigned char)*m); m++) /* "%x" */
					*m = '*';
			lines[n++] = p;
		}
	qsort(lines, n, sizeof(lines[0]), cmp);
	out[0] = 0;
	for (int i = 0; i < n; i++)
		off += snprintf(out + off, sz - off, "%s\n", lines[i]);
	return n;
}

int main(int argc, char **argv)
{
	int g, f, n;
	char before[4096], after[4096], child[512];
	char buf[4096] __attribute__((aligned(8)));

	test_init(argc, argv);
	if (!test_filename || !test_dirname)
		fail("--filename and --dirname are required");
	if (mkdir(test_dirname, 0755))
		fail("mkdir: %m");
	f = open(test_filename, O_RDWR | O_CREAT, 0644);
	if (f < 0)
		fail("open: %m");
	g = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (g < 0)
		fail("fanotify_init: %m");
	if (fanotify_mark(g, FAN_MARK_ADD, FAN_MODIFY | FAN_CLOSE_WRITE, AT_FDCWD, test_filename) ||
	    fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_ACCESS, AT_FDCWD, test_filename) ||
	    fanotify_mark(g, FAN_MARK_ADD, FAN_OPEN | FAN_EVENT_ON_CHILD | FAN_ONDIR, AT_FDCWD, test_dirname) ||
	    fanotify_mark(g, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_CLOSE_WRITE, AT_FDCWD, "/dev/shm"))
		fail("fanotify_mark: %m");
	/* nothing queued at dump time (CRIU drops queued events) */
	while (read(g, buf, sizeof(buf)) > 0)
		;
	if (marks(g, before, sizeof(before)) != 4)
		fail("fdinfo shows %d fanotify lines, expected 4:\n%s", marks(g, before, sizeof(before)), before);
	test_daemon();
	if (test_break()) {
		fanotify_mark(g, FAN_MARK_REMOVE | FAN_MARK_IGNORED_MASK, FAN_ACCESS, AT_FDCWD, test_filename);
		test_msg("break: the ignored mask is removed");
	}
	test_waitsig();

	if (marks(g, after, sizeof(after)) < 0)
		fail("cannot read fdinfo");
	if (strcmp(before, after))
		fail("fanotify lines:\n%s\nexpected:\n%s", after, before);
	if (!(fcntl(g, F_GETFL) & O_NONBLOCK))
		fail("the group lost O_NONBLOCK");
	while (read(g, buf, sizeof(buf)) > 0)
		;
	if (pwrite(f, "x", 1, 0) != 1)
		fail("write: %m");
	n = read(g, buf, sizeof(buf));
	if (n < (int)sizeof(struct fanotify_event_metadata))
		fail("no event after a write to the marked file (%d: %m)", n);
	{
		struct fanotify_event_metadata *md = (void *)buf;
		int found = 0;
		for (; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
			if (md->pid == getpid() && (md->mask & FAN_MODIFY))
				found = 1;
			if (md->fd >= 0)
				close(md->fd);
		}
		if (!found)
			fail("no FAN_MODIFY event of this task");
	}
	snprintf(child, sizeof(child), "%s/child", test_dirname);
	close(open(child, O_RDWR | O_CREAT, 0644));
	n = read(g, buf, sizeof(buf));
	if (n < (int)sizeof(struct fanotify_event_metadata))
		fail("no event for a child of the marked directory (%d: %m)", n);
	unlink(child);
	/* the mount mark: a file closed after writing on /dev/shm is reported */
	while (read(g, buf, sizeof(buf)) > 0)
		;
	close(open("/dev/shm/fanotify00.mnt", O_RDWR | O_CREAT, 0644));
	unlink("/dev/shm/fanotify00.mnt");
	n = read(g, buf, sizeof(buf));
	{
		struct fanotify_event_metadata *md = (void *)buf;
		int found = 0;
		for (; n > 0 && FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
			if (md->mask & FAN_CLOSE_WRITE)
				found = 1;
			if (md->fd >= 0)
				close(md->fd);
		}
		if (!found)
			fail("no FAN_CLOSE_WRITE event from the mount mark on /dev/shm (%d: %m)", n);
	}
	pass();
}
