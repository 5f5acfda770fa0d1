# A TCP listener that asked for SIGIO (O_ASYNC, F_SETOWN to itself, F_SETSIG SIGUSR1 on a
# second one): each signal and each connection accepted is printed. With the argument `nobody`
# it drops to uid/gid 65534 before it asks (the kernel records that uid with the owner). Used by
# real-servers.spec.ts.
import fcntl, os, signal, socket, sys

def listener():
    s = socket.socket()
    # as servers do: the connections it closed first stay in TIME_WAIT on its port, and a
    # listener without SO_REUSEADDR could not be bound again before they expire (CRIU alike)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', 0))
    s.listen(8)
    s.setblocking(False)
    return s

def owned(s):
    fcntl.fcntl(s, fcntl.F_SETOWN, os.getpid())
    fcntl.fcntl(s, fcntl.F_SETFL, fcntl.fcntl(s, fcntl.F_GETFL) | os.O_ASYNC)
    return s

plain, sig = listener(), listener()
if sys.argv[1:] == ['nobody']:
    os.setgroups([])
    os.setresgid(65534, 65534, 65534)
    os.setresuid(65534, 65534, 65534)
owned(plain)
owned(sig)
fcntl.fcntl(sig, 10, signal.SIGUSR1)  # F_SETSIG

def on(signum, _frame):
    for s in (plain, sig):
        try:
            c, _ = s.accept()
        except BlockingIOError:
            continue
        c.sendall(b'hello\n')
        c.close()
        print(f'signal {signal.Signals(signum).name} accepted on {s.getsockname()[1]}', flush=True)

signal.signal(signal.SIGIO, on)
signal.signal(signal.SIGUSR1, on)
print(f'ready {plain.getsockname()[1]} {sig.getsockname()[1]}', flush=True)
while True:
    signal.pause()
