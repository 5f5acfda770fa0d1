/* A memory layout for the page movers' tests: NPAGES pages, page i filled with the byte
 * (i * 7 + 1) & 0xff; pages PROT_NONE_AT .. +2 made unreadable. Prints the base address, then
 * waits for stdin to close. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 3000
#define PROT_NONE_AT 100

int main(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	unsigned char *m = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	if (m == MAP_FAILED)
		return 1;
	for (long i = 0; i < NPAGES; i++)
		memset(m + i * ps, (i * 7 + 1) & 0xff, ps);
	if (mprotect(m + PROT_NONE_AT * ps, 2 * ps, PROT_NONE))
		return 1;
	printf("%p %d %d\n", (void *)m, NPAGES, PROT_NONE_AT);
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	return 0;
}
