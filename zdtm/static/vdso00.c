/* The vDSO: still mapped where the libc found it, clocks keep working and monotonic. Each
 * vDSO reading is checked against system-call readings taken just before and after it (no
 * fixed tolerance in seconds). */
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
static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

/* a clock through the vDSO (clock_gettime of the libc) between two system calls */
static void bracket(clockid_t c, const char *name)
{
	struct timespec s0, v, s1;

	syscall(SYS_clock_gettime, c, &s0);
	clock_gettime(c, &v);
	syscall(SYS_clock_gettime, c, &s1);
	if (ns(v) < ns(s0) || ns(v) > ns(s1))
		fail("vDSO %s %.9f is not between the system call's %.9f and %.9f", name, ts(v), ts(s0), ts(s1));
}

int main(int argc, char **argv)
{
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR);
	struct timespec m0, m1, r0, r1;
	struct timeval tv;
	time_t now;

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
	bracket(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	bracket(CLOCK_REALTIME, "CLOCK_REALTIME");
	bracket(CLOCK_BOOTTIME, "CLOCK_BOOTTIME");
	/* gettimeofday in microseconds, time() in seconds of the coarse clock (up to a tick behind) */
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &r0);
	gettimeofday(&tv, NULL);
	now = time(NULL);
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &r1);
	if (tv.tv_sec * 1000000LL + tv.tv_usec < ns(r0) / 1000 || tv.tv_sec * 1000000LL + tv.tv_usec > ns(r1) / 1000)
		fail("gettimeofday %ld.%06ld is not between the system call's %.6f and %.6f", (long)tv.tv_sec, (long)tv.tv_usec, ts(r0), ts(r1));
	if (now < r0.tv_sec - 1 || now > r1.tv_sec)
		fail("time() %ld is not within a tick of the system call's %ld..%ld", (long)now, (long)r0.tv_sec, (long)r1.tv_sec);
	pass();
}
