/* A hugetlb memfd (MFD_HUGETLB) with pages survives: three huge pages long, the first and the
 * last written, the middle one never touched; mapped shared whole, and its first page mapped
 * private and written there (a copy of its own). After the restore the memfd holds the same two
 * huge pages (st_blocks) with their data, the shared mapping shows them and writes through to
 * the file, and the private mapping keeps its copy. Needs 4 free huge pages (vm.nr_hugepages). */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#define HUGETLBFS_MAGIC 0x958458f6

int main(int argc, char **argv)
{
	int fd;
	struct statfs sf;
	struct stat st;
	size_t hps;
	char *sh, *priv, *b;
	uint32_t crc0 = 11, crc2 = 13, crcp = 17;
	long blocks;

	test_init(argc, argv);
	fd = memfd_create("zdtm-huge-pages", MFD_HUGETLB);
	if (fd < 0)
		fail("memfd_create(MFD_HUGETLB): %m");
	if (fstatfs(fd, &sf) || sf.f_type != HUGETLBFS_MAGIC)
		fail("not on hugetlbfs");
	hps = sf.f_bsize;
	if (ftruncate(fd, 3 * hps))
		fail("ftruncate: %m");
	sh = mmap(NULL, 3 * hps, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	priv = mmap(NULL, hps, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (sh == MAP_FAILED || priv == MAP_FAILED)
		fail("mmap: %m (free huge pages are needed: vm.nr_hugepages)");
	datagen(sh, hps, &crc0);
	datagen(sh + 2 * hps, hps, &crc2);
	datagen(priv, hps, &crcp);
	if (fstat(fd, &st))
		fail("fstat: %m");
	blocks = st.st_blocks;
	if (blocks != 2 * (long)hps / 512)
		fail("%ld blocks, expected two huge pages", blocks);
	test_daemon();
	if (test_break()) {
		sh[2 * hps + 7] ^= 1;
		test_msg("break: a byte of the last huge page flipped");
	}
	test_waitsig();

	if (fstatfs(fd, &sf) || sf.f_type != HUGETLBFS_MAGIC || sf.f_bsize != (long)hps)
		fail("the memfd is no longer on hugetlbfs with %zu-byte pages", hps);
	if (fstat(fd, &st) || st.st_size != 3 * (off_t)hps || st.st_blocks != blocks)
		fail("size %lld blocks %lld, expected %zu and %ld", (long long)st.st_size, (long long)st.st_blocks, 3 * hps, blocks);
	if (datachk(sh, hps, &crc0) || datachk(sh + 2 * hps, hps, &crc2))
		fail("the shared mapping's data changed");
	if (datachk(priv, hps, &crcp))
		fail("the private copy changed");
	b = mmap(NULL, hps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED || pread(fd, b, hps, 2 * hps) != (ssize_t)hps || datachk(b, hps, &crc2))
		fail("pread of the last huge page: %m or other data");
	sh[hps + 1] = 'x';
	if (pread(fd, b, 2, hps) != 2 || b[1] != 'x')
		fail("a write through the shared mapping is not in the file");
	pass();
}
