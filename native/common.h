/* The launcher's control protocol, shared by launcher.c and the TypeScript side
 * (criu/src/restore/launcher.ts mirrors these layouts). One SOCK_SEQPACKET message per request. */
#ifndef CRIU_NATIVE_COMMON_H
#define CRIU_NATIVE_COMMON_H
#include <stdint.h>

enum launcher_op {
	LOP_SPAWN = 1,     /* create a puppet with pid req.pid (0: any); an SCM_RIGHTS fd is its transport */
	LOP_WAIT_ROOT = 2, /* after the tool exits 0, wait for req.pid and exit with its status */
	LOP_TIMENS = 3,    /* unshare(CLONE_NEWTIME) with offsets that make the clocks read req.clocks
	                      now: the puppets spawned after it are inside; resp.offsets says how */
	LOP_EXEC = 4,      /* --exec-cmd: after the tool exits 0, execvp() the command that follows the
	                      request in the same message (its arguments, each ended by a NUL) */
};

#define LAUNCHER_EXEC_MAX 65536 /* the most bytes a LOP_EXEC command line may take */

enum launcher_flags {
	LF_SIBLING = 1,    /* CLONE_PARENT: the puppet becomes a child of the launcher's parent */
};

struct launcher_req {
	uint32_t op;
	uint32_t flags;
	int32_t pid;              /* wanted pid in the innermost pid namespace */
	uint32_t nr_tids;         /* set_tid entries used (1 .. 32) */
	int32_t set_tid[32];      /* set_tid for clone3, innermost first */
	uint64_t clone_flags;     /* extra CLONE_NEW* flags */
	int32_t exit_signal;
	int32_t transport_fd;     /* fd number the puppet keeps its transport at */
	int64_t clocks[4];        /* LOP_TIMENS: monotonic sec, nsec, boottime sec, nsec wanted */
};

struct launcher_resp {
	int32_t result;           /* pid, or -errno */
	int32_t pad;
	int64_t offsets[4];       /* LOP_TIMENS: the offsets written (monotonic sec, nsec, boottime) */
};

#define PUPPET_READY 'R'
#endif
