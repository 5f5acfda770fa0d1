/* scm00 on a seqpacket socketpair (CRIU's scm03-seqpacket): each record with its fds. */
#define CARRIER SOCK_SEQPACKET
#include "scm00.c"
