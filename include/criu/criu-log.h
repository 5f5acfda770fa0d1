/*
 * criu-log.h: logging for CRIU plugins, as criu-ts provides it.
 *
 * Written for criu-ts from CRIU's documented plugin ABI (the log levels and the
 * print_on_level() entry point a plugin links against). Self-contained: nothing else of
 * criu-ts or CRIU is needed to build a plugin with it.
 *
 * A plugin prints with the pr_*() macros; the text goes to the tool's log at that level
 * (-v0 .. -v4, -o FILE), with the tool's time stamp in front.
 */
#ifndef __CRIU_LOG_H__
#define __CRIU_LOG_H__

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>

/* the verbosity levels of -v: a message is printed when its level <= the tool's */
#define LOG_UNSET (-1)
#define LOG_MSG   (0) /* always printed */
#define LOG_ERROR (1)
#define LOG_WARN  (2)
#define LOG_INFO  (3)
#define LOG_DEBUG (4)

#define DEFAULT_LOGLEVEL LOG_WARN

/* provided by the tool (criu-ts: native/build/libcriu-plugin-host.so) */
extern void print_on_level(unsigned int loglevel, const char *format, ...)
	__attribute__((__format__(__printf__, 2, 3)));
extern unsigned int log_get_loglevel(void);

/* a plugin may define LOG_PREFIX (a string literal) before including this header */
#ifndef LOG_PREFIX
#define LOG_PREFIX
#endif

#define pr_msg(fmt, ...)   print_on_level(LOG_MSG, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)  print_on_level(LOG_INFO, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) print_on_level(LOG_DEBUG, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) \
	print_on_level(LOG_ERROR, "Error (%s:%d): " LOG_PREFIX fmt, __FILE__, __LINE__, ##__VA_ARGS__)
#define pr_warn(fmt, ...) \
	print_on_level(LOG_WARN, "Warn  (%s:%d): " LOG_PREFIX fmt, __FILE__, __LINE__, ##__VA_ARGS__)
#define pr_perror(fmt, ...) pr_err(fmt ": %s\n", ##__VA_ARGS__, strerror(errno))
#define pr_pwarn(fmt, ...)  pr_warn(fmt ": %s\n", ##__VA_ARGS__, strerror(errno))

/* print a message once per call site */
#define print_once(loglevel, fmt, ...)                                 \
	do {                                                           \
		static bool __cr_printed;                              \
		if (!__cr_printed) {                                   \
			__cr_printed = true;                           \
			print_on_level(loglevel, fmt, ##__VA_ARGS__);  \
		}                                                      \
	} while (0)
#define pr_err_once(fmt, ...)  print_once(LOG_ERROR, fmt, ##__VA_ARGS__)
#define pr_warn_once(fmt, ...) print_once(LOG_WARN, "Warn  (%s:%d): " LOG_PREFIX fmt, __FILE__, __LINE__, ##__VA_ARGS__)

#define DEFAULT_LOG_FILENAME "criu.log"

/* true when a message of this level would not be printed */
static inline int pr_quelled(unsigned int loglevel)
{
	return log_get_loglevel() < loglevel && loglevel != LOG_MSG;
}

#endif /* __CRIU_LOG_H__ */
