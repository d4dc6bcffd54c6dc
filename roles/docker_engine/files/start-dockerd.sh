#!/bin/sh
# Start dockerd without a service manager, idempotently.
# Usage: start-dockerd.sh PIDFILE LOGFILE SOCKET TIMEOUT [ROTATE_SIZE ROTATE_FILES]
# With rotatelogs (apache2-utils) installed, dockerd's output is rotated by size: LOGFILE, LOGFILE.1, ... (a circular
# list of ROTATE_FILES files of ROTATE_SIZE), without cron or logrotate; otherwise it is appended to LOGFILE.
# Prints "running" when the engine already answers, "started" when this script started it.
set -eu
pidfile=$1 logfile=$2 socket=$3 timeout=$4 rotate_size=${5:-10M} rotate_files=${6:-5}

answers() {
    python3 - "$socket" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    sys.exit(0 if b" 200 " in s.recv(64) else 1)
except OSError:
    sys.exit(1)
PY
}

if answers; then
    echo "running"
    exit 0
fi

if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "dockerd (pid $pid) is alive but $socket does not answer yet; waiting" >&2
    else
        echo "removing stale pidfile $pidfile (pid '$pid' not alive)" >&2
        rm -f "$pidfile"
    fi
fi

if [ ! -f "$pidfile" ]; then
    mkdir -p "$(dirname "$logfile")"
    if command -v rotatelogs >/dev/null 2>&1; then
        setsid nohup sh -c 'dockerd --pidfile "$1" -H "unix://$2" 2>&1 | rotatelogs -n "$4" "$3" "$5"' \
            start-dockerd "$pidfile" "$socket" "$logfile" "$rotate_files" "$rotate_size" </dev/null >/dev/null 2>&1 &
    else
        setsid nohup dockerd --pidfile "$pidfile" -H "unix://$socket" >>"$logfile" 2>&1 </dev/null &
    fi
fi

i=0
while [ "$i" -lt "$timeout" ]; do
    if answers; then
        echo "started"
        exit 0
    fi
    i=$((i + 1))
    sleep 1
done

echo "dockerd did not answer on $socket within ${timeout}s; last lines of $logfile:" >&2
tail -n 30 "$logfile" >&2 || true
exit 1
