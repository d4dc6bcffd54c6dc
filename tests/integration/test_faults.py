"""Fault injection under steady load: a crashed replica, gateway reloads, api-v2 down and monitoring
down. Each fault is bounded in time and undone afterwards. The load (traffic.py) comes from client
containers on the public network, each under its own per-client rate limit. The rolling update of
the API image is in test_rolling_update.py.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections import Counter

import pytest
from conftest import (
    TEST_CLIENT_LABEL,
    docker,
    inspect,
    instances,
    request_interval,
    stack_containers,
    wait_healthy,
)
from traffic import Load, assert_no_failure, replica_answers_again

# The gateway gives up connecting to an upstream after 2 s (nginx_gateway_proxy_connect_timeout) and
# waits 10 s for an answer (proxy_read_timeout): "fast" means well under the latter.
FAST_ERROR_MAX_S = 3.0
FAST_ERROR_MEDIAN_S = 0.5
MONITORING_COMPONENTS = ("prometheus", "nginx-exporter", "gateway-mtail", "grafana")


@pytest.fixture(scope="module")
def url(gateway_inside) -> str:
    return f"{gateway_inside}/predict"


@pytest.fixture(scope="module")
def interval(manifest) -> float:
    return request_interval(manifest)


def crash(host, manifest, pid: int) -> None:
    """SIGKILL a container's main process from the host PID namespace, as the OOM killer would.

    `docker kill` does not model a crash: Docker records it as a manual stop and the restart policy
    then leaves the container down. A throwaway container in the host PID namespace, holding only
    CAP_KILL, delivers the signal instead (the daemon resolves --pid=host, so this also works from
    a Molecule instance that only shares the docker socket).
    """
    project = manifest["project"]
    docker(
        host,
        *("run", "--rm", "--name", f"{project}-testclient-crash-{uuid.uuid4().hex[:8]}"),
        *("--label", f"fortress.project={project}", "--label", f"{TEST_CLIENT_LABEL}=true"),
        *("--pid=host", "--network=none"),
        *("--user=0", "--cap-drop=ALL", "--cap-add=KILL", "--entrypoint", "python3"),
        *(manifest["api_image"], "-c", f"import os; os.kill({int(pid)}, 9)"),
    )


def nginx_workers(host, container: str) -> set[str]:
    lines = docker(host, "top", container).splitlines()[1:]
    return {line.split()[1] for line in lines if "worker process" in line}


def test_a_crashed_v1_replica_costs_no_request_and_comes_back_by_itself(
    host, manifest, load_clients, url, interval, basic_auth, report
):
    v1 = instances(manifest, "v1")
    if len(v1) < 2:
        pytest.skip(f"{len(v1)} v1 replica: a crash would leave v1 without a backend")
    alias, victim = v1[-1]["name"], v1[-1]["container"]
    before = wait_healthy(host, victim)
    with Load(load_clients[:2], url, basic_auth, batch=50, interval=interval) as load:
        time.sleep(1.0)
        crash(host, manifest, before["State"]["Pid"])
        killed_at = time.monotonic()
    for _ in range(60):  # Docker notices the exit and restarts it (bounded: 30 s)
        if inspect(host, victim)["RestartCount"] > before["RestartCount"]:
            break
        time.sleep(0.5)
    after = wait_healthy(host, victim, timeout=90)
    healthy_after = time.monotonic() - killed_at
    seen = replica_answers_again(load_clients[0], url, basic_auth, alias, interval)
    report(f"crashed {alias}: {load.summary()}; healthy again {healthy_after:.1f} s after the kill")
    assert_no_failure(load, f"{alias} crashed")
    assert after["RestartCount"] > before["RestartCount"], (before["State"], after["State"])
    assert after["State"]["Pid"] != before["State"]["Pid"], after["State"]
    assert alias in seen, f"{alias} is healthy but the gateway does not route to it: {seen}"


def test_gateway_reloads_under_load_cost_no_request(
    host, manifest, load_clients, url, interval, basic_auth, report
):
    """Three reloads, run as the role's handler runs them. Each request opens its own connection:
    reused keep-alive connections that the old workers close while idle are a client-side retry
    matter (what curl and browsers do), not a request the gateway lost."""
    gateway = manifest["gateway"]["container"]
    config = inspect(host, gateway)["Config"]
    command = [*(config["Entrypoint"] or []), *config["Cmd"]]
    workers_before = nginx_workers(host, gateway)
    close = {**basic_auth, "Connection": "close"}
    with Load(load_clients[:2], url, close, batch=40, interval=interval) as load:
        for _ in range(3):
            time.sleep(1.2)
            docker(host, "exec", gateway, *command, "-s", "reload")
    report(f"3 gateway reloads: {load.summary()}")
    assert nginx_workers(host, gateway) - workers_before, (
        "no new nginx worker: reload did not happen"
    )
    assert_no_failure(load, "gateway reload")
    assert inspect(host, gateway)["State"]["Health"]["Status"] == "healthy"


def test_monitoring_down_leaves_api_traffic_unaffected(
    host, manifest, load_clients, url, interval, basic_auth, report
):
    if not manifest["monitoring"]["enabled"]:
        pytest.skip("monitoring is disabled in this deployment: nothing to stop")
    found = {
        c["Name"].lstrip("/"): c["Config"]["Labels"]["fortress.component"]
        for c in stack_containers(host, manifest)
        if c["Config"]["Labels"].get("fortress.component") in MONITORING_COMPONENTS
    }
    running, components = sorted(found), set(found.values())
    assert {"prometheus", "nginx-exporter"} <= components, f"monitoring containers: {found}"
    docker(host, "stop", "-t", "5", *running)
    try:
        with Load(load_clients[:2], url, basic_auth, batch=30, interval=interval) as load:
            time.sleep(1.0)
            still_up = [n for n in running if inspect(host, n)["State"]["Running"]]
    finally:
        docker(host, "start", *running)
        for name in running:
            wait_healthy(host, name, timeout=90)
    report(f"monitoring down ({', '.join(sorted(components))}): {load.summary()}")
    assert not still_up, f"still running while they should be down: {still_up}"
    assert_no_failure(load, "monitoring down")


def test_v2_down_answers_debug_requests_fast_with_json_and_leaves_v1_alone(
    host, manifest, api_v2, load_clients, url, interval, basic_auth, report
):
    v2 = api_v2["container"]
    debug_headers = {**basic_auth, "X-Experiment-Group": manifest["gateway"]["experiment_value"]}
    wait_healthy(host, v2)
    docker(host, "stop", "-t", "5", v2)
    try:
        with (
            Load(load_clients[:1], url, debug_headers, batch=12, interval=interval) as debug,
            Load(load_clients[1:2], url, basic_auth, batch=30, interval=interval) as default,
        ):
            pass
    finally:
        docker(host, "start", v2)
        wait_healthy(host, v2, timeout=90)
    back = replica_answers_again(load_clients[0], url, debug_headers, api_v2["name"], interval)

    times = [r["elapsed_ms"] / 1000 for r in debug.results]
    report(
        f"api-v2 down: debug {debug.summary()}, latency median {statistics.median(times):.3f} s "
        f"max {max(times):.3f} s; default {default.summary()}"
    )
    assert_no_failure(default, "api-v2 down, default traffic")
    statuses = Counter(r["status"] for r in debug.results)
    assert set(statuses) <= {502, 503}, f"debug requests while api-v2 is down: {dict(statuses)}"
    for r in debug.results:
        assert json.loads(r["body"])["error"], r
    assert max(times) < FAST_ERROR_MAX_S, (
        f"slowest debug answer {max(times):.2f} s: {sorted(times)}"
    )
    assert statistics.median(times) < FAST_ERROR_MEDIAN_S, (
        f"debug answers are slow: {sorted(times)}"
    )
    assert api_v2["name"] in back, (
        f"{api_v2['name']} is healthy again but the gateway does not route to it: {back}"
    )
