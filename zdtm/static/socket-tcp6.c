#define ZDTM_IPV6
#include "socket-tcp.c"
