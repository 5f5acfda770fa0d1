/* Mappings of many kinds: private/shared anonymous, private/shared file, read-only file. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SZ (16 * 4096)

struct m {
	const char *name;
	int prot, flags, file;
	char *addr;
	uint32_t crc;
	char line[512];
};

/*
 * A shared anonymous mapping is backed by a shmem object whose inode number the kernel picks
 * when the object is made: a restored object cannot have the old one (CRIU's zdtm does not
 * compare it either). Every other field of the line must be the same.
 */
static void drop_shmem_inode(char *line)
{
	char *dev, *ino, *end;

	if (!strstr(line, "/dev/zero (deleted)"))
		return;
	dev = strchr(line, ':'); /* the dev field is the first one with a colon */
	if (!dev || !(dev = strchr(dev, ' ')))
		return;
	ino = dev + 1;
	end = strchr(ino, ' ');
	if (!end)
		return;
	/* the kernel pads the path to a column after the inode: its width goes with the inode's digits */
	while (*end == ' ')
		end++;
	memmove(ino + 2, end, strlen(end) + 1);
	ino[0] = '*';
	ino[1] = ' ';
}

int main(int argc, char **argv)
{
	struct m ms[] = {
		{ "private anon", PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0 },
		{ "shared anon", PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, 0 },
		{ "private file", PROT_READ | PROT_WRITE, MAP_PRIVATE, 1 },
		{ "shared file", PROT_READ | PROT_WRITE, MAP_SHARED, 1 },
		{ "read-only file", PROT_READ, MAP_SHARED, 1 },
		{ "exec private anon", PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, 0 },
	};
	int n = sizeof(ms) / sizeof(ms[0]), fd, i;
	static char fbuf[4 * SZ], line[512];
	uint32_t fcrc = 7;

	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	fd = open(test_filename, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		fail("open %s: %m", test_filename);
	datagen(fbuf, sizeof(fbuf), &fcrc);
	if (write(fd, fbuf, sizeof(fbuf)) != sizeof(fbuf))
		fail("write: %m");
	for (i = 0; i < n; i++) {
		off_t off = ms[i].file ? (i - 2) * SZ : 0;
		ms[i].addr = mmap(NULL, SZ, PROT_READ | PROT_WRITE, ms[i].flags, ms[i].file ? fd : -1, off);
		if (ms[i].addr == MAP_FAILED)
			fail("mmap %s: %m", ms[i].name);
		if (ms[i].prot & PROT_WRITE) {
			ms[i].crc = i + 100;
			datagen(ms[i].addr, SZ, &ms[i].crc);
		} else if (!ms[i].file) {
			ms[i].crc = i + 100;
			datagen(ms[i].addr, SZ, &ms[i].crc);
		} else {
			ms[i].crc = zdtm_crc32(0, ms[i].addr, SZ);
		}
		if (mprotect(ms[i].addr, SZ, ms[i].prot))
			fail("mprotect: %m");
		vma_line(ms[i].addr, ms[i].line, sizeof(ms[i].line));
		drop_shmem_inode(ms[i].line);
	}
	close(fd);
	test_daemon();
	if (test_break()) {
		ms[3].addr[SZ / 2] ^= 1;
		test_msg("break: flipped a byte of the shared file mapping");
	}
	test_waitsig();

	for (i = 0; i < n; i++) {
		if (datachk(ms[i].addr, SZ, &ms[i].crc))
			fail("the content of the %s mapping changed", ms[i].name);
		vma_line(ms[i].addr, line, sizeof(line));
		drop_shmem_inode(line);
		if (strcmp(line, ms[i].line))
			fail("the %s mapping changed: '%s' -> '%s'", ms[i].name, ms[i].line, line);
	}
	/* the shared file mapping is still the file */
	fd = open(test_filename, O_RDONLY);
	if (fd < 0 || pread(fd, fbuf, SZ, 1 * SZ) != SZ)
		fail("can't read %s back: %m", test_filename);
	if (memcmp(fbuf, ms[3].addr, SZ))
		fail("the shared file mapping differs from the file");
	pass();
}
