/* Unix stream and seqpacket servers bound to paths in --dirname, listening, each with a client
 * in the tree connected to the socket it accepted, bytes or messages queued both ways. After
 * the restore each server is on its path (the socket file keeps its mode and owner), listens,
 * and serves a new client; every client and its accepted socket hold what was queued and
 * exchange more. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct server {
	const char *what;
	int type, l, c, a;
	struct sockaddr_un sa;
};

static void make_server(struct server *s, const char *dir, const char *file, int type, int backlog)
{
	s->type = type;
	memset(&s->sa, 0, sizeof(s->sa));
	s->sa.sun_family = AF_UNIX;
	snprintf(s->sa.sun_path, sizeof(s->sa.sun_path), "%.80s/%.20s", dir, file);
	s->l = socket(AF_UNIX, type, 0);
	if (s->l < 0 || bind(s->l, (void *)&s->sa, sizeof(s->sa)) || listen(s->l, backlog))
		fail("%s: bind/listen on %s: %m", s->what, s->sa.sun_path);
	if (chmod(s->sa.sun_path, 0604))
		fail("chmod: %m");
	s->c = socket(AF_UNIX, type, 0);
	if (s->c < 0 || connect(s->c, (void *)&s->sa, sizeof(s->sa)))
		fail("%s: connect: %m", s->what);
	s->a = accept(s->l, NULL, NULL);
	if (s->a < 0)
		fail("%s: accept: %m", s->what);
	if (send(s->c, "hello", 5, 0) != 5 || send(s->a, "world", 5, 0) != 5)
		fail("%s: send: %m", s->what);
}

static void expect(int fd, const char *want, const char *what)
{
	char buf[64];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;

	if (poll(&p, 1, 2000) != 1)
		fail("%s: nothing to read", what);
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != (int)strlen(want) || memcmp(buf, want, n))
		fail("%s: read %d bytes, not \"%s\"", what, n, want);
}

static void check(struct server *s)
{
	struct sockaddr_un got;
	socklen_t len = sizeof(got);
	struct stat st;
	int v, n, a;
	socklen_t vl = sizeof(v);

	if (getsockname(s->l, (void *)&got, &len) || strcmp(got.sun_path, s->sa.sun_path))
		fail("%s: the server is not on %s any more", s->what, s->sa.sun_path);
	if (getsockopt(s->l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) || v != 1)
		fail("%s: the server does not listen", s->what);
	if (stat(s->sa.sun_path, &st) || !S_ISSOCK(st.st_mode) || (st.st_mode & 07777) != 0604 || st.st_uid != getuid())
		fail("%s: the socket file lost its mode or owner", s->what);
	expect(s->a, "hello", s->what);
	expect(s->c, "world", s->what);
	if (send(s->c, "more", 4, 0) != 4 || send(s->a, "again", 5, 0) != 5)
		fail("%s: send after the restore: %m", s->what);
	expect(s->a, "more", s->what);
	expect(s->c, "again", s->what);
	n = socket(AF_UNIX, s->type, 0);
	if (n < 0 || connect(n, (void *)&s->sa, sizeof(s->sa)))
		fail("%s: a new client cannot connect: %m", s->what);
	a = accept(s->l, NULL, NULL);
	if (a < 0)
		fail("%s: accept after the restore: %m", s->what);
	if (send(n, "ping", 4, 0) != 4 || send(a, "pong", 4, 0) != 4)
		fail("%s: send on the new connection: %m", s->what);
	expect(a, "ping", s->what);
	expect(n, "pong", s->what);
	close(a);
	close(n);
}

int main(int argc, char **argv)
{
	struct server st = { .what = "stream" }, sp = { .what = "seqpacket" };
	char dir[PATH_MAX];
	char buf[16];

	test_init(argc, argv);
	if (!test_dirname)
		fail("--dirname is required");
	if (mkdir(test_dirname, 0755) && errno != EEXIST)
		fail("mkdir: %m");
	if (!realpath(test_dirname, dir))
		fail("realpath: %m");
	if (strlen(dir) > 80)
		fail("--dirname is too long for a socket path: %s", dir);
	make_server(&st, dir, "stream.sock", SOCK_STREAM, 7);
	make_server(&sp, dir, "seqpacket.sock", SOCK_SEQPACKET, 3);
	fcntl(st.l, F_SETFL, O_NONBLOCK);
	test_daemon();
	if (test_break()) {
		if (recv(st.a, buf, sizeof(buf), 0) != 5)
			fail("recv: %m");
		test_msg("break: read what the stream client had sent");
	}
	test_waitsig();

	if (!(fcntl(st.l, F_GETFL) & O_NONBLOCK))
		fail("the stream server lost O_NONBLOCK");
	fcntl(st.l, F_SETFL, 0);
	check(&st);
	check(&sp);
	pass();
}
