/* Task waiters and /proc helpers. */
#include "zdtmtst.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void task_waiter_init(task_waiter_t *t)
{
	t->word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t->word == MAP_FAILED) {
		pr_perror("task_waiter mmap");
		exit(1);
	}
	*t->word = 0;
}

void task_waiter_fini(task_waiter_t *t)
{
	munmap((void *)t->word, 4096);
	t->word = NULL;
}

void task_waiter_complete(task_waiter_t *t, int32_t id)
{
	__atomic_store_n(t->word, id, __ATOMIC_SEQ_CST);
	sys_futex(t->word, FUTEX_WAKE, INT_MAX, NULL);
}

void task_waiter_complete_current(task_waiter_t *t)
{
	task_waiter_complete(t, getpid());
}

void task_waiter_wait4(task_waiter_t *t, int32_t id)
{
	for (;;) {
		int32_t v = __atomic_load_n(t->word, __ATOMIC_SEQ_CST);
		if (v == id)
			return;
		sys_futex(t->word, FUTEX_WAIT, v, NULL);
	}
}

void run_sh(const char *cmd)
{
	int r = system(cmd);

	if (r != 0)
		fail("`%s` failed (status %d)", cmd, r);
}

void save_output(const char *cmd, const char *file)
{
	char c[8192];

	snprintf(c, sizeof(c), "{ %s; } > '%s' 2>&1", cmd, file);
	run_sh(c);
}

void expect_output(const char *cmd, const char *file, int settle_ms)
{
	static char before[1 << 16], now[1 << 16];
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.now", file);
	if (read_file(file, before, sizeof(before)) < 0)
		fail("read %s: %m", file);
	for (int waited = 0;; waited += 100) {
		save_output(cmd, tmp);
		if (read_file(tmp, now, sizeof(now)) < 0)
			fail("read %s: %m", tmp);
		if (!strcmp(before, now))
			return;
		if (waited >= settle_ms)
			break;
		usleep(100000);
	}
	/* the lines that differ, each side's missing from the other, so that the reason fits a line */
	static char diff[1 << 12];
	size_t off = 0;
	for (int side = 0; side < 2; side++) {
		char *text = side ? now : before, *other = side ? before : now, *save = NULL, copy[1 << 16];
		snprintf(copy, sizeof(copy), "%s", text);
		for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			size_t n = strlen(l);
			int whole = 0;
			for (char *hit = strstr(other, l); hit && !whole; hit = strstr(hit + 1, l))
				whole = (hit == other || hit[-1] == '\n') && (hit[n] == '\n' || !hit[n]);
			if (!whole && off < sizeof(diff) - 1)
				off += snprintf(diff + off, sizeof(diff) - off, "%s%s%s", off ? " | " : "", side ? "+" : "-", l);
		}
	}
	fail("`%s` prints otherwise after the restore (-before +after): %s", cmd, off ? diff : "the same lines, in another order or number");
}

const char *in_dir(const char *dir, const char *name)
{
	static char buf[8][PATH_MAX + 64];
	static int n;
	char *p = buf[n++ % 8];

	snprintf(p, PATH_MAX + 64, "%s/%s", dir, name);
	return p;
}

void private_mount_ns(void)
{
	if (unshare(CLONE_NEWNS))
		fail("unshare(CLONE_NEWNS): %m");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		fail("make the mounts private: %m");
}

void mount_test_dir(char *dir, const char *source, const char *data)
{
	if (!test_dirname)
		fail("--dirname is required");
	if (!getenv("ZDTM_NEWNS"))
		private_mount_ns();
	if (mkdir(test_dirname, 0700) || !realpath(test_dirname, dir))
		fail("mkdir %s: %m", test_dirname);
	if (mount(source, dir, "tmpfs", 0, data))
		fail("mount a tmpfs at %s: %m", dir);
}

ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off + 1 < size) {
		ssize_t r = read(fd, buf + off, size - 1 - off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		off += r;
	}
	buf[off] = 0;
	close(fd);
	return off;
}

static int find_vma(const void *addr, char *line, size_t size, unsigned long *s, unsigned long *e)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char buf[PATH_MAX + 256];
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		unsigned long start, end;
		if (sscanf(buf, "%lx-%lx", &start, &end) != 2)
			continue;
		if ((unsigned long)addr >= start && (unsigned long)addr < end) {
			if (line) {
				buf[strcspn(buf, "\n")] = 0;
				snprintf(line, size, "%s", buf);
			}
			if (s)
				*s = start;
			if (e)
				*e = end;
			ret = 0;
			break;
		}
	}
	fclose(f);
	if (ret && line && size)
		line[0] = 0;
	return ret;
}

int vma_line(const void *addr, char *line, size_t size)
{
	return find_vma(addr, line, size, NULL, NULL);
}

int vma_bounds(const void *addr, unsigned long *start, unsigned long *end)
{
	return find_vma(addr, NULL, 0, start, end);
}

int vma_perms(const void *addr, char perms[5])
{
	char line[PATH_MAX + 256];

	if (find_vma(addr, line, sizeof(line), NULL, NULL))
		return -1;
	if (sscanf(line, "%*x-%*x %4s", perms) != 1)
		return -1;
	return 0;
}

int vma_count(unsigned long start, unsigned long end)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char buf[PATH_MAX + 256];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		unsigned long s, e;
		if (sscanf(buf, "%lx-%lx", &s, &e) == 2 && s < end && e > start)
			n++;
	}
	fclose(f);
	return n;
}

int vma_flags(const void *addr, char *flags, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char buf[PATH_MAX + 256];
	int in = 0, ret = -1;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f)) {
		unsigned long s, e;
		char c;
		if (sscanf(buf, "%lx-%lx %c", &s, &e, &c) == 3 && strchr(buf, '-') < strchr(buf, ' ')) {
			in = (unsigned long)addr >= s && (unsigned long)addr < e;
			continue;
		}
		if (in && !strncmp(buf, "VmFlags:", 8)) {
			char *p = buf + 8;
			while (*p == ' ')
				p++;
			p[strcspn(p, "\n")] = 0;
			snprintf(flags, size, "%s", p);
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

static int parse_stat(const char *path, char *state, pid_t *ppid, pid_t *pgrp, pid_t *sid)
{
	char buf[1024], *p;
	char st;
	int pp, pg, sd;

	if (read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d %d %d", &st, &pp, &pg, &sd) != 4)
		return -1;
	if (state)
		*state = st;
	if (ppid)
		*ppid = pp;
	if (pgrp)
		*pgrp = pg;
	if (sid)
		*sid = sd;
	return 0;
}

int proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, pid_t *sid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/stat");
	return parse_stat(path, state, ppid, pgrp, sid);
}

int task_state(pid_t tid, char *state)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	return parse_stat(path, state, NULL, NULL, NULL);
}
