/*
 * criu-plugin.h: the plugin interface of CRIU ("plugins API, v2"), as criu-ts provides it.
 *
 * Written for criu-ts from CRIU's documented plugin ABI: the descriptor's layout, the hook
 * numbers and each hook's arguments are CRIU's, so a plugin built against this header loads in
 * CRIU 4.2 and one built against CRIU's headers loads in criu-ts.
 *
 * A plugin is a shared object in the plugin folder (-L/--libdir, else $CRIU_LIBS_DIR, else
 * /usr/lib/criu/) that defines a descriptor named CR_PLUGIN_DESC:
 *
 *     CR_PLUGIN_REGISTER("name", my_init, my_exit)     or   CR_PLUGIN_REGISTER_DUMMY("name")
 *     CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, my_dump_ext_file)
 *
 * init(stage) runs when the plugin is loaded, before any of its hooks; exit(stage, ret) at the
 * end of the run, ret != 0 when the run failed. A hook answers 0 (done), a negative errno
 * (failure) or -ENOTSUP ("not mine": the next plugin with that hook is asked).
 */
#ifndef __CRIU_PLUGIN_H__
#define __CRIU_PLUGIN_H__

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define CRIU_PLUGIN_GEN_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + (c))
#define CRIU_PLUGIN_VERSION_MAJOR    0
#define CRIU_PLUGIN_VERSION_MINOR    2
#define CRIU_PLUGIN_VERSION_SUBLEVEL 0
/* the version a descriptor generated for an old-style plugin carries */
#define CRIU_PLUGIN_VERSION_OLD CRIU_PLUGIN_GEN_VERSION(0, 1, 0)
#define CRIU_PLUGIN_VERSION                                                        \
	CRIU_PLUGIN_GEN_VERSION(CRIU_PLUGIN_VERSION_MAJOR, CRIU_PLUGIN_VERSION_MINOR, \
				CRIU_PLUGIN_VERSION_SUBLEVEL)

/* The hooks, by number (the index into the descriptor's hooks[]). */
enum {
	CR_PLUGIN_HOOK__DUMP_UNIX_SK = 0,	 /* int (int fd, int id) */
	CR_PLUGIN_HOOK__RESTORE_UNIX_SK = 1,	 /* int (int id): the new socket's fd */
	CR_PLUGIN_HOOK__DUMP_EXT_FILE = 2,	 /* int (int fd, int id) */
	CR_PLUGIN_HOOK__RESTORE_EXT_FILE = 3,	 /* int (int id): the new fd */
	CR_PLUGIN_HOOK__DUMP_EXT_MOUNT = 4,	 /* int (char *mountpoint, int id) */
	CR_PLUGIN_HOOK__RESTORE_EXT_MOUNT = 5,	 /* int (int id, char *mountpoint, char *old_root, int *is_file) */
	CR_PLUGIN_HOOK__DUMP_EXT_LINK = 6,	 /* int (int index, int type, char *kind) */
	CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA = 7,	 /* int (int fd, const struct stat *st) */
	CR_PLUGIN_HOOK__UPDATE_VMA_MAP = 8,	 /* int (path, addr, old_pgoff, *new_pgoff, *plugin_fd) */
	CR_PLUGIN_HOOK__RESUME_DEVICES_LATE = 9, /* int (int pid) */
	CR_PLUGIN_HOOK__PAUSE_DEVICES = 10,	 /* int (int pid) */
	CR_PLUGIN_HOOK__CHECKPOINT_DEVICES = 11, /* int (int pid) */
	CR_PLUGIN_HOOK__POST_FORKING = 12,	 /* int (void) */
	/* the two hooks of CRIU's development branch */
	CR_PLUGIN_HOOK__RESTORE_INIT = 13,	 /* int (void) */
	CR_PLUGIN_HOOK__DUMP_DEVICES_LATE = 14,	 /* int (int id) */

	CR_PLUGIN_HOOK__MAX
};

/* CR_PLUGIN_HOOK__X_t: the function type of hook X */
#define DECLARE_PLUGIN_HOOK_ARGS(__hook, ...) typedef int(__hook##_t)(__VA_ARGS__)

DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__DUMP_UNIX_SK, int fd, int id);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__RESTORE_UNIX_SK, int id);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__DUMP_EXT_FILE, int fd, int id);
/* criu-ts passes a second argument, bool *retry_needed (CRIU's development branch), always
 * pointing at a false; a hook declared with one argument just ignores it */
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__RESTORE_EXT_FILE, int id);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__DUMP_EXT_MOUNT, char *mountpoint, int id);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__RESTORE_EXT_MOUNT, int id, char *mountpoint, char *old_root, int *is_file);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__DUMP_EXT_LINK, int index, int type, char *kind);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA, int fd, const struct stat *stat);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__UPDATE_VMA_MAP, const char *path, const uint64_t addr,
			 const uint64_t old_pgoff, uint64_t *new_pgoff, int *plugin_fd);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, int pid);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__PAUSE_DEVICES, int pid);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__CHECKPOINT_DEVICES, int pid);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__POST_FORKING, void);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__RESTORE_INIT, void);
