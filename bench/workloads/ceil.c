/* Ceilings of this machine, in the same run as the bench: prints one number, GB/s (1e9 B/s).
 *
 *   ceil memcpy MIB        best of 5 copies between two resident buffers of MIB
 *   ceil touch MIB         first touch of fresh anonymous memory: a write to each page of a
 *                          new mapping (the fault and the kernel's zeroing), median of 3
 *   ceil pcwrite FILE MIB  page-cache write: MIB to FILE in 4 MiB write(2)s (no fsync), the file
 *                          truncated first; the first pass warms up, median of the next 3
 *   ceil fill FILE MIB     writes MIB to FILE once, untimed (the bench's page-cache warm-up)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	if (!strcmp(argv[1], "memcpy")) {
		size_t len = strtoull(argv[2], NULL, 0) << 20;
		char *a = map(len), *b = map(len);
		memset(a, 1, len);
		memset(b, 2, len);
		double best = 1e9;
		for (int i = 0; i < 5; i++) {
			double t = now();
			memcpy(i & 1 ? a : b, i & 1 ? b : a, len);
			t = now() - t;
			if (t < best)
				best = t;
		}
		printf("%.3f\n", len / best / 1e9);
	} else if (!strcmp(argv[1], "touch")) {
		size_t len = strtoull(argv[2], NULL, 0) << 20;
		double t[3];
		for (int i = 0; i < 3; i++) {
			volatile char *p = map(len);
			double s = now();
			for (size_t o = 0; o < len; o += 4096)
				p[o] = 1;
			t[i] = now() - s;
			munmap((void *)p, len);
		}
		qsort(t, 3, sizeof(double), cmp);
		printf("%.3f\n", len / t[1] / 1e9);
	} else if (!strcmp(argv[1], "fill") && argc > 3) {
		size_t len = strtoull(argv[3], NULL, 0) << 20, chunk = 4 << 20;
		char *buf = map(chunk);
		memset(buf, 0x5a, chunk);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0) {
			perror(argv[2]);
			return 1;
		}
		for (size_t o = 0; o < len; o += chunk)
			if (write(fd, buf, chunk) != (ssize_t)chunk) {
				perror("write");
				return 1;
			}
		close(fd);
		printf("0\n");
	} else if (!strcmp(argv[1], "pcwrite") && argc > 3) {
		size_t len = strtoull(argv[3], NULL, 0) << 20, chunk = 4 << 20;
		char *buf = map(chunk);
		memset(buf, 0x5a, chunk);
		double t[4];
		for (int i = 0; i < 4; i++) {
			int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0) {
				perror(argv[2]);
				return 1;
			}
			double s = now();
			for (size_t o = 0; o < len; o += chunk)
				if (write(fd, buf, chunk) != (ssize_t)chunk) {
					perror("write");
					return 1;
				}
			t[i] = now() - s;
			close(fd);
		}
		unlink(argv[2]);
		qsort(t + 1, 3, sizeof(double), cmp);
		printf("%.3f\n", len / t[2] / 1e9);
	} else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: ceil memcpy MIB | touch MIB | pcwrite FILE MIB\n");
	return 2;
}
