// Netlink and packet sockets in states the images cannot hold are refused by name (task, fd,
// socket, what), nothing but the log is left, and the tree runs on: a netlink socket with an
// answer queued (CRIU 4.2 refuses it too), one with NETLINK_NO_ENOBUFS (netlink_sk_entry has no
// field for it), a SOCK_PACKET socket (obsolete; packet_sock_entry keeps it, we do not restore it),
// a raw IPv6 socket with IPV6_CHECKSUM (ip_opts_raw_entry cannot hold its offset), a packet ring
// mapped after its socket was closed (files/packet.ts packetRingMaps: CRIU maps a ring only from
// an fd of its socket), a ring mapped in part. A ring with its socket open is dumped (zdtm/static/packet_ring).
import { test, expect } from '@playwright/test';
import { type ChildProcess } from 'node:child_process';
import { tmpdir } from './lib.js';
import { pyHolder, refusedDump } from './refuse-lib.js';

const kids: ChildProcess[] = [];
test.afterAll(() => {
  for (const k of kids) k.kill('SIGKILL');
});

const holder = (dir: string, setup: string): Promise<number> => pyHolder(dir, setup, kids);
const refused = refusedDump;

const route = `s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)\ns.bind((0, 0))\n`;

test('a netlink socket with an answer queued is refused as CRIU refuses it; the task runs on', async () => {
  const dir = tmpdir('refuse-nl-queued');
  // RTM_GETLINK for lo, the answer left unread
  const pid = await holder(dir, `${route}s.send(struct.pack('=IHHII', 32, 18, 1, 1, 0) + struct.pack('=BxHiII', 0, 0, 1, 0, 0))\ntime.sleep(0.2)`);
  const err = refused(dir, pid);
  expect(err).toMatch(
    new RegExp(`not supported yet: task ${pid} fd \\d+ \\(socket:\\[\\d+\\]\\): a netlink route socket \\(port id \\d+\\) with messages queued to be read`),
  );
  expect(err).toContain('The socket has data to read');
});

test('a netlink socket with NETLINK_NO_ENOBUFS is refused by name', async () => {
  const dir = tmpdir('refuse-nl-noenobufs');
  const pid = await holder(dir, `${route}s.setsockopt(270, 5, 1)`);
  expect(refused(dir, pid)).toMatch(
    new RegExp(`not supported yet: task ${pid} fd \\d+ \\(socket:\\[\\d+\\]\\): a netlink route socket .* with NETLINK_NO_ENOBUFS`),
  );
});

test('a SOCK_PACKET socket is refused by name', async () => {
  const dir = tmpdir('refuse-packet-spkt');
  const pid = await holder(dir, `p = socket.socket(socket.AF_PACKET, 10, 0x300)`);
  expect(refused(dir, pid)).toMatch(
    new RegExp(`not supported yet: task ${pid} fd \\d+ \\(socket:\\[\\d+\\]\\): a packet SOCK_PACKET socket .* \\(the obsolete SOCK_PACKET type\\)`),
  );
});

test('a raw IPv6 socket with IPV6_CHECKSUM is refused by name', async () => {
  const dir = tmpdir('refuse-raw6-checksum');
  const pid = await holder(dir, `r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 253)\nr.setsockopt(41, 7, 2)`);
  expect(refused(dir, pid)).toMatch(
    new RegExp(`not supported yet: task ${pid} fd \\d+ \\(socket:\\[\\d+\\]\\): a raw IPv6 socket \\(protocol 253\\) .* with IPV6_CHECKSUM at offset 2`),
  );
});

test('a packet ring still mapped after its socket was closed is refused by name', async () => {
  const dir = tmpdir('refuse-packet-ring-map');
  const setup = [
    'import ctypes',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.mmap.restype = ctypes.c_void_p',
    'libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]',
    'p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)',
    "p.setsockopt(263, 5, struct.pack('IIII', 4096, 1, 2048, 2))",
    'a = libc.mmap(None, 4096, 3, 1, p.fileno(), 0)',
    'p.close()',
  ].join('\n');
  const pid = await holder(dir, setup);
  expect(refused(dir, pid)).toMatch(
    new RegExp(`not supported yet: task ${pid}: VMA [0-9a-f]+-[0-9a-f]+ socket:\\[\\d+\\]: a packet socket ring mapped after its socket was closed`),
  );
});

test('a packet ring mapped in part is refused by name', async () => {
  const dir = tmpdir('refuse-packet-ring-part');
  const setup = [
    'import ctypes',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'libc.mmap.restype = ctypes.c_void_p',
    'libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]',
    'libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]',
    'p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)',
    "p.setsockopt(263, 5, struct.pack('IIII', 4096, 2, 2048, 4))",
    'a = libc.mmap(None, 8192, 3, 1, p.fileno(), 0)',
    'libc.munmap(a, 4096)',
  ].join('\n');
  const pid = await holder(dir, setup);
  expect(refused(dir, pid)).toMatch(
    new RegExp(
      `not supported yet: task ${pid}: VMA [0-9a-f]+-[0-9a-f]+ socket:\\[\\d+\\]: a part of a packet socket ring \\(0x1000 bytes at offset 0x1000 of 0x2000\\)`,
    ),
  );
});
