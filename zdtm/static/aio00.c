/* AIO rings (io_setup) survive, as CRIU's aio00 and aio01 check them: an empty ring of
 * io_setup(1), and a ring of io_setup(64) that went round once (tail behind head) with events
 * completed but not yet read. After the restore both contexts work at their old addresses, the
 * second keeps its nr, head and tail, gives the waiting events back in order (their aio_data
 * and results), and a new request lands right after them. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct aio_ring {
	unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
	struct io_event io_events[0];
};

static long io_submit1(aio_context_t ctx, struct iocb *cb)
{
	return syscall(__NR_io_submit, ctx, 1, &cb);
}

int main(int argc, char **argv)
{
	aio_context_t small = 0, ctx = 0;
	volatile struct aio_ring *ring;
	struct iocb cb;
	struct io_event ev;
	unsigned nr, head, tail, i, seq = 0, next = 0;
	char buf[1] = { 'x' };
	int fd;

	test_init(argc, argv);
	if (syscall(__NR_io_setup, 1, &small) < 0 || syscall(__NR_io_setup, 64, &ctx) < 0)
		fail("io_setup: %m");
	fd = open("/dev/null", O_WRONLY);
	if (fd < 0)
		fail("open /dev/null: %m");
	memset(&cb, 0, sizeof(cb));
	cb.aio_fildes = fd;
	cb.aio_buf = (unsigned long)buf;
	cb.aio_nbytes = 1;
	cb.aio_lio_opcode = IOCB_CMD_PWRITE;
	ring = (struct aio_ring *)ctx;
	nr = ring->nr;
	/* nr + 2 writes, every other one read back: the tail goes round, the head stays behind */
	for (i = 0; i < nr + 2; i++) {
		cb.aio_data = seq++;
		if (io_submit1(ctx, &cb) != 1)
			fail("io_submit %u: %m", i);
		if (!(i % 2))
			continue;
		if (syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL) != 1)
			fail("io_getevents: %m");
		if (ev.data != next++ || ev.res != 1)
			fail("event %llu (res %lld) read, %u expected", (unsigned long long)ev.data, (long long)ev.res, next - 1);
	}
	head = ring->head;
	tail = ring->tail;
	test_msg("nr %u head %u tail %u\n", nr, head, tail);
	if (tail >= head)
		fail("the tail did not go round (head %u, tail %u)", head, tail);

	test_daemon();
	if (test_break()) {
		syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL);
		next++;
		test_msg("break: one waiting event read");
	}
	test_waitsig();

	if (syscall(__NR_io_getevents, small, 0, 1, &ev, NULL) != 0)
		fail("the io_setup(1) context is lost or has events: %m");
	if (ring->nr != nr || ring->head != head || ring->tail != tail)
		fail("nr/head/tail %u/%u/%u, expected %u/%u/%u", ring->nr, ring->head, ring->tail, nr, head, tail);
	cb.aio_data = seq++;
	if (io_submit1(ctx, &cb) != 1)
		fail("io_submit after the restore: %m");
	if (ring->tail != (tail + 1) % nr || ring->head != head)
		fail("a new request moved head/tail to %u/%u, expected %u/%u", ring->head, ring->tail, head, (tail + 1) % nr);
	while (next < seq) {
		if (syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL) != 1)
			fail("io_getevents for event %u: %m", next);
		if (ev.data != next || ev.res != 1 || ev.obj != (unsigned long)&cb)
			fail("event %llu (res %lld) read, %u expected", (unsigned long long)ev.data, (long long)ev.res, next);
		next++;
	}
	if (syscall(__NR_io_getevents, ctx, 0, 1, &ev, NULL) != 0)
		fail("more events than requests");
	pass();
}
