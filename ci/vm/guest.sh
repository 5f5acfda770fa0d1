#!/bin/sh
# A VM cell's guest, after the initramfs switched to the host's tree (ci/vm/init.sh): the
# mounts and settings a Debian system has at boot (those the suite relies on), the guest
# kernel's modules from the VM cache, the results share; then /results/cmd.sh (written by
# ci/vm/cell.mjs) runs with its output in /results/out.log and its exit code in /results/rc.
# The guest powers off at the end whatever happens.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
say() { echo "criu-vm: $*" > /dev/console; }
off() {
	sync
	echo o > /proc/sysrq-trigger
	sleep 30
}
trap off EXIT
rel=$(uname -r)
mkdir -p /results "/lib/modules/$rel"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /results || { say "the results share did not mount"; off; }
# shellcheck disable=SC2154 # from the kernel command line
mount --bind "$criu_vm_mods" "/lib/modules/$rel" || say "no modules at $criu_vm_mods"
mount -t tmpfs -o mode=0755 run /run
mkdir -p /dev/pts /dev/shm /dev/mqueue /dev/hugepages /run/lock /var/tmp
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t mqueue mqueue /dev/mqueue
mount -t hugetlbfs hugetlbfs /dev/hugepages
mount -t cgroup2 cgroup2 /sys/fs/cgroup || say "no cgroup2"
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tmpfs -o mode=1777 vartmp /var/tmp
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
# the device nodes of modules loaded on first open (/dev/net/tun, /dev/fuse ...), as
# systemd-tmpfiles makes them from kmod's list (modules.devname) on a Debian system
while read -r mod node spec; do
	case "$mod" in '' | '#'*) continue ;; esac
	dev=${spec#?}
	[ -e "/dev/$node" ] || { mkdir -p "$(dirname "/dev/$node")" && mknod -m 0600 "/dev/$node" "${spec%"$dev"}" "${dev%%:*}" "${dev#*:}"; } || say "cannot make /dev/$node ($mod)"
done < "/lib/modules/$rel/modules.devname"
ip link set lo up
hostname criu-vm
echo 16 > /proc/sys/vm/nr_hugepages 2>/dev/null
say "up: $(uname -r) $(uname -m), $(nproc) CPUs, $(($(sed -n 's/MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024)) MiB"
cd /results || off
sh /results/cmd.sh > /results/out.log 2>&1 < /dev/null
echo $? > /results/rc
say "done: rc $(cat /results/rc)"
# --keep: a shell on the console for a look inside; the guest powers off when it exits
# shellcheck disable=SC2154 # from the kernel command line
if [ "${criu_vm_keep:-}" = 1 ]; then
	say "kept: the results are in /results, the project in $(dirname "$(dirname "$0")"); exit the shell to power off"
	setsid sh -c 'exec sh -i </dev/console >/dev/console 2>&1'
fi
