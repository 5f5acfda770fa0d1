/* criu-mnt-helper: the mount work of a tree's own mount namespace (criu/src/ns/mnt.ts).
 *
 * setns(2) into a mount namespace is refused to a multithreaded process (Node is one), so
 * this single-threaded helper does it:
 *
 *   criu-mnt-helper dump-tmpfs PID MOUNTPOINT
 *       A clone of the one mount at MOUNTPOINT of PID's mount namespace (open_tree
 *       OPEN_TREE_CLONE made inside that namespace: the mount alone, without the mounts
 *       over it), then back in the helper's own namespace, tar (as CRIU runs it) of that
 *       clone to stdout.
 *
 *   criu-mnt-helper restore PID [--clone SLOT PATH]... < SCRIPT
 *       Runs SCRIPT in PID's mount namespace, and its network namespace (a sysfs is that
 *       namespace's) and cgroup namespace (a cgroup mount's root is that namespace's), and, when PID has another pid namespace, in a child forked in it (so a
 *       proc mounted there is that namespace's). SCRIPT is a list
 *       of operations, each a letter and its arguments, every token ending in a NUL:
 *       --clone: before joining PID's namespaces, a clone of the mount at PATH of the helper's own
 *       namespace (open_tree OPEN_TREE_CLONE: a plugin's mount, RESTORE_EXT_MOUNT) as SLOT.
 *         P                          make every mount private (the copy of the launcher's)
 *         O SLOT PATH                open PATH (O_PATH) as SLOT, before anything hides it
 *         M SRC TARGET FSTYPE FLAGS DATA   mount(2) a new filesystem
 *         W YARD SRC TARGET FLAGS DATA     mount(2) an overlay with the helper's root at YARD (chroot, and back):
 *                                    its layers' paths in DATA resolve in the tree being built there and are
 *                                    kept as given, so mountinfo shows them as at the dump; TARGET in the tree's view
 *         B SLOT TARGET              bind the file of SLOT at TARGET
 *         A SLOT TARGET              attach the cloned mount of SLOT (--clone) at TARGET, made a directory or a file as it is
 *         b PATH TARGET              bind PATH (in the namespace being built) at TARGET
 *         Q PATH TARGET              the same for a removed PATH: made again (a directory, or a file when TARGET
 *                                    is one; TARGET a directory unless it exists), bound, removed again
 *         R TARGET FLAGS             remount the bind at TARGET with FLAGS (MS_BIND added)
 *         S TARGET FLAGS DATA        remount the filesystem (its superblock) at TARGET with FLAGS and DATA
 *         T FD TARGET                tar --extract of the image on FD into TARGET
 *         D PATH                     mkdir PATH (mode 0755) unless it exists
 *         F PATH                     create an empty file at PATH unless it exists
 *         L SRC PATH                 make PATH a directory or a file as SRC is, unless it exists
 *         Y PTMX INDEX FD            open PTMX until a pty of INDEX is made, unlock it, send its master on FD
 *         X ROOT                     pivot_root to ROOT and detach the old root
 *         K IDX PATH                 keep the mount whose root is PATH (O_PATH) as mount IDX, for the
 *                                    propagation steps, which run after X (pivot_root refuses shared mounts)
 *         J FROM TO                  mount TO joins the peer group and the master of mount FROM
 *                                    (move_mount MOVE_MOUNT_SET_GROUP; TO is private, its root below FROM's)
 *         E FD TO                    the same from the mount open on FD (one of the tool's namespace)
 *         H IDX | V IDX | U IDX      make mount IDX shared | a slave | unbindable
 *       An error names the operation's number and arguments (exit 1).
 *
 *   criu-mnt-helper unix PID bind|connect PATH [MODE UID GID]   (the socket on fd 3)
 *       bind(2) or connect(2) the unix socket on fd 3 to the absolute PATH as PID's mount
 *       namespace resolves it (criu/src/files/unix-name.ts: a socket of a tree with its own
 *       mount namespace); after a bind, the socket file gets MODE and the host ids UID GID.
 *       A failure prints "errno N" on stderr (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#define MAX_SLOTS 256
#define MAX_KEPT 4096
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef MOVE_MOUNT_SET_GROUP
#define MOVE_MOUNT_SET_GROUP 0x100
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x4
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#endif
#define MAX_TOKENS 8192

static int fail(const char *what, const char *arg)
{
	fprintf(stderr, "criu-mnt-helper: %s %s: %s\n", what, arg ? arg : "", strerror(errno));
	exit(1);
}

static int ns_fd(int pid, const char *kind)
{
	char p[64];
	int fd;

	snprintf(p, sizeof(p), "/proc/%d/ns/%s", pid, kind);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open", p);
	return fd;
}

static int run_tar(int in, int out, char **argv)
{
	int status;
	pid_t c = fork();

	if (c < 0)
		fail("fork", "tar");
	if (c == 0) {
		if (in >= 0 && dup2(in, 0) < 0)
			_exit(126);
		if (out >= 0 && dup2(out, 1) < 0)
			_exit(126);
		execvp("tar", argv);
		fprintf(stderr, "criu-mnt-helper: exec tar: %s\n", strerror(errno));
		_exit(127);
	}
	if (waitpid(c, &status, 0) != c)
		fail("waitpid", "tar");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int dump_tmpfs(int pid, const char *mp)
{
	int mine = ns_fd(getpid(), "mnt"), theirs = ns_fd(pid, "mnt"), tree;
	char dir[64];

	if (setns(theirs, CLONE_NEWNS))
		fail("setns into the mount namespace of", "the task");
	tree = syscall(SYS_open_tree, AT_FDCWD, mp, OPEN_TREE_CLONE);
	if (tree < 0)
		fail("open_tree(OPEN_TREE_CLONE)", mp);
	if (setns(mine, CLONE_NEWNS))
		fail("setns back into", "the helper's mount namespace");
	snprintf(dir, sizeof(dir), "/proc/self/fd/%d", tree);
	char *argv[] = { "tar", "--create", "--gzip", "--no-unquote", "--no-wildcards", "--one-file-system",
			 "--check-links", "--preserve-permissions", "--sparse", "--numeric-owner", "--directory",
			 dir, ".", NULL };
	int r = run_tar(-1, -1, argv);
	if (r)
		fprintf(stderr, "criu-mnt-helper: tar of %s exited with %d\n", mp, r);
	return r ? 1 : 0;
}

static char *tok[MAX_TOKENS];
static int ntok;

static void read_script(void)
{
	static char buf[1 << 20];
	size_t n = 0;
	ssize_t r;

	while ((r = read(0, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	if (r < 0)
		fail("read", "the script");
	for (size_t i = 0; i < n && ntok < MAX_TOKENS;) {
		tok[ntok++] = buf + i;
		i += strlen(buf + i) + 1;
	}
}

static int slots[MAX_SLOTS];
static int kept[MAX_KEPT];


static void step_failed(int op, const char *what, const char *a, const char *b)
{
	fprintf(stderr, "criu-mnt-helper: step %d: %s %s%s%s: %s\n", op, what, a, b ? " " : "", b ? b : "", strerror(errno));
	exit(1);
}

static int kept_fd(int op, const char *idx)
{
	int k = atoi(idx);

	if (k < 0 || k >= MAX_KEPT || kept[k] <= 0) {
		fprintf(stderr, "criu-mnt-helper: step %d: no mount kept as %s\n", op, idx);
		exit(2);
	}
	return kept[k];
}

/* the propagation of a kept mount: MS_SHARED, MS_SLAVE or MS_UNBINDABLE */
static void set_propagation(int op, const char *idx, unsigned long how, const char *what)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", kept_fd(op, idx));
	if (mount(NULL, p, NULL, how, NULL))
		step_failed(op, what, "the kept mount", idx);
}

