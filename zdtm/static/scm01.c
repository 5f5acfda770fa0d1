/* scm00 on a stream socketpair: the fds in flight split the stream where a read stops (after
 * the bytes that carry them), and each stretch comes back with its fds. */
#define CARRIER SOCK_STREAM
#include "scm00.c"
