/* A program whose executable was removed while it runs (a binary upgraded underneath): the
 * program re-executes itself from a copy at --filename and removes the copy; after the restore
 * /proc/self/exe and the text mappings still name "<copy> (deleted)", with the same contents. */
#include "zdtmtst.h"
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static void copy_self(const char *dst)
{
	int in = open("/proc/self/exe", O_RDONLY), out;
	struct stat st;

	if (in < 0 || fstat(in, &st))
		exit(1);
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0)
		exit(1);
	for (off_t off = 0; off < st.st_size;)
		if (sendfile(out, in, &off, st.st_size - off) <= 0)
			exit(1);
	close(in);
	close(out);
}

/* crc of a whole file */
static uint32_t crc_of(const char *path, off_t *size)
{
	static char buf[1 << 16];
	uint32_t crc = ~0u;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	*size = 0;
	if (fd < 0)
		fail("open %s: %m", path);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		crc = zdtm_crc32(crc, buf, n);
		*size += n;
	}
	close(fd);
	return crc;
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], real[PATH_MAX], want[PATH_MAX + 16], line[PATH_MAX + 128];
	off_t size, size2;
	uint32_t crc, crc2;
	struct stat st;
	ssize_t n;
	int fd;

	if (!getenv("ZDTM_DELETED_EXE")) {
		char *fn = NULL;
		for (int i = 1; i < argc; i++)
			if (!strncmp(argv[i], "--filename=", 11))
				fn = argv[i] + 11;
		if (fn) {
			copy_self(fn);
			setenv("ZDTM_DELETED_EXE", "1", 1);
			execv(fn, argv);
			exit(1);
		}
	}
	test_init(argc, argv);
	if (!test_filename)
		fail("--filename is required");
	if (!realpath(test_filename, real))
		fail("realpath %s: %m", test_filename);
	snprintf(want, sizeof(want), "%s (deleted)", real);
	crc = crc_of("/proc/self/exe", &size);
	if (unlink(test_filename))
		fail("unlink: %m");
	test_daemon();
	if (test_break()) {
		fd = open(test_filename, O_WRONLY | O_CREAT | O_EXCL, 0644);
		close(fd);
		test_msg("break: a file has the removed executable's name again");
	}
	test_waitsig();

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		fail("readlink: %m");
	exe[n] = 0;
	if (strcmp(exe, want))
		fail("/proc/self/exe is '%s', expected '%s'", exe, want);
	if (stat("/proc/self/exe", &st) || st.st_nlink != 0)
		fail("the exe has %lu links, expected 0", (unsigned long)st.st_nlink);
	crc2 = crc_of("/proc/self/exe", &size2);
	if (crc2 != crc || size2 != size)
		fail("the exe's contents changed (%lld bytes, crc %x; were %lld, %x)", (long long)size2, crc2, (long long)size, crc);
	if (vma_line((void *)main, line, sizeof(line)) || !strstr(line, want))
		fail("the text mapping is '%s', expected one of '%s'", line, want);
	if (access(test_filename, F_OK) == 0)
		fail("the name is back");
	pass();
}
