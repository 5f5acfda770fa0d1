/* The puppet: a process with a chosen PID that the restore engine turns into a dumped task.
 * It says it is ready on its transport socket, then blocks reading it. The engine seizes it,
 * replaces its memory, fds and registers by injected syscalls, and detaches. If the engine
 * goes away before that, the read returns 0 and the puppet exits. */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int t = atoi(argv[1]);
	char c = 'R';
	if (write(t, &c, 1) != 1)
		_exit(3);
	for (;;) {
		if (read(t, &c, 1) <= 0)
			_exit(4);
	}
}
