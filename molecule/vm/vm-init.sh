#!/bin/sh
# PID 1 of the rehearsal instance. Docker mounts the cgroup hierarchies read-only in a container without
# --privileged; the engine that the docker_engine role starts in here needs them writable (CAP_SYS_ADMIN).
set -eu
# (A plain "remount,rw" answers "mount point is busy"; a bind remount changes only this mount's flags.)
for dir in /sys/fs/cgroup/*/; do
  mount -o remount,rw,bind "$dir" || echo "vm-init: could not make $dir writable" >&2
done
exec "$@"
