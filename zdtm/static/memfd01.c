/* memfd seals of every kind: F_SEAL_SEAL, SHRINK, GROW, WRITE, FUTURE_WRITE, EXEC (and
 * MFD_NOEXEC_SEAL), each checked by F_GET_SEALS and by what it forbids after the restore. */
#include "zdtmtst.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SZ (64 * 1024)
enum { SIZE_FIXED, WRITE_SEALED, FUTURE, NOEXEC, UNSEALABLE, EXEC_SEALED, N };

static const char *names[N] = { "size-fixed", "write-sealed", "future-write", "noexec", "unsealable", "exec-sealed" };

int main(int argc, char **argv)
{
	static char buf[SZ];
	int fd[N], seals[N], i;
	uint32_t crc[N];
	struct stat st;
	void *m;

	test_init(argc, argv);
	fd[SIZE_FIXED] = memfd_create(names[SIZE_FIXED], MFD_ALLOW_SEALING);
	fd[WRITE_SEALED] = memfd_create(names[WRITE_SEALED], MFD_ALLOW_SEALING);
	fd[FUTURE] = memfd_create(names[FUTURE], MFD_ALLOW_SEALING);
	fd[NOEXEC] = memfd_create(names[NOEXEC], MFD_NOEXEC_SEAL);
	fd[UNSEALABLE] = memfd_create(names[UNSEALABLE], MFD_EXEC);
	fd[EXEC_SEALED] = memfd_create(names[EXEC_SEALED], MFD_ALLOW_SEALING | MFD_EXEC);
	for (i = 0; i < N; i++) {
		if (fd[i] < 0)
			fail("memfd_create(%s): %m", names[i]);
		crc[i] = i + 7;
		datagen(buf, SZ, &crc[i]);
		if (write(fd[i], buf, SZ) != SZ)
			fail("write %s: %m", names[i]);
	}
	if (fcntl(fd[SIZE_FIXED], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) ||
	    fcntl(fd[WRITE_SEALED], F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) ||
	    fcntl(fd[FUTURE], F_ADD_SEALS, F_SEAL_FUTURE_WRITE) ||
	    fchmod(fd[EXEC_SEALED], 0750) || fcntl(fd[EXEC_SEALED], F_ADD_SEALS, F_SEAL_EXEC))
		fail("F_ADD_SEALS: %m");
	for (i = 0; i < N; i++)
		seals[i] = fcntl(fd[i], F_GET_SEALS);
	test_daemon();
	if (test_break()) {
		fcntl(fd[FUTURE], F_ADD_SEALS, F_SEAL_GROW);
		test_msg("break: F_SEAL_GROW added to the future-write memfd");
	}
	test_waitsig();

	for (i = 0; i < N; i++) {
		char b[SZ];
		int s = fcntl(fd[i], F_GET_SEALS);
		if (s != seals[i])
			fail("%s: seals 0x%x, expected 0x%x", names[i], s, seals[i]);
		if (pread(fd[i], b, SZ, 0) != SZ || datachk(b, SZ, &crc[i]))
			fail("%s: contents changed", names[i]);
	}
	if (ftruncate(fd[SIZE_FIXED], SZ / 2) == 0 || ftruncate(fd[SIZE_FIXED], SZ * 2) == 0 || errno != EPERM)
		fail("size-fixed memfd could be resized");
	if (pwrite(fd[SIZE_FIXED], "z", 1, 0) != 1)
		fail("size-fixed memfd cannot be written: %m");
	if (pwrite(fd[WRITE_SEALED], "z", 1, 0) != -1 || errno != EPERM)
		fail("write-sealed memfd could be written");
	if (fcntl(fd[WRITE_SEALED], F_ADD_SEALS, F_SEAL_GROW) != -1 || errno != EPERM)
		fail("F_SEAL_SEAL did not stop a new seal");
	if (fcntl(fd[UNSEALABLE], F_ADD_SEALS, F_SEAL_GROW) != -1 || errno != EPERM)
		fail("a memfd made without MFD_ALLOW_SEALING took a seal");
	m = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd[FUTURE], 0);
	if (m != MAP_FAILED || errno != EPERM)
		fail("future-write memfd could be mapped writable");
	if (pwrite(fd[FUTURE], "z", 1, 0) != -1 || errno != EPERM)
		fail("future-write memfd could be written");
	if (fstat(fd[NOEXEC], &st) || (st.st_mode & 0111))
		fail("noexec memfd has mode %o", st.st_mode & 07777);
	if (fchmod(fd[NOEXEC], 0755) == 0 || fchmod(fd[EXEC_SEALED], 0700) == 0)
		fail("an exec-sealed memfd changed its exec bits");
	if (fstat(fd[EXEC_SEALED], &st) || (st.st_mode & 07777) != 0750)
		fail("exec-sealed memfd has mode %o, expected 750", st.st_mode & 07777);
	if (fstat(fd[UNSEALABLE], &st) || !(st.st_mode & 0100))
		fail("MFD_EXEC memfd lost its exec bits (mode %o)", st.st_mode & 07777);
	pass();
}
