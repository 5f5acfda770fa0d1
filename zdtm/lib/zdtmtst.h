/*
 * zdtm test library: the protocol between a test program and the harness.
 *
 *   prog --pidfile=P --outfile=O [--filename=F] [--dirname=D] [--NAME=VALUE ...]
 *
 * A program calls test_init(argc, argv) first.  test_init forks; the child
 * becomes a session leader, drops to the test credentials (uid/gid 18943,
 * groups 58467 58468) unless the program is suid, and returns.  The program
 * then builds its state and calls test_daemon(): only then does the parent
 * write the child's pid into the pidfile (atomically) and exit.  The program
 * then sleeps in test_waitsig() (or loops while test_go()) until SIGTERM,
 * checks its state and ends with pass() or fail("reason").
 *
 * Define TEST_SUID before including this header (or call test_set_suid()
 * before test_init) to keep root credentials.
 *
 * Break mode: with ZDTM_BREAK=1 in the environment, test_break() is true and
 * every program corrupts the state it checks right after building it.
 */
#ifndef ZDTM_ZDTMTST_H
#define ZDTM_ZDTMTST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#define ZDTM_UID	18943
#define ZDTM_GID	18943
#define ZDTM_GROUP1	58467
#define ZDTM_GROUP2	58468

#ifdef TEST_SUID
#define ZDTM_SUID_FLAG 1
#else
#define ZDTM_SUID_FLAG 0
#endif

/* Options given by the harness (NULL when absent). */
extern char *test_filename;	/* --filename */
extern char *test_dirname;	/* --dirname */
extern char *test_outfile;	/* --outfile */
extern char *test_pidfile;	/* --pidfile */
/* Any other --NAME=VALUE option; NULL if absent. */
const char *test_opt(const char *name);

void __test_init(int argc, char **argv, int suid);
#define test_init(argc, argv) __test_init((argc), (argv), ZDTM_SUID_FLAG)
void test_set_suid(void);	/* before test_init: keep root */
void test_daemon(void);		/* state is built: let the parent write the pidfile */
void test_waitsig(void);	/* sleep until SIGTERM */
bool test_go(void);		/* true until SIGTERM arrived */
volatile int *test_sig_flag(void); /* the word the SIGTERM handler sets to 1 (futex) */
bool test_break(void);		/* ZDTM_BREAK=1 */
pid_t test_main_pid(void);	/* the pid of the daemonized test */

/* Logging to the outfile (one write per line). */
void test_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define pr_perror(fmt, ...) test_msg("ERR: %s:%d: " fmt " (errno %d: %m)", __FILE__, __LINE__, ##__VA_ARGS__, errno)
/* Verdicts: the last line of the outfile.  Both exit. */
void pass(void) __attribute__((noreturn));
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* fail if cond, with a reason */
#define fail_if(cond, fmt, ...) do { if (cond) fail(fmt, ##__VA_ARGS__); } while (0)

/* Data generator: fills buf from the seed *crc, then sets *crc to the crc32 of buf. */
void datagen(void *buf, size_t len, uint32_t *crc);
/* 0 when crc32(buf) == *crc, -1 otherwise. */
int datachk(const void *buf, size_t len, const uint32_t *crc);
uint32_t zdtm_crc32(uint32_t crc, const void *buf, size_t len);

/* Tasks waiting for each other (futex in a shared anonymous page). */
typedef struct {
	volatile int32_t *word;
} task_waiter_t;
void task_waiter_init(task_waiter_t *t);
void task_waiter_fini(task_waiter_t *t);
void task_waiter_complete(task_waiter_t *t, int32_t id);
void task_waiter_complete_current(task_waiter_t *t);	/* id = getpid() */
void task_waiter_wait4(task_waiter_t *t, int32_t id);	/* until completed with id */

/* Helpers. */
ssize_t read_file(const char *path, char *buf, size_t size);	/* NUL-terminated, returns length */
/* system(cmd), the test failing (naming cmd and its status) unless it exits 0 */
void run_sh(const char *cmd);
/* what the shell command CMD prints, saved into FILE */
void save_output(const char *cmd, const char *file);
/* what CMD prints now must be what save_output saved into FILE (tried again for up to
 * settle_ms, for state the kernel settles asynchronously); else the test fails with both */
void expect_output(const char *cmd, const char *file, int settle_ms);
/* DIR/NAME, in one of 8 buffers used in turn */
const char *in_dir(const char *dir, const char *name);
/* a mount namespace of the test's own: a copy of its launcher's, every mount made private */
void private_mount_ns(void);
/* after test_init: a mount namespace of its own in flavor h (ns and uns have the tree's),
 * --dirname made, its real path into dir (PATH_MAX), a tmpfs named SOURCE with DATA mounted there */
void mount_test_dir(char *dir, const char *source, const char *data);
/* The line of /proc/self/maps containing addr (or "" when unmapped); 0 if found. */
int vma_line(const void *addr, char *line, size_t size);
/* Permission string ("rw-p") of the VMA containing addr; 0 if found. */
int vma_perms(const void *addr, char perms[5]);
/* Start/end of the VMA containing addr; 0 if found. */
int vma_bounds(const void *addr, unsigned long *start, unsigned long *end);
/* Number of VMAs intersecting [start, end). */
int vma_count(unsigned long start, unsigned long end);
/* VmFlags of the VMA containing addr (from /proc/self/smaps); 0 if found. */
int vma_flags(const void *addr, char *flags, size_t size);
/* Fields of /proc/PID/stat (pid 0 = self); any pointer may be NULL. */
int proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, pid_t *sid);
/* Thread state in /proc/self/task/TID/stat. */
int task_state(pid_t tid, char *state);
int sys_futex(volatile int32_t *uaddr, int op, int val, const void *ts);
pid_t sys_gettid(void);

#endif