DECLARE_PLUGIN_HOOK_ARGS(CR_PLUGIN_HOOK__DUMP_DEVICES_LATE, int id);

/* the stage init() and exit() are told */
enum {
	CR_PLUGIN_STAGE__DUMP,
	CR_PLUGIN_STAGE__PRE_DUMP,
	CR_PLUGIN_STAGE__RESTORE,

	CR_PLUGIN_STAGE_MAX
};

/* The descriptor. Its layout is the ABI: name, init, exit, version, max_hooks, hooks[]. */
typedef struct {
	const char *name;
	int (*init)(int stage);
	void (*exit)(int stage, int ret);
	unsigned int version;	/* CRIU_PLUGIN_VERSION it was built with */
	unsigned int max_hooks; /* how many entries hooks[] has */
	void *hooks[CR_PLUGIN_HOOK__MAX];
} cr_plugin_desc_t;

extern cr_plugin_desc_t CR_PLUGIN_DESC;

#define CR_PLUGIN_REGISTER(___name, ___init, ___exit)  \
	cr_plugin_desc_t CR_PLUGIN_DESC = {            \
		.name = ___name,                       \
		.init = ___init,                       \
		.exit = ___exit,                       \
		.version = CRIU_PLUGIN_VERSION,        \
		.max_hooks = CR_PLUGIN_HOOK__MAX,      \
	};

static inline int cr_plugin_dummy_init(int stage)
{
	(void)stage;
	return 0;
}

static inline void cr_plugin_dummy_exit(int stage, int ret)
{
	(void)stage;
	(void)ret;
}

#define CR_PLUGIN_REGISTER_DUMMY(___name) CR_PLUGIN_REGISTER(___name, cr_plugin_dummy_init, cr_plugin_dummy_exit)

/* fills hooks[__hook] when the shared object is loaded, before init() */
#define CR_PLUGIN_REGISTER_HOOK(__hook, __func)                                             \
	static void __attribute__((constructor)) cr_plugin_register_hook_##__func(void)     \
	{                                                                                   \
		CR_PLUGIN_DESC.hooks[__hook] = (void *)__func;                              \
	}

/* What the tool provides to plugins. */

/* an fd of the images directory, open for the whole run (-1 when there is none yet) */
extern int criu_get_image_dir(void);
/* at dump: record NAME in inventory.img (plugins_entry), so that a restore without it fails
 * with "Missing required plugin: NAME"; 0 on success */
extern int add_inventory_plugin(const char *name);
/* at restore, from init(): whether the images need the plugin NAME (its first n characters),
 * taking it off the list of required plugins; always true for images without plugins_entry */
extern bool check_and_remove_inventory_plugin(const char *name, size_t n);

/*
 * The old style, still accepted: a plugin without CR_PLUGIN_DESC exports cr_plugin_init()
 * and cr_plugin_fini() and hooks by name (cr_plugin_dump_file, cr_plugin_restore_file,
 * cr_plugin_dump_unix_sk, ... cr_plugin_post_forking).
 */
typedef int(cr_plugin_init_t)(void);
typedef void(cr_plugin_fini_t)(void);
typedef int(cr_plugin_dump_unix_sk_t)(int fd, int id);
typedef int(cr_plugin_restore_unix_sk_t)(int id);
typedef int(cr_plugin_dump_file_t)(int fd, int id);
typedef int(cr_plugin_restore_file_t)(int id);
typedef int(cr_plugin_dump_ext_mount_t)(char *mountpoint, int id);
typedef int(cr_plugin_restore_ext_mount_t)(int id, char *mountpoint, char *old_root, int *is_file);
typedef int(cr_plugin_dump_ext_link_t)(int index, int type, char *kind);
typedef int(cr_plugin_handle_device_vma_t)(int fd, const struct stat *stat);
typedef int(cr_plugin_update_vma_map_t)(const char *path, const uint64_t addr, const uint64_t old_pgoff,
					uint64_t *new_pgoff, int *plugin_fd);
typedef int(cr_plugin_resume_devices_late_t)(int pid);
typedef int(cr_plugin_post_forking_t)(void);

#endif /* __CRIU_PLUGIN_H__ */
