/* Mount propagation (shared subtrees) in a mount namespace of its own (flavor h: a copy of its
 * launcher's, made private; ns and uns: the tree's), below --dirname, on a tmpfs of its own:
 *   a  the tmpfs, shared (group A)          b  a bind of a, its peer (group A)
 *   c  a bind of a/sub, a slave of A         d  a bind of a, a slave of A, and shared (group D)
 *   e  a bind of d, its peer (group D, a slave of A)
 *   u  a bind of a, unbindable               p  a bind of a, private
 * After the restore the groups must be there again (mountinfo: the same peers, the same masters,
 * the same kinds) and work: a tmpfs mounted in a shows up in b, c, d and e and not in u or p; one
 * mounted in d shows up in e only; u cannot be bound. Break mode makes b private. */
#include "zdtmtst.h"
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[PATH_MAX];

struct prop {
	int shared, master, unbindable, found;
	char root[PATH_MAX];
};

static const char *at(const char *name)
{
	return in_dir(dir, name);
}

/* the propagation of the topmost mount at DIR/NAME, from mountinfo */
static struct prop prop_of(const char *name)
{
	char line[PATH_MAX * 2 + 512], root[PATH_MAX], mp[PATH_MAX];
	struct prop r = { 0 };
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		fail("open mountinfo: %m");
	while (fgets(line, sizeof(line), f)) {
		char *opt, *end = strstr(line, " - ");
		int n = 0;

		if (!end || sscanf(line, "%*d %*d %*s %s %s %*s %n", root, mp, &n) != 2 || strcmp(mp, at(name)))
			continue;
		*end = 0;
		memset(&r, 0, sizeof(r));
		r.found = 1;
		snprintf(r.root, sizeof(r.root), "%s", root);
		for (opt = strtok(line + n, " "); opt; opt = strtok(NULL, " ")) {
			if (!strncmp(opt, "shared:", 7))
				r.shared = atoi(opt + 7);
			else if (!strncmp(opt, "master:", 7))
				r.master = atoi(opt + 7);
			else if (!strcmp(opt, "unbindable"))
				r.unbindable = 1;
		}
	}
	fclose(f);
	if (!r.found)
		fail("no mount at %s", at(name));
	return r;
}

static void bind(const char *from, const char *to)
{
	if (mkdir(at(to), 0755) || mount(at(from), at(to), NULL, MS_BIND, NULL))
		fail("bind %s at %s: %m", at(from), at(to));
}

static void make(const char *name, unsigned long how)
{
	if (mount(NULL, at(name), NULL, how, NULL))
		fail("change the propagation of %s: %m", at(name));
}

/* the groups as built: A = a's group, D = d's */
static void check_groups(void)
{
	struct prop a = prop_of("a"), b = prop_of("b"), c = prop_of("c"), d = prop_of("d"), e = prop_of("e"), u = prop_of("u"),
		    p = prop_of("p");

	if (!a.shared || a.master)
		fail("a: shared:%d master:%d, expected shared and no master", a.shared, a.master);
	if (b.shared != a.shared || b.master)
		fail("b: shared:%d master:%d, expected a peer of a (shared:%d)", b.shared, b.master, a.shared);
	if (c.shared || c.master != a.shared || strcmp(c.root, "/sub"))
		fail("c: shared:%d master:%d root %s, expected a slave of a's group %d with root /sub", c.shared, c.master, c.root,
		     a.shared);
	if (!d.shared || d.shared == a.shared || d.master != a.shared)
		fail("d: shared:%d master:%d, expected a group of its own, a slave of %d", d.shared, d.master, a.shared);
	if (e.shared != d.shared || e.master != a.shared)
		fail("e: shared:%d master:%d, expected a peer of d (shared:%d master:%d)", e.shared, e.master, d.shared, d.master);
	if (!u.unbindable || u.shared || u.master)
		fail("u: shared:%d master:%d unbindable:%d, expected unbindable", u.shared, u.master, u.unbindable);
	if (p.shared || p.master || p.unbindable)
		fail("p: shared:%d master:%d unbindable:%d, expected private", p.shared, p.master, p.unbindable);
}

/* a tmpfs mounted at FROM/sub/x must show up at each mount's sub/x (c's x: it is a/sub) exactly where SEEN says ('1') */
static void propagates(const char *from, const char *seen)
{
	const char *names[] = { "a", "b", "c", "d", "e", "u", "p" };
	char at_from[32];
	struct stat st, top;

	snprintf(at_from, sizeof(at_from), "%s/sub/x", from);
	if (mount("zdtm-ev", at(at_from), "tmpfs", 0, "size=64k"))
		fail("mount a tmpfs at %s: %m", at(at_from));
	for (int i = 0; i < 7; i++) {
		char rel[32];

		snprintf(rel, sizeof(rel), "%s/%sx", names[i], i == 2 ? "" : "sub/");
		if (stat(at(rel), &st) || stat(at(names[i]), &top))
			fail("stat %s: %m", at(rel));
		if ((st.st_dev != top.st_dev) != (seen[i] == '1'))
			fail("a tmpfs mounted at %s %s at %s", at_from, seen[i] == '1' ? "does not show up" : "shows up", at(rel));
	}
	if (umount2(at(at_from), MNT_DETACH))
		fail("umount %s: %m", at(at_from));
}

static void check_events(void)
{
	propagates("a", "1111100");
	propagates("d", "0001100");
	if (mkdir(at("v"), 0755) && errno != EEXIST)
		fail("mkdir %s: %m", at("v"));
	if (!mount(at("u"), at("v"), NULL, MS_BIND, NULL) || errno != EINVAL)
		fail("a bind of the unbindable %s: %s", at("u"), errno == EINVAL ? "made" : strerror(errno));
}

int main(int argc, char **argv)
{
	test_set_suid();
	test_init(argc, argv);
	mount_test_dir(dir, "zdtm-prop", "size=1m");
	if (mkdir(at("a"), 0755) ||
	    mount("zdtm-prop-a", at("a"), "tmpfs", 0, "size=1m") || mkdir(at("a/sub"), 0755) || mkdir(at("a/sub/x"), 0755))
		fail("mount the tmpfs at %s: %m", at("a"));
	make("a", MS_SHARED);
	bind("a", "b");
	if (mkdir(at("c"), 0755) || mount(at("a/sub"), at("c"), NULL, MS_BIND, NULL))
		fail("bind %s at %s: %m", at("a/sub"), at("c"));
	make("c", MS_SLAVE);
	bind("a", "d");
	make("d", MS_SLAVE);
	make("d", MS_SHARED);
	bind("d", "e");
	bind("a", "u");
	make("u", MS_UNBINDABLE);
	bind("a", "p");
	make("p", MS_PRIVATE);
	check_groups();
	check_events();

	test_daemon();
	if (test_break()) {
		make("b", MS_PRIVATE);
		test_msg("break: %s made private", at("b"));
	}
	test_waitsig();

	check_groups();
	check_events();
	pass();
}