/* mount TO joins the peer group of FROM (described by WHAT): move_mount MOVE_MOUNT_SET_GROUP */
static void join_group(int op, int from, const char *to, const char *what)
{
	char into[64];

	snprintf(into, sizeof(into), "into the kept mount %s", to);
	if (syscall(SYS_move_mount, from, "", kept_fd(op, to), "", MOVE_MOUNT_SET_GROUP | MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))
		step_failed(op, "join the peer group (move_mount MOVE_MOUNT_SET_GROUP) of", what, into);
}

static void pty_index(int op, const char *ptmx, int index, int sk)
{
	int held[64], n = 0, got = -1;

	while (n < 64) {
		int fd = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC), idx, unlock = 0;

		if (fd < 0)
			step_failed(op, "open", ptmx, NULL);
		if (ioctl(fd, TIOCGPTN, &idx))
			step_failed(op, "TIOCGPTN on", ptmx, NULL);
		if (idx == index) {
			if (ioctl(fd, TIOCSPTLCK, &unlock))
				step_failed(op, "unlock the pty of", ptmx, NULL);
			got = fd;
			break;
		}
		held[n++] = fd;
		if (idx > index)
			break;
	}
	for (int k = 0; k < n; k++)
		close(held[k]);
	if (got < 0) {
		errno = EBUSY;
		step_failed(op, "make the pty index of the bound slave on", ptmx, "(taken)");
	}
	{
		char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
		struct iovec iov = { .iov_base = &index, .iov_len = sizeof(index) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &got, sizeof(int));
		if (sendmsg(sk, &m, 0) < 0)
			step_failed(op, "send the pty master of", ptmx, NULL);
	}
	/* kept open until the helper exits: the tool holds its copy by then */
}

