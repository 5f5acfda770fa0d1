/* A hugetlb memfd (MFD_HUGETLB) holding no page: its size, seals and huge page size come back.
 * No huge page needs to be reserved (nr_hugepages may be 0): the memfd is never mapped. */
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
	int fd, seals;
	struct statfs sf;
	struct stat st;
	char link[256], path[64];
	long hps;

	test_init(argc, argv);
	fd = memfd_create("zdtm-huge", MFD_HUGETLB | MFD_ALLOW_SEALING);
	if (fd < 0)
		fail("memfd_create(MFD_HUGETLB): %m");
	if (fstatfs(fd, &sf) || sf.f_type != HUGETLBFS_MAGIC)
		fail("not on hugetlbfs");
	hps = sf.f_bsize;
	if (ftruncate(fd, 2 * hps) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		fail("ftruncate/seal: %m");
	seals = fcntl(fd, F_GET_SEALS);
	test_daemon();
	if (test_break()) {
		fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE);
		test_msg("break: F_SEAL_WRITE added");
	}
	test_waitsig();

	if (fstatfs(fd, &sf) || sf.f_type != HUGETLBFS_MAGIC || sf.f_bsize != hps)
		fail("the memfd is no longer on hugetlbfs with %ld-byte pages", hps);
	if (fstat(fd, &st) || st.st_size != 2 * hps || st.st_blocks != 0)
		fail("size %lld blocks %lld, expected %ld and 0", (long long)st.st_size, (long long)st.st_blocks, 2 * hps);
	if (fcntl(fd, F_GET_SEALS) != seals)
		fail("seals 0x%x, expected 0x%x", fcntl(fd, F_GET_SEALS), seals);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(link, 0, sizeof(link));
	if (readlink(path, link, sizeof(link) - 1) < 0 || strcmp(link, "/memfd:zdtm-huge (deleted)"))
		fail("link %s", link);
	pass();
}
