#!/bin/sh
# sandbox.sh CGROUP PRISTINE SCRATCH CASEDIR CMD...
# Runs CMD in its own cgroup (v2, so that every process it makes, reparented or not, can be
# found and killed) and in a throwaway mount namespace where everything is read-only but
# SCRATCH (a fresh tmpfs holding a copy of PRISTINE) and CASEDIR (images and logs of the case).
# /proc, /sys and /dev stay as they are (the restore writes /proc/PID/mem).
set -e
cg=$1 pristine=$2 scratch=$3 casedir=$4
shift 4
echo $$ > "$cg/cgroup.procs"
exec unshare --mount --propagation private -- /bin/sh -ec '
  pristine=$1 scratch=$2 casedir=$3
  shift 3
  mount -t tmpfs -o size=256m,mode=1777 criu-fuzz "$scratch"
  cp -a "$pristine/." "$scratch/"
  mount --bind "$casedir" "$casedir"
  mount -o remount,bind,ro /
  exec "$@"
' sandbox "$pristine" "$scratch" "$casedir" "$@"
