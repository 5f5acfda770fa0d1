/* POSIX message queues: a named queue (mq_maxmsg 8, mq_msgsize 64, mode 0640) open twice, read-write
 * and write-only non-blocking, holding five messages of three priorities, and an unlinked
 * queue with two. After the restore: the attributes and flags of each fd, the messages in the
 * order of priority then age, both fds on the one queue (a message sent through the second is
 * received through the first), the second still write-only, the unlinked queue still without a
 * name. Break mode consumes a message before the dump. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct m {
	unsigned prio;
	const char *text;
};
static const struct m sent[] = { { 1, "low one" }, { 5, "high one" }, { 1, "low two" }, { 3, "mid" }, { 5, "high two" } };
/* the order a receiver gets them in */
static const int order[] = { 1, 4, 3, 0, 2 };
static const struct m gone[] = { { 0, "unlinked first" }, { 0, "unlinked second, longer" } };

static int check_attr(mqd_t q, long flags, long maxmsg, long msgsize, long cur, const char *what)
{
	struct mq_attr a;
	if (mq_getattr(q, &a)) {
		test_msg("mq_getattr %s: %m", what);
		return 1;
	}
	if (a.mq_flags != flags || a.mq_maxmsg != maxmsg || a.mq_msgsize != msgsize || a.mq_curmsgs != cur) {
		test_msg("%s: flags %ld maxmsg %ld msgsize %ld curmsgs %ld; expected %ld %ld %ld %ld", what, a.mq_flags, a.mq_maxmsg,
			 a.mq_msgsize, a.mq_curmsgs, flags, maxmsg, msgsize, cur);
		return 1;
	}
	return 0;
}

static int expect(mqd_t q, unsigned prio, const char *text, const char *what)
{
	char buf[64];
	unsigned p;
	ssize_t n = mq_receive(q, buf, sizeof buf, &p);
	if (n < 0) {
		test_msg("%s: mq_receive: %m", what);
		return 1;
	}
	if ((size_t)n != strlen(text) + 1 || p != prio || strcmp(buf, text)) {
		test_msg("%s: got \"%.*s\" prio %u, expected \"%s\" prio %u", what, (int)n, buf, p, text, prio);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char name[64], gname[64];
	struct mq_attr attr = { .mq_maxmsg = 8, .mq_msgsize = 64 };
	struct stat st;
	mqd_t q, w, u;
	int i;

	test_init(argc, argv);
	snprintf(name, sizeof name, "/zdtm-mqueue00-%d", getpid());
	snprintf(gname, sizeof gname, "/zdtm-mqueue00-gone-%d", getpid());
	mq_unlink(name);
	umask(0);
	q = mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0640, &attr);
	fail_if(q < 0, "mq_open %s: %m", name);
	w = mq_open(name, O_WRONLY | O_NONBLOCK);
	fail_if(w < 0, "mq_open %s O_WRONLY: %m", name);
	for (i = 0; i < 5; i++)
		fail_if(mq_send(i % 2 ? w : q, sent[i].text, strlen(sent[i].text) + 1, sent[i].prio), "mq_send: %m");
	u = mq_open(gname, O_CREAT | O_EXCL | O_RDWR, 0600, &attr);
	fail_if(u < 0, "mq_open %s: %m", gname);
	for (i = 0; i < 2; i++)
		fail_if(mq_send(u, gone[i].text, strlen(gone[i].text) + 1, gone[i].prio), "mq_send: %m");
	mq_unlink(gname);
	test_daemon();
	if (test_break()) {
		char buf[64];
		if (mq_receive(q, buf, sizeof buf, NULL) < 0)
			test_msg("break: mq_receive: %m");
		test_msg("break: consumed a message");
	}
	test_waitsig();

	int bad = 0;
	bad |= check_attr(q, 0, 8, 64, 5, "the read-write fd");
	bad |= check_attr(w, O_NONBLOCK, 8, 64, 5, "the write-only fd");
	bad |= check_attr(u, 0, 8, 64, 2, "the unlinked queue");
	if (fstat(q, &st) || (st.st_mode & 0777) != 0640 || st.st_uid != getuid()) {
		test_msg("the queue: mode %o uid %d", st.st_mode & 0777, (int)st.st_uid);
		bad = 1;
	}
	for (i = 0; i < 5 && !bad; i++)
		bad |= expect(q, sent[order[i]].prio, sent[order[i]].text, "the named queue");
	for (i = 0; i < 2 && !bad; i++)
		bad |= expect(u, gone[i].prio, gone[i].text, "the unlinked queue");
	if (!bad && mq_send(w, "again", 6, 2))
		bad = 1, test_msg("mq_send through the write-only fd: %m");
	if (!bad)
		bad |= expect(q, 2, "again", "a message sent through the second fd");
	{
		char buf[64];
		if (mq_receive(w, buf, sizeof buf, NULL) >= 0 || errno != EBADF)
			bad = 1, test_msg("the write-only fd can receive");
	}
	mqd_t x = mq_open(gname, O_RDONLY);
	if (x >= 0)
		bad = 1, test_msg("the unlinked queue has its name again");
	mq_unlink(name);
	if (bad)
		fail("the queues are not as they were");
	pass();
	return 0;
}
