#!/bin/sh
# Start dockerd without a service manager, idempotently.
# Usage: start-dockerd.sh PIDFILE LOGFILE SOCKET TIMEOUT
# Prints "running" when the engine already answers, "started" when this script started it.
set -eu
pidfile=$1 logfile=$2 socket=$3 timeout=$4

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
    setsid nohup dockerd --pidfile "$pidfile" -H "unix://$socket" >>"$logfile" 2>&1 </dev/null &
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
