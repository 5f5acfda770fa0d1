#!/bin/busybox sh
# /init of a VM cell's initramfs (ci/vm/guest.mjs packs it with busybox-static and the early
# modules, listed in load order in /modules). It mounts the host's tree (9p, read-only) under
# a tmpfs overlay, so the guest runs the project and its build where the host has them and
# writes nothing back but to the results share; then it runs the cell's guest script there.
# The kernel command line gives criu_vm_guest= (the script, a host path) in the environment.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "criu-vm: $*" > /dev/console; }
for m in $(cat /modules); do
	insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done
mkdir -p /host /rw /new
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host; then
	say "the host's tree (9p tag hostroot) did not mount"
	echo o > /proc/sysrq-trigger
fi
mount -t tmpfs -o size=75% rw /rw
mkdir -p /rw/up /rw/work
# criu_vm_root: a root of the guest's CPU inside the host's tree (ci/vm/rootfs.mjs), with the
# host paths of criu_vm_binds (colon-separated: the project, the VM cache) in it at their
# paths, each writable the same way (an overlay on the tmpfs)
if ! mount -t overlay ov -o "lowerdir=/host${criu_vm_root:-},upperdir=/rw/up,workdir=/rw/work" /new; then
	say "the overlay on the host's tree did not mount"
	echo o > /proc/sysrq-trigger
fi
IFS=:
n=0
for p in ${criu_vm_binds:-}; do
	n=$((n + 1))
	mkdir -p "/new$p" "/rw/b$n/up" "/rw/b$n/work" &&
		mount -t overlay "ov$n" -o "lowerdir=/host$p,upperdir=/rw/b$n/up,workdir=/rw/b$n/work" "/new$p" || say "cannot bind $p"
done
unset IFS
mount --move /proc /new/proc
mount --move /sys /new/sys
mount --move /dev /new/dev
mount -t tmpfs -o mode=1777 tmp /new/tmp
exec switch_root /new /bin/sh "$criu_vm_guest"
