#!/usr/bin/env bash
# Unit-test the Prometheus alert rules with promtool (prometheus 2.42, as in the monitoring image).
# Usage: bash tests/monitoring/run-rule-tests.sh
# promtool is taken from $PROMTOOL, else PATH, else extracted from Debian's `prometheus` package into
# .cache/promtool (no service is installed or started; needs apt, as on the project's Debian hosts).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "${here}/../.." && pwd)
rules="${root}/roles/monitoring/files/prometheus/fortress.rules.yml"

find_promtool() {
    if [[ -n "${PROMTOOL:-}" ]]; then
        echo "${PROMTOOL}"
        return
    fi
    if command -v promtool >/dev/null 2>&1; then
        command -v promtool
        return
    fi
    local cache="${root}/.cache/promtool"
    if [[ ! -x "${cache}/usr/bin/promtool" ]]; then
        local dl
        dl=$(mktemp -d)
        # apt-get download writes into the current directory; _apt cannot write to a mktemp dir.
        chmod 0777 "${dl}"
        if ! (cd "${dl}" && apt-get download prometheus >/dev/null 2>&1); then
            if [[ $(id -u) -eq 0 ]]; then
                apt-get update -qq >/dev/null
                (cd "${dl}" && apt-get download prometheus >/dev/null)
            else
                echo "promtool not found: install Debian's prometheus package or set PROMTOOL" >&2
                exit 2
            fi
        fi
        mkdir -p "${cache}"
        dpkg -x "${dl}"/prometheus_*.deb "${cache}"
        rm -rf "${dl}"
    fi
    echo "${cache}/usr/bin/promtool"
}

promtool=$(find_promtool)
"${promtool}" --version 2>&1 | head -n 1
"${promtool}" check rules "${rules}"
cd "${root}"
"${promtool}" test rules tests/monitoring/rules/*.test.yml
