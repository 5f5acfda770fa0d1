/*
 * libcriu-plugin-host.so: what a CRIU plugin calls back into the tool for.
 *
 * The TypeScript plugin loader loads this library with RTLD_GLOBAL before any plugin, so a
 * plugin's undefined references (print_on_level, criu_get_image_dir, add_inventory_plugin ...)
 * resolve here. Each entry point forwards to a callback the loader registered (koffi
 * callbacks, called synchronously on the thread that called the plugin) or answers from state
 * the loader set. Without a callback a message goes to stderr, so a plugin used outside the
 * tool still says what it has to say.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*cph_log_cb)(unsigned int level, const char *text);
typedef int (*cph_add_cb)(const char *name);
typedef int (*cph_check_cb)(const char *name, size_t n);

static cph_log_cb log_cb;
static cph_add_cb add_cb;
static cph_check_cb check_cb;
static unsigned int loglevel = 2; /* LOG_WARN, CRIU's default */
static int image_dir_fd = -1;

#define EXPORT __attribute__((visibility("default")))

/* the loader's side */
EXPORT int cph_abi(void) { return 1; }
EXPORT void cph_set_log(cph_log_cb cb, unsigned int level) { log_cb = cb; loglevel = level; }
EXPORT void cph_set_loglevel(unsigned int level) { loglevel = level; }
EXPORT void cph_set_image_dir(int fd) { image_dir_fd = fd; }
EXPORT void cph_set_inventory(cph_add_cb add, cph_check_cb check) { add_cb = add; check_cb = check; }

/* the plugins' side: CRIU's names and signatures */
EXPORT void print_on_level(unsigned int level, const char *format, ...)
{
	char small[1024], *text = small;
	va_list ap;
	int n;

	if (level > loglevel && level != 0)
		return;
	va_start(ap, format);
	n = vsnprintf(small, sizeof(small), format, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		text = malloc((size_t)n + 1);
		if (!text)
			return;
		va_start(ap, format);
		vsnprintf(text, (size_t)n + 1, format, ap);
		va_end(ap);
	}
	if (log_cb)
		log_cb(level, text);
	else
		fputs(text, stderr);
	if (text != small)
		free(text);
}

EXPORT unsigned int log_get_loglevel(void) { return loglevel; }

EXPORT int criu_get_image_dir(void) { return image_dir_fd; }

EXPORT int add_inventory_plugin(const char *name)
{
	if (!name || !add_cb)
		return -1;
	return add_cb(name);
}

EXPORT bool check_and_remove_inventory_plugin(const char *name, size_t n)
{
	if (!name || !check_cb)
		return true; /* no inventory known: every plugin is enabled, as for old images */
	return check_cb(name, n) != 0;
}
