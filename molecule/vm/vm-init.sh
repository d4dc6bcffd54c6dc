#!/bin/sh
# PID 1 of the rehearsal instance. Docker mounts the cgroup hierarchies read-only in a container without
# --privileged; the engine that the docker_engine role starts in here needs them writable (CAP_SYS_ADMIN).
set -eu
for dir in /sys/fs/cgroup/*/; do
  mount -o remount,rw "$dir" 2>/dev/null || true
done
exec "$@"
