/* The vDSO: still mapped where the libc found it, clocks keep working and monotonic. */
#include "zdtmtst.h"
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int vdso_at(unsigned long addr)
{
	char line[512];
	return !vma_line((void *)addr, line, sizeof(line)) && strstr(line, "[vdso]");
}

static double ts(struct timespec t) { return t.tv_sec + t.tv_nsec / 1e9; }

int main(int argc, char **argv)
{
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
	struct timespec m0, m1, r1, sm, sr;
	struct timeval tv;

	test_init(argc, argv);
	if (!vdso || !vdso_at(vdso))
		fail("no [vdso] at AT_SYSINFO_EHDR %#lx", vdso);
	clock_gettime(CLOCK_MONOTONIC, &m0);
	test_daemon();
	if (test_break()) {
		unsigned long s, e;
		vma_bounds((void *)vdso, &s, &e);
		munmap((void *)s, e - s);
		test_msg("break: unmapped the vDSO");
	}
	test_waitsig();

	/* before calling into it: it must be where the libc's pointers lead */
	if (!vdso_at(vdso))
		fail("[vdso] is no longer at %#lx", vdso);
	for (int i = 0; i < 1000; i++) {
		clock_gettime(CLOCK_MONOTONIC, &m1);
		if (ts(m1) < ts(m0))
			fail("CLOCK_MONOTONIC went back: %.9f -> %.9f", ts(m0), ts(m1));
		m0 = m1;
	}
	clock_gettime(CLOCK_REALTIME, &r1);
	gettimeofday(&tv, NULL);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &sm);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &sr);
	if (ts(sm) - ts(m1) < 0 || ts(sm) - ts(m1) > 1)
		fail("vDSO CLOCK_MONOTONIC %.6f vs syscall %.6f", ts(m1), ts(sm));
	if (ts(sr) - ts(r1) < 0 || ts(sr) - ts(r1) > 1)
		fail("vDSO CLOCK_REALTIME %.6f vs syscall %.6f", ts(r1), ts(sr));
	if (tv.tv_sec < r1.tv_sec - 1 || tv.tv_sec > sr.tv_sec + 1)
		fail("gettimeofday %ld vs clock_gettime %ld", (long)tv.tv_sec, (long)r1.tv_sec);
	if (time(NULL) < r1.tv_sec || time(NULL) > sr.tv_sec + 1)
		fail("time() is off");
	pass();
}
