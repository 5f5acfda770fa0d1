#define ZDTM_CLOSE_WAIT
#include "socket-tcp.c"
