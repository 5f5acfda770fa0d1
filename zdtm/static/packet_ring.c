/* A packet socket with a mapped ring (CAP_NET_RAW: the test keeps root): a SOCK_RAW ETH_P_ALL
 * socket bound to `lo`, TPACKET_V2, a PACKET_RX_RING of 2 blocks of 16 KiB (16 frames of
 * 2 KiB) mapped MAP_SHARED. After the restore the ring is mapped at the same address with the
 * same size, the mapping is of the socket (its inode in /proc/self/maps is the socket's),
 * PACKET_VERSION is TPACKET_V2, and a UDP datagram sent over `lo` shows up in a frame of the
 * mapping with TP_STATUS_USER. A second socket has an RX and a TX ring mapped together (one
 * mapping of both, which the kernel allows only with both rings set): after the restore it is
 * there with its size and inode. The rings' frames are not restored (as CRIU), only the rings.
 * Break mode: the ring is unmapped and anonymous memory mapped in its place. */
#define TEST_SUID
#include "zdtmtst.h"
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (16 * 1024)
#define NBLOCKS 2
#define FRAME 2048
#define NFRAMES (BLOCK / FRAME * NBLOCKS)
#define RING (BLOCK * NBLOCKS)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* the /proc/self/maps line of the VMA at `at`: its end and inode; 0 when there is none */
static unsigned long vma_at(void *at, unsigned long *ino, char *path, size_t plen)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	unsigned long s, e, off, inode;
	char perms[8], dev[16], p[256];

	if (!f)
		fail("/proc/self/maps: %m");
	while (fgets(line, sizeof(line), f)) {
		p[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255s", &s, &e, perms, &off, dev, &inode, p) < 6)
			continue;
		if (s == (unsigned long)at) {
			fclose(f);
			*ino = inode;
			snprintf(path, plen, "%s", p);
			return e;
		}
	}
	fclose(f);
	return 0;
}

/* a UDP datagram over lo with a magic payload must show up in a frame of the ring */
static void ring_sees_traffic(int fd, char *ring)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char magic[32];
	double end = now() + 10;
	int u = socket(AF_INET, SOCK_DGRAM, 0), i;

	snprintf(magic, sizeof(magic), "packet_ring-%d", getpid());
	while (now() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (sendto(u, magic, strlen(magic), 0, (void *)&to, sizeof(to)) < 0)
			fail("sendto: %m");
		poll(&p, 1, 100);
		for (i = 0; i < NFRAMES; i++) {
			struct tpacket2_hdr *h = (void *)(ring + (i / (BLOCK / FRAME)) * BLOCK + (i % (BLOCK / FRAME)) * FRAME);
			if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
				continue;
			if (h->tp_mac + h->tp_snaplen <= FRAME && memmem((char *)h + h->tp_mac, h->tp_snaplen, magic, strlen(magic))) {
				close(u);
				return;
			}
			__atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		}
	}
	fail("no frame of the ring holds the datagram sent over lo");
}

int main(int argc, char **argv)
{
	struct tpacket_req req = { .tp_block_size = BLOCK, .tp_block_nr = NBLOCKS, .tp_frame_size = FRAME, .tp_frame_nr = NFRAMES };
	struct sockaddr_ll a = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd, v = TPACKET_V2, lo;
	socklen_t l = sizeof(v);
	unsigned long ino, e;
	char path[256];
	struct stat st;
	char *ring, *both;
	int fd2;

	test_init(argc, argv);
	lo = if_nametoindex("lo");
	if (!lo)
		fail("no lo: %m");
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		fail("socket(AF_PACKET): %m");
	a.sll_ifindex = lo;
	if (bind(fd, (void *)&a, sizeof(a)))
		fail("bind: %m");
	if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
		fail("PACKET_VERSION: %m");
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
		fail("PACKET_RX_RING: %m");
	ring = mmap(NULL, RING, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED)
		fail("mmap of the ring: %m");
	fd2 = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd2 < 0)
		fail("socket(AF_PACKET): %m");
	if (setsockopt(fd2, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
		fail("PACKET_VERSION: %m");
	if (setsockopt(fd2, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) || setsockopt(fd2, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)))
		fail("PACKET_RX_RING/TX_RING: %m");
	both = mmap(NULL, 2 * RING, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
	if (both == MAP_FAILED)
		fail("mmap of the RX and TX rings: %m");

	test_daemon();
	if (test_break()) {
		if (munmap(ring, RING) || mmap(ring, RING, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != ring)
			fail("break: cannot replace the ring: %m");
		test_msg("break: the ring unmapped, anonymous memory in its place\n");
	}
	test_waitsig();

	if (fstat(fd, &st))
		fail("fstat: %m");
	e = vma_at(ring, &ino, path, sizeof(path));
	if (!e)
		fail("nothing is mapped at %p, the ring was there", ring);
	if (e - (unsigned long)ring != RING)
		fail("the mapping at %p is %lu bytes, the ring is %d", ring, e - (unsigned long)ring, RING);
	if (strncmp(path, "socket:[", 8) || ino != st.st_ino)
		fail("the mapping at %p is of '%s' inode %lu, the socket is inode %lu", ring, path, ino, (unsigned long)st.st_ino);
	if (fstat(fd2, &st))
		fail("fstat: %m");
	e = vma_at(both, &ino, path, sizeof(path));
	if (e - (unsigned long)both != 2 * RING || strncmp(path, "socket:[", 8) || ino != st.st_ino)
		fail("the RX+TX mapping at %p: %lu bytes of '%s' inode %lu, was %d bytes of socket inode %lu", both,
		     e ? e - (unsigned long)both : 0, path, ino, 2 * RING, (unsigned long)st.st_ino);
	v = 0;
	if (getsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, &l))
		fail("get PACKET_VERSION: %m");
	if (v != TPACKET_V2)
		fail("PACKET_VERSION is %d", v);
	ring_sees_traffic(fd, ring);
	pass();
}
