/* hugetlb memory (MAP_HUGETLB) survives: a private anonymous mapping of two huge pages, one
 * written and one never touched, with MADV_DONTFORK, and a shared anonymous one of one huge
 * page that a forked child shares. After the restore both are hugetlb mappings again (VmFlags
 * ht, KernelPageSize as before), the private one holds one huge page (Private_Hugetlb) with its
 * data, the shared one its data, and a write of the child is seen by the parent. Needs free
 * huge pages (vm.nr_hugepages): 3 of the default size. */
#include "zdtmtst.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* the number after `key` in the smaps block of the VMA that starts at addr (-1: none) */
static long smaps_val(void *addr, const char *key)
{
	char line[512], want[32];
	FILE *f = fopen("/proc/self/smaps", "r");
	int in = 0;
	long v = -1;
	snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
	while (f && fgets(line, sizeof line, f)) {
		/* a VMA's first line starts with its hex address, its keys with a capital */
		if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
			in = !strncmp(line, want, strlen(want));
		if (in && !strncmp(line, key, strlen(key)) && line[strlen(key)] == ':') {
			v = atol(line + strlen(key) + 1);
			break;
		}
	}
	if (f)
		fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	long hps_kb = -1, priv_hugetlb;
	size_t hps;
	char *priv, *sh, flags[256];
	uint32_t crc_p = 3, crc_s = 5;
	int pfd[2], st;
	pid_t kid;
	FILE *m;
	char line[128];

	test_init(argc, argv);
	m = fopen("/proc/meminfo", "r");
	while (m && fgets(line, sizeof line, m))
		if (sscanf(line, "Hugepagesize: %ld kB", &hps_kb) == 1)
			break;
	if (m)
		fclose(m);
	if (hps_kb <= 0)
		fail("no Hugepagesize in /proc/meminfo");
	hps = hps_kb << 10;
	priv = mmap(NULL, 2 * hps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	sh = mmap(NULL, hps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	if (priv == MAP_FAILED || sh == MAP_FAILED)
		fail("mmap(MAP_HUGETLB): %m (free huge pages are needed: vm.nr_hugepages)");
	datagen(priv, hps, &crc_p);
	datagen(sh, hps - 4096, &crc_s);
	if (madvise(priv, 2 * hps, MADV_DONTFORK))
		fail("madvise(MADV_DONTFORK): %m");
	if (vma_flags(priv, flags, sizeof flags) || !strstr(flags, "ht"))
		fail("not a hugetlb mapping: VmFlags %s", flags);
	priv_hugetlb = smaps_val(priv, "Private_Hugetlb");
	if (priv_hugetlb != hps_kb || smaps_val(priv, "KernelPageSize") != hps_kb)
		fail("private: Private_Hugetlb %ld kB KernelPageSize %ld kB, expected %ld", priv_hugetlb, smaps_val(priv, "KernelPageSize"), hps_kb);
	if (pipe(pfd))
		fail("pipe: %m");
	kid = fork();
	if (kid < 0)
		fail("fork: %m");
	if (kid == 0) {
		char c;
		close(pfd[1]);
		if (read(pfd[0], &c, 1) != 1)
			_exit(2);
		if (datachk(sh, hps - 4096, &crc_s))
			_exit(3);
		strcpy(sh + hps - 4096, "written by the child");
		_exit(0);
	}
	close(pfd[0]);
	test_daemon();
	if (test_break()) {
		priv[hps / 2] ^= 1;
		test_msg("break: a byte of the private huge page flipped");
	}
	test_waitsig();

	if (vma_flags(priv, flags, sizeof flags) || !strstr(flags, "ht") || !strstr(flags, "dc"))
		fail("private: VmFlags '%s', expected ht and dc", flags);
	if (vma_flags(sh, flags, sizeof flags) || !strstr(flags, "ht"))
		fail("shared: VmFlags '%s', expected ht", flags);
	if (smaps_val(priv, "KernelPageSize") != hps_kb || smaps_val(sh, "KernelPageSize") != hps_kb)
		fail("KernelPageSize %ld/%ld kB, expected %ld", smaps_val(priv, "KernelPageSize"), smaps_val(sh, "KernelPageSize"), hps_kb);
	if (smaps_val(priv, "Private_Hugetlb") != priv_hugetlb)
		fail("private: Private_Hugetlb %ld kB, expected %ld", smaps_val(priv, "Private_Hugetlb"), priv_hugetlb);
	if (datachk(priv, hps, &crc_p))
		fail("private: data changed");
	if (datachk(sh, hps - 4096, &crc_s))
		fail("shared: data changed");
	if (write(pfd[1], "x", 1) != 1)
		fail("write: %m");
	if (waitpid(kid, &st, 0) != kid)
		fail("waitpid: %m");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("the child saw other shared data (status %x)", st);
	if (strcmp(sh + hps - 4096, "written by the child"))
		fail("the child's write to the shared huge page is not seen");
	pass();
}