static int run_script(void)
{
	int op = 0;

	for (int i = 0; i < ntok; op++) {
		const char *c = tok[i++];
#define ARG(k) (i + (k) < ntok ? tok[i + (k)] : (fprintf(stderr, "criu-mnt-helper: step %d: short\n", op), exit(2), ""))
		switch (c[0]) {
		case 'P':
			if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
				step_failed(op, "make private", "/", NULL);
			break;
		case 'O': {
			int s = atoi(ARG(0));
			if (s < 0 || s >= MAX_SLOTS)
				exit(2);
			slots[s] = open(ARG(1), O_PATH | O_CLOEXEC);
			if (slots[s] < 0)
				step_failed(op, "open", ARG(1), NULL);
			i += 2;
			break;
		}
		case 'M':
			if (mount(ARG(0), ARG(1), ARG(2), strtoul(ARG(3), NULL, 0), *ARG(4) ? ARG(4) : NULL))
				step_failed(op, "mount", ARG(2), ARG(1));
			i += 5;
			break;
		case 'B': {
			char p[64];
			snprintf(p, sizeof(p), "/proc/self/fd/%d", slots[atoi(ARG(0)) % MAX_SLOTS]);
			if (mount(p, ARG(1), NULL, MS_BIND, NULL))
				step_failed(op, "bind at", ARG(1), NULL);
			i += 2;
			break;
		}
		case 'W': {
			int old = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

			if (old < 0 || chdir(ARG(0)) || chroot("."))
				step_failed(op, "chroot into", ARG(0), NULL);
			if (mount(ARG(1), ARG(2), "overlay", strtoul(ARG(3), NULL, 0), *ARG(4) ? ARG(4) : NULL))
				step_failed(op, "mount overlay", ARG(2), ARG(4));
			if (fchdir(old) || chroot(".") || close(old))
				step_failed(op, "chroot back from", ARG(0), NULL);
			i += 5;
			break;
		}
		case 'Q': {
			struct stat st;
			int dir = stat(ARG(1), &st) ? 1 : S_ISDIR(st.st_mode);

			if (dir && mkdir(ARG(1), 0755) && errno != EEXIST)
				step_failed(op, "mkdir", ARG(1), NULL);
			if (dir ? mkdir(ARG(0), 0755) : mknod(ARG(0), S_IFREG | 0644, 0))
				step_failed(op, "make the removed bind source", ARG(0), "again");
			if (mount(ARG(0), ARG(1), NULL, MS_BIND, NULL))
				step_failed(op, "bind", ARG(0), ARG(1));
			if (dir ? rmdir(ARG(0)) : unlink(ARG(0)))
				step_failed(op, "remove the bind source", ARG(0), "again");
			i += 2;
			break;
		}
		case 'A': {
			int fd = slots[atoi(ARG(0)) % MAX_SLOTS];
			struct stat st;

			if (fstat(fd, &st))
				step_failed(op, "stat the cloned mount for", ARG(1), NULL);
			if (S_ISDIR(st.st_mode) ? mkdir(ARG(1), 0755) && errno != EEXIST : mknod(ARG(1), S_IFREG | 0644, 0) && errno != EEXIST)
				step_failed(op, "make the mountpoint", ARG(1), NULL);
			if (syscall(SYS_move_mount, fd, "", AT_FDCWD, ARG(1), MOVE_MOUNT_F_EMPTY_PATH))
				step_failed(op, "attach the cloned mount at", ARG(1), NULL);
			i += 2;
			break;
		}
		case 'b':
			if (mount(ARG(0), ARG(1), NULL, MS_BIND, NULL))
				step_failed(op, "bind", ARG(0), ARG(1));
			i += 2;
			break;
		case 'R':
			if (mount(NULL, ARG(0), NULL, MS_REMOUNT | MS_BIND | strtoul(ARG(1), NULL, 0), NULL))
				step_failed(op, "remount", ARG(0), ARG(1));
			i += 2;
			break;
		case 'T': {
			char *argv[] = { "tar", "--extract", "--gzip", "--no-unquote", "--no-wildcards", "--directory",
					 (char *)ARG(1), NULL };
			int fd = atoi(ARG(0));
			if (lseek(fd, 0, SEEK_SET) < 0)
				step_failed(op, "rewind the image for", ARG(1), NULL);
			if (run_tar(fd, -1, argv)) {
				errno = EIO;
				step_failed(op, "tar --extract into", ARG(1), NULL);
			}
			i += 2;
			break;
		}
		case 'D':
			if (mkdir(ARG(0), 0755) && errno != EEXIST)
				step_failed(op, "mkdir", ARG(0), NULL);
			i += 1;
			break;
		case 'F': {
			int fd = open(ARG(0), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
			if (fd < 0 && errno != EISDIR)
				step_failed(op, "create", ARG(0), NULL);
			if (fd >= 0)
				close(fd);
			i += 1;
			break;
		}
		case 'S':
			if (mount(NULL, ARG(0), NULL, MS_REMOUNT | strtoul(ARG(1), NULL, 0), ARG(2)))
				step_failed(op, "remount the superblock of", ARG(0), NULL);
			i += 3;
			break;
		case 'L': {
			struct stat st;

			if (stat(ARG(0), &st))
				step_failed(op, "stat the bind source", ARG(0), NULL);
			if (S_ISDIR(st.st_mode)) {
				if (mkdir(ARG(1), 0755) && errno != EEXIST)
					step_failed(op, "mkdir", ARG(1), NULL);
			} else {
				int fd = open(ARG(1), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);

				if (fd < 0 && errno != EEXIST && errno != EACCES && access(ARG(1), F_OK))
					step_failed(op, "create", ARG(1), NULL);
				if (fd >= 0)
					close(fd);
			}
			i += 2;
			break;
		}
		case 'Y':
			/* pty ARG(1) of the devpts whose ptmx is ARG(0), made before its slave is bound
			 * (CRIU's devpts_restore): its master goes to the tool on socket ARG(2) */
			pty_index(op, ARG(0), atoi(ARG(1)), atoi(ARG(2)));
			i += 3;
			break;
		case 'X':
			if (chdir(ARG(0)))
				step_failed(op, "chdir", ARG(0), NULL);
			if (syscall(SYS_pivot_root, ".", "."))
				step_failed(op, "pivot_root", ARG(0), NULL);
			if (umount2(".", MNT_DETACH))
				step_failed(op, "detach the old root", "", NULL);
			if (chdir("/"))
				step_failed(op, "chdir", "/", NULL);
			i += 1;
			break;
		case 'K': {
			int k = atoi(ARG(0));
			if (k < 0 || k >= MAX_KEPT)
				exit(2);
			kept[k] = open(ARG(1), O_PATH | O_CLOEXEC | O_NOFOLLOW);
			if (kept[k] < 0)
				step_failed(op, "open the mount at", ARG(1), NULL);
			i += 2;
			break;
		}
		case 'J':
			join_group(op, kept_fd(op, ARG(0)), ARG(1), ARG(0));
			i += 2;
			break;
		case 'E':
			join_group(op, atoi(ARG(0)), ARG(1), "the tool's mount passed");
			i += 2;
			break;
		case 'H':
			set_propagation(op, ARG(0), MS_SHARED, "make shared");
			i += 1;
			break;
		case 'V':
			set_propagation(op, ARG(0), MS_SLAVE, "make a slave");
			i += 1;
			break;
		case 'U':
			set_propagation(op, ARG(0), MS_UNBINDABLE, "make unbindable");
			i += 1;
			break;
		default:
			fprintf(stderr, "criu-mnt-helper: step %d: unknown operation '%s'\n", op, c);
			exit(2);
		}
	}
	return 0;
}

static int other_ns(int pid, const char *kind)
{
	char p[64], a[64] = "", b[64] = "";

	snprintf(p, sizeof(p), "/proc/%d/ns/%s", pid, kind);
	if (readlink(p, a, sizeof(a) - 1) <= 0)
		return 0;
	snprintf(p, sizeof(p), "/proc/self/ns/%s", kind);
	if (readlink(p, b, sizeof(b) - 1) <= 0)
		return 0;
	return strcmp(a, b) != 0;
}

/* clone: n arguments, each "--clone SLOT PATH" (checked by main) */
static int restore(int pid, int n, char **clone)
{
	int status;

	read_script();
	for (int k = 0; k + 2 < n; k += 3) {
		int s = atoi(clone[k + 1]);

		if (s < 0 || s >= MAX_SLOTS)
			exit(2);
		slots[s] = syscall(SYS_open_tree, AT_FDCWD, clone[k + 2], OPEN_TREE_CLONE | O_CLOEXEC);
		if (slots[s] < 0)
			fail("clone the mount at", clone[k + 2]);
	}
	int other_pidns = other_ns(pid, "pid");
	if (other_pidns && setns(ns_fd(pid, "pid"), CLONE_NEWPID))
		fail("setns into the pid namespace of", "the task");
	/* a sysfs mounted here shows the devices of the net namespace of its mounter */
	/* a cgroup filesystem mounted here shows the cgroup namespace's root as its own */
	if (other_ns(pid, "cgroup") && setns(ns_fd(pid, "cgroup"), CLONE_NEWCGROUP))
		fail("setns into the cgroup namespace of", "the task");
	if (other_ns(pid, "net") && setns(ns_fd(pid, "net"), CLONE_NEWNET))
		fail("setns into the network namespace of", "the task");
	if (setns(ns_fd(pid, "mnt"), CLONE_NEWNS))
		fail("setns into the mount namespace of", "the task");
	if (!other_pidns)
		return run_script();
	pid_t c = fork();
	if (c < 0)
		fail("fork", "in the pid namespace");
	if (c == 0)
		_exit(run_script());
	if (waitpid(c, &status, 0) != c)
		fail("waitpid", "");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int unix_op(int pid, const char *op, const char *name, char **perms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	size_t n = strlen(name);

	if (n >= sizeof(a.sun_path)) {
		fprintf(stderr, "errno %d\n", ENAMETOOLONG);
		return 1;
	}
	memcpy(a.sun_path, name, n);
	if (setns(ns_fd(pid, "mnt"), CLONE_NEWNS))
		fail("setns into the mount namespace of", "the task");
	int r = !strcmp(op, "bind") ? bind(3, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + n + 1)
				    : connect(3, (struct sockaddr *)&a, offsetof(struct sockaddr_un, sun_path) + n + 1);
	if (r && !(errno == EINPROGRESS && strcmp(op, "bind"))) {
		fprintf(stderr, "errno %d\n", errno);
		return 1;
	}
	if (perms && (chown(name, (uid_t)atol(perms[1]), (gid_t)atol(perms[2])) || chmod(name, (mode_t)strtol(perms[0], NULL, 8) & 07777))) {
		fprintf(stderr, "errno %d\n", errno);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 5 || argc == 8) && !strcmp(argv[1], "unix"))
		return unix_op(atoi(argv[2]), argv[3], argv[4], argc == 8 ? argv + 5 : NULL);
	if (argc == 4 && !strcmp(argv[1], "dump-tmpfs"))
		return dump_tmpfs(atoi(argv[2]), argv[3]);
	if (argc >= 3 && !strcmp(argv[1], "restore")) {
		for (int k = 3; k < argc; k += 3)
			if (strcmp(argv[k], "--clone") || k + 2 >= argc)
				return fprintf(stderr, "criu-mnt-helper: restore PID [--clone SLOT PATH]...\n"), 2;
		return restore(atoi(argv[2]), argc - 3, argv + 3);
	}
	fprintf(stderr, "usage: criu-mnt-helper dump-tmpfs PID MOUNTPOINT | restore PID < SCRIPT\n");
	return 2;
}
