#!/bin/sh
# Print the patch level of the Debian release as the host's package index sees it: a digest of the updates and
# security suites' InRelease files (each changes when the suite publishes fixes). Refresh the index first when its
# newest InRelease is older than MAX_AGE_MINUTES (0: never, e.g. in check mode). A failed refresh keeps the index
# as it is (air-gapped hosts: the level then changes only when the index does).
# Usage: patch-level.sh MAX_AGE_MINUTES
set -eu
max_age=$1 lists=/var/lib/apt/lists
if [ "$max_age" -gt 0 ] && [ -z "$(find "$lists" -maxdepth 1 -name '*_InRelease' -mmin "-$max_age" -print -quit)" ]; then
    apt-get update -qq >/dev/null 2>&1 || echo "apt-get update failed; using the package index as it is" >&2
fi
# No such suite configured: the digest of nothing, a constant.
cat "$lists"/*-updates_InRelease "$lists"/*-security_InRelease 2>/dev/null | sha256sum | cut -c1-16
