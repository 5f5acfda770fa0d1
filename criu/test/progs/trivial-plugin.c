#include <sys/types.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <libgen.h>
#include <errno.h>

#include <sys/socket.h>
#include <linux/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "criu-plugin.h"
#include "criu-log.h"

static int dump_ext_file(int fd, int id)
{
	pr_info("dump_ext_file: fd %d id %d\n", fd, id);
	return 0;
}

CR_PLUGIN_REGISTER_DUMMY("trivial")
CR_PLUGIN_REGISTER_HOOK(CR_PLUGIN_HOOK__DUMP_EXT_FILE, dump_ext_file)
