#!/usr/bin/env node
// Installs the Debian packages the tests need when they are missing (as root), then makes
// sure the native parts and the TypeScript are built. Run by `npm test` (pretest).
import { $, fs } from 'zx';

$.verbose = false;
const need = [
  { pkg: 'gcc', ok: () => fs.existsSync('/usr/bin/gcc') },
  { pkg: 'make', ok: () => fs.existsSync('/usr/bin/make') },
  { pkg: 'libc6-dev', ok: () => fs.existsSync('/usr/include/stdio.h') && fs.readdirSync('/usr/lib').some(() => true) && hasStaticLibc() },
  { pkg: 'util-linux', ok: () => fs.existsSync('/usr/bin/setpriv') },
  { pkg: 'chromium', ok: () => fs.existsSync('/usr/bin/chromium') },
  // the RPC tests' client (criu/test/rpc/client.py): Debian's Python protobuf over rpc.proto compiled by Debian's protoc
  { pkg: 'protobuf-compiler', ok: () => fs.existsSync('/usr/bin/protoc') },
  { pkg: 'python3-protobuf', ok: () => fs.existsSync('/usr/lib/python3/dist-packages/google/protobuf') },
  // the real servers of criu/test/real-servers.spec.ts
  { pkg: 'redis-server', ok: () => fs.existsSync('/usr/bin/redis-server') },
  { pkg: 'redis-tools', ok: () => fs.existsSync('/usr/bin/redis-cli') },
  { pkg: 'nginx-light', ok: () => fs.existsSync('/usr/sbin/nginx') },
  { pkg: 'curl', ok: () => fs.existsSync('/usr/bin/curl') },
  // the network lock of --tcp-established (criu/test/tcp.spec.ts, zdtm socket-tcp*)
  { pkg: 'iptables', ok: () => fs.existsSync('/usr/sbin/iptables') },
  { pkg: 'nftables', ok: () => fs.existsSync('/usr/sbin/nft') },
  // the detached tmux server of criu/test/tty.spec.ts; ip for the network namespace tests
  { pkg: 'tmux', ok: () => fs.existsSync('/usr/bin/tmux') },
  { pkg: 'iproute2', ok: () => fs.existsSync('/usr/sbin/ip') || fs.existsSync('/usr/bin/ip') },
  { pkg: 'python3', ok: () => fs.existsSync('/usr/bin/python3') },
  // containers end to end (criu/test/runc*.spec.ts): Debian's runc calls our criu; the rootfs is busybox-static
  // (--no-install-recommends: runc recommends Debian's own criu, which must not shadow ours on PATH)
  { pkg: 'runc', ok: () => fs.existsSync('/usr/sbin/runc') || fs.existsSync('/usr/bin/runc') },
  { pkg: 'busybox-static', ok: () => fs.existsSync('/bin/busybox') && fs.existsSync('/usr/share/doc/busybox-static') },
  // podman with runc calling our criu (criu/test/podman.spec.ts); brings conmon (not crun: Debian's is built without CRIU)
  { pkg: 'podman', ok: () => fs.existsSync('/usr/bin/podman') && fs.existsSync('/usr/bin/conmon') },
  // the VM cells (ci/vm/, `npm run zdtm -- --vm`): qemu for both CPUs, the initramfs (cpio,
  // busybox-static above) and depmod/modprobe for the guest kernels' modules
  { pkg: 'qemu-system-x86', ok: () => fs.existsSync('/usr/bin/qemu-system-x86_64') },
  { pkg: 'qemu-system-arm', ok: () => fs.existsSync('/usr/bin/qemu-system-aarch64') },
  { pkg: 'cpio', ok: () => fs.existsSync('/usr/bin/cpio') },
  { pkg: 'kmod', ok: () => fs.existsSync('/usr/sbin/depmod') || fs.existsSync('/sbin/depmod') },
  // `vagrant validate` of the top-level Vagrantfile (criu/test/vm.spec.ts)
  { pkg: 'vagrant', ok: () => fs.existsSync('/usr/bin/vagrant') },
  // the aarch64 builds of native/ and zdtm/ (make CC=aarch64-linux-gnu-gcc B=build/aarch64)
  { pkg: 'gcc-aarch64-linux-gnu', ok: () => fs.existsSync('/usr/bin/aarch64-linux-gnu-gcc') },
  { pkg: 'libc6-dev-arm64-cross', ok: () => fs.existsSync('/usr/aarch64-linux-gnu/lib/libc.a') },
];

function hasStaticLibc() {
  const dirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
  return dirs.some((d) => fs.existsSync(`${d}/libc.a`));
}

const missing = need.filter((n) => !n.ok()).map((n) => n.pkg);
if (missing.length) {
  if (process.getuid() !== 0) {
    console.error(`pretest: missing Debian packages: ${missing.join(' ')} (run as root, or install them)`);
    process.exit(1);
  }
  console.log(`pretest: installing ${missing.join(' ')}`);
  await $`apt-get -o DPkg::Lock::Timeout=600 update -qq`;
  await $({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends ${missing}`;
}
await $`make -s -C native`;
await $`npm run -s build:ts`;
if (fs.existsSync('zdtm/Makefile')) await $`make -s -C zdtm`;
// the hugetlb zdtm tests (hugetlb00, hugetlb01, memfd_hugetlb00) need a few free huge pages;
// they skip by `criu check --feature hugetlb_pages` where none can be had
try {
  const f = '/proc/sys/vm/nr_hugepages';
  if (process.getuid() === 0 && Number(fs.readFileSync(f, 'utf8')) < 16) {
    fs.writeFileSync(f, '16');
    console.log(`pretest: ${f} set to ${fs.readFileSync(f, 'utf8').trim()} (16 asked)`);
  }
} catch (e) {
  console.log(`pretest: huge pages not reserved (${e.message}): the hugetlb tests will skip`);
}
