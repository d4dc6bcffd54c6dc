"""The prose of docs/BENCHMARK.md: what the CPU figures mean, the method, the conditions."""

from __future__ import annotations

from typing import Any


def _at(res: dict[str, Any], concurrency: int) -> dict[str, Any] | None:
    return next((r for r in res["levels"] if r["concurrency"] == concurrency), None)


def _api_cpu_note(at32: dict[str, Any]) -> list[str]:
    via = at32["gateway"]["cpu_us_per_request"]["api"]
    direct = at32["direct"]["cpu_us_per_request"]["api"] or 1
    if via <= 1.5 * direct:
        return []
    return [
        "",
        f"Note: at c=32 the API replicas spent {via / direct:.1f} times more CPU per request when "
        "the requests came through the gateway than when they came directly. Part of it is the "
        "idle background (healthcheck processes) spread over fewer requests; the rest is "
        "unexplained by this run — upstream connection reuse (`$upstream_connect_time`, sockets "
        "in TIME_WAIT on the replicas) is the first thing to check.",
    ]


def _ratio_note(at32: dict[str, Any]) -> list[str]:
    g, d = at32["gateway"]["cpu_us_per_request"], at32["direct"]["cpu_us_per_request"]
    via_total = sum(g[k] for k in ("gateway", "api", "client", "dockerd"))
    direct_total = d["api"] + d["client"]
    if via_total <= 0 or direct_total <= 0:
        return []
    return [
        "",
        "Why the ratio is what it is: at c=32 a request through the gateway costs "
        f"{via_total:.0f} µs of CPU in all (gateway {g['gateway']:.0f}, API {g['api']:.0f}, client "
        f"TLS {g['client']:.0f}, Docker engine log copying {g['dockerd']:.0f}) against "
        f"{direct_total:.0f} µs direct, on the same 2 cores, so a CPU-bound run cannot exceed a "
        f"ratio of about {direct_total / via_total:.2f} (measured {at32['ratio']:.2f}). The "
        "cheaper the API per request, the larger the gateway's share: TLS, proxying and the "
        "client's TLS are fixed costs.",
    ]


def cpu_notes(res: dict[str, Any]) -> list[str]:
    """Paragraphs under the CPU table, each preceded by an empty line."""
    lines: list[str] = []
    at32 = _at(res, 32)
    if at32:
        lines += _api_cpu_note(at32) + _ratio_note(at32)
    if res.get("idle_cpu_ms_per_s"):
        idle = res["idle_cpu_ms_per_s"]
        lines += [
            "",
            f"Idle background (no load), CPU ms per second: API replicas {idle['api']}, gateway "
            f"{idle['gateway']}, dockerd {idle['dockerd']}.",
        ]
    return lines


def method() -> list[str]:
    return [
        "## Method",
        "",
        "- `make bench` = `bench/run.py`: deploys the real `playbooks/site.yml` as project "
        "`fbench` (own containers, networks, ports and /opt/fbench), starts two wrk client "
        "containers (public and backend network), re-runs the playbook with "
        "`nginx_gateway_rate_limit_exempt: [<public client>/32]` (only that client skips the rate "
        "limit), measures, then removes everything with `playbooks/stop.yml` (`--keep` leaves it "
        "running, `--purge` also removes the fbench images and /opt/fbench).",
        "- Load: wrk 4.1 (Debian package) with `bench/client/wrk/post.lua`: closed loop, c "
        "connections, threads = min(c, 8), 5 s socket timeout, static request `POST /predict` "
        '`{"sentence": "I love this product"}`. Latency percentiles are wrk\'s (no '
        "coordinated-omission correction). Direct runs pin wrk thread *i* to replica *i* mod 3 "
        "(c=32: 12/12/8 connections).",
        "- Errors = socket errors (connect, read, write, timeout) + responses with status ≥ 400.",
        "- Earlier configurations are replayed in the private stack's rendered files only "
        "(htpasswd, nginx.conf, certificate; nginx reloaded) and restored afterwards; the roles "
        "are untouched.",
        "- CPU per request comes from the containers' cgroup counters (and dockerd's /proc stat) "
        "around each measurement, minus the idle rate measured for 10 s before the load.",
    ]


def conditions(res: dict[str, Any]) -> list[str]:
    cond = res["meta"]
    return [
        "## Conditions",
        "",
        "- Other containers running on the engine during the run: "
        f"{cond['other_containers'] or 'none'}.",
        f"- Load average (1 min) before each measurement: {cond['loadavg_min']} to "
        f"{cond['loadavg_max']}.",
        "- Client and server share the CPUs, so the client's own TLS cost is in the gateway "
        "numbers.",
    ]
