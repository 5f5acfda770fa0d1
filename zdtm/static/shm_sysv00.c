/* Attached SysV shared memory: a segment attached read-write with its middle page made
 * read-only (three VMAs of one segment), and another attached SHM_RDONLY. After the restore
 * both are attached at the same addresses with the same contents and protections, and they are
 * the segments themselves: a second attach of each sees what the first holds, and a write
 * through the first shows through the second.
 *
 * In the host's IPC namespace the segments outlive the dumped tree (they are not removed while
 * attached); the test removes them at the end. Break mode replaces the first attach with a
 * private copy at the same place: same contents, but no longer the segment. */
#include "zdtmtst.h"
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#define PG 4096
#define SZ (3 * PG)
#define SZ2 (2 * PG)

int main(int argc, char **argv)
{
	uint32_t crc = 17, crc2 = 23;
	int id, id2;
	uint8_t *m, *m2, *v, *v2;
	char perms[5];
	struct shmid_ds ds;
	long nattch, nattch2;

	test_init(argc, argv);
	id = shmget(IPC_PRIVATE, SZ, IPC_CREAT | 0600);
	id2 = shmget(IPC_PRIVATE, SZ2, IPC_CREAT | 0600);
	fail_if(id < 0 || id2 < 0, "shmget: %m");
	m = shmat(id, NULL, 0);
	fail_if(m == (void *)-1, "shmat: %m");
	datagen(m, SZ, &crc);
	if (mprotect(m + PG, PG, PROT_READ))
		fail("mprotect: %m");
	v = shmat(id2, NULL, 0);
	fail_if(v == (void *)-1, "shmat: %m");
	datagen(v, SZ2, &crc2);
	shmdt(v);
	m2 = shmat(id2, NULL, SHM_RDONLY);
	fail_if(m2 == (void *)-1, "shmat SHM_RDONLY: %m");
	/* each VMA of an attach counts (the mprotect split one into three) */
	fail_if(shmctl(id, IPC_STAT, &ds), "IPC_STAT: %m");
	nattch = ds.shm_nattch;
	fail_if(shmctl(id2, IPC_STAT, &ds), "IPC_STAT: %m");
	nattch2 = ds.shm_nattch;
	test_daemon();
	if (test_break()) {
		uint8_t *copy = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		memcpy(copy, m, SZ);
		mremap(copy, SZ, SZ, MREMAP_MAYMOVE | MREMAP_FIXED, m);
		mprotect(m + PG, PG, PROT_READ);
		test_msg("break: replaced the first attach by a private copy");
	}
	test_waitsig();
	/* removed now (they live on while attached), so that a failed check leaks none */
	shmctl(id, IPC_RMID, NULL);
	shmctl(id2, IPC_RMID, NULL);

	if (datachk(m, SZ, &crc))
		fail("the first segment's contents changed");
	if (datachk(m2, SZ2, &crc2))
		fail("the second segment's contents changed");
	if (vma_perms(m, perms) || strncmp(perms, "rw-s", 4))
		fail("first page of the first segment: %s, not rw-s", perms);
	if (vma_perms(m + PG, perms) || strncmp(perms, "r--s", 4))
		fail("middle page of the first segment: %s, not r--s", perms);
	if (vma_perms(m + 2 * PG, perms) || strncmp(perms, "rw-s", 4))
		fail("last page of the first segment: %s, not rw-s", perms);
	if (vma_perms(m2, perms) || strncmp(perms, "r--s", 4))
		fail("the read-only attach: %s, not r--s", perms);
	if (shmctl(id, IPC_STAT, &ds) || (long)ds.shm_nattch != nattch)
		fail("segment %d has %ld attaches, %ld before the dump", id, (long)ds.shm_nattch, nattch);
	if (shmctl(id2, IPC_STAT, &ds) || (long)ds.shm_nattch != nattch2)
		fail("segment %d has %ld attaches, %ld before the dump", id2, (long)ds.shm_nattch, nattch2);
	v = shmat(id, NULL, 0);
	v2 = shmat(id2, NULL, SHM_RDONLY);
	fail_if(v == (void *)-1 || v2 == (void *)-1, "shmat after the restore: %m");
	if (memcmp(v, m, SZ) || memcmp(v2, m2, SZ2))
		fail("a new attach sees other contents");
	m[0] ^= 0x5a;
	if (v[0] != m[0])
		fail("a write to the first attach does not show in a new one: not the segment");
	pass();
	return 0;
}
