/* file_lease01 as root: the lease signals' owner was recorded with uid 0, so the kernel would
 * deliver a signal of the restore's own break to the holder: it must not get one (a ghost). */
#define TEST_SUID
#include "file_lease01.c"
