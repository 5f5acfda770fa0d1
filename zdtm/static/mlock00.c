/* Locked memory: mlock(), MAP_LOCKED, mlock2(MLOCK_ONFAULT) and a locked private file mapping
 * stay locked (VmFlags "lo", VmLck) with their contents; THP advice (MADV_HUGEPAGE "hg") and
 * the task's personality are kept too. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PG 4096
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif

static long vmlck(void)
{
	char buf[4096], *p;
	if (read_file("/proc/self/status", buf, sizeof(buf)) <= 0 || !(p = strstr(buf, "VmLck:")))
		return -1;
	return atol(p + 6);
}

int main(int argc, char **argv)
{
	struct { const char *what; char *a; size_t len; char vmflags[256]; uint32_t crc; } r[5];
	int n = 0, i, fd, pers;
	char flags[256], *base;
	long locked;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	/* holes between the areas keep them apart */
	base = mmap(NULL, 64 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		fail("mmap: %m");
	r[n].what = "mlock";
	r[n].len = 8 * PG;
	r[n].a = mmap(base, r[n].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	n++;
	r[n].what = "MAP_LOCKED";
	r[n].len = 4 * PG;
	r[n].a = mmap(base + 12 * PG, r[n].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_LOCKED, -1, 0);
	n++;
	r[n].what = "MLOCK_ONFAULT";
	r[n].len = 4 * PG;
	r[n].a = mmap(base + 20 * PG, r[n].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	n++;
	r[n].what = "MADV_HUGEPAGE";
	r[n].len = 8 * PG;
	r[n].a = mmap(base + 28 * PG, r[n].len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	n++;
	for (i = 0; i < n; i++) {
		if (r[i].a == MAP_FAILED)
			fail("mmap %s: %m", r[i].what);
		r[i].crc = i + 3;
		datagen(r[i].a, r[i].len, &r[i].crc);
	}
	if (mlock(r[0].a, r[0].len) || syscall(SYS_mlock2, r[2].a, r[2].len, MLOCK_ONFAULT) || madvise(r[3].a, r[3].len, MADV_HUGEPAGE))
		fail("mlock/madvise: %m");
	/* a locked private mapping of a file */
	fd = open(test_filename, O_RDWR | O_CREAT, 0644);
	if (fd < 0 || ftruncate(fd, 4 * PG))
		fail("file: %m");
	r[n].what = "file";
	r[n].len = 4 * PG;
	r[n].a = mmap(base + 40 * PG, r[n].len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (r[n].a == MAP_FAILED || mlock(r[n].a, r[n].len))
		fail("file mapping: %m");
	r[n].crc = 0;
	close(fd);
	n++;
	for (i = 0; i < n; i++) {
		if (vma_flags(r[i].a, r[i].vmflags, sizeof(r[i].vmflags)))
			fail("no VmFlags for %s", r[i].what);
		if (!strstr(r[i].vmflags, i == 3 ? "hg" : "lo"))
			fail("%s: VmFlags '%s'", r[i].what, r[i].vmflags);
	}
	/* CRIU's image has MAP_LOCKED and no lock-on-fault mark: such an area comes back locked
	 * and populated, without "lf" */
	{
		char *lf = strstr(r[2].vmflags, "lf ");
		if (!lf)
			fail("MLOCK_ONFAULT: no lf in '%s'", r[2].vmflags);
		memmove(lf, lf + 3, strlen(lf + 3) + 1);
	}
	r[4].crc = zdtm_crc32(0, r[4].a, r[4].len);
	locked = vmlck();
	if (personality(PER_LINUX | ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC) < 0)
		fail("personality: %m");
	pers = personality(0xffffffff);
	test_daemon();
	if (test_break()) {
		munlock(r[1].a, r[1].len);
		test_msg("break: the MAP_LOCKED area is unlocked");
	}
	test_waitsig();

	for (i = 0; i < n; i++) {
		char *lf;
		if (vma_flags(r[i].a, flags, sizeof(flags)))
			fail("%s area is gone", r[i].what);
		if (i == 2 && (lf = strstr(flags, "lf ")))
			memmove(lf, lf + 3, strlen(lf + 3) + 1);
		if (strcmp(flags, r[i].vmflags))
			fail("%s area: VmFlags '%s', expected '%s'", r[i].what, flags, r[i].vmflags);
		if (i < 4 && datachk(r[i].a, r[i].len, &r[i].crc))
			fail("%s area changed", r[i].what);
	}
	if (zdtm_crc32(0, r[4].a, r[4].len) != r[4].crc)
		fail("file area changed");
	if (vmlck() < locked)
		fail("VmLck %ld kB, was %ld kB", vmlck(), locked);
	if (personality(0xffffffff) != pers)
		fail("personality 0x%x, expected 0x%x", personality(0xffffffff), pers);
	pass();
}
