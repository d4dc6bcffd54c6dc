"""Fault injection under steady load: a crashed replica, gateway reloads, api-v2 down, monitoring
down and a rolling update of the API image. Each fault is bounded in time and undone afterwards.

The load comes from client containers on the public network: each has its own address, hence its own
rate-limit bucket, and sends at most ~8 requests/s (the gateway allows 10 r/s per client address).
Traffic goes only to the project's own gateway container.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import Prober, docker, inspect, project_containers, start_client, wait_healthy

REPO = Path(__file__).resolve().parents[2]
SENTENCE = '{"sentence": "steady traffic while something breaks"}'
# Seconds between two requests of one client: about 7-8 r/s, under the 10 r/s per-address limit.
INTERVAL = 0.12
# The gateway gives up connecting to an upstream after 2 s (nginx_gateway_proxy_connect_timeout) and
# waits 10 s for an answer (proxy_read_timeout): "fast" means well under the latter.
FAST_ERROR_MAX_S = 3.0
FAST_ERROR_MEDIAN_S = 0.5
MONITORING_COMPONENTS = ("prometheus", "nginx-exporter", "gateway-mtail", "grafana")


@pytest.fixture(scope="module")
def clients(host, manifest) -> list[Prober]:
    names = [
        start_client(
            host, manifest["api_image"], manifest["networks"]["public"], manifest["project"]
        )
        for _ in range(3)
    ]
    yield [Prober(host, name) for name in names]
    host.run("docker rm -f %s %s %s", *names)


@pytest.fixture(scope="module")
def url(manifest) -> str:
    return f"https://gateway:{manifest['gateway']['internal_https_port']}/predict"


class Load:
    """Steady POST /predict traffic from client containers in background threads.

    Each client sends batches of `batch` requests `INTERVAL` apart over one keep-alive connection
    (unless the headers say `Connection: close`) until `max_batches` batches are done or the load
    is stopped; every request is bounded by the probe's timeout, so the whole load is bounded too.
    """

    def __init__(
        self,
        probers: list[Prober],
        url: str,
        headers: dict[str, str],
        batch: int,
        max_batches: int = 1,
    ) -> None:
        self.spec = {
            "body": SENTENCE,
            "headers": {"Content-Type": "application/json", **headers},
            "insecure": True,  # the clients have no CA file; TLS is verified in test_security
            "timeout": 15,
        }
        self.url, self.batch, self.max_batches = url, batch, max_batches
        self.results: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(p,)) for p in probers]

    def _run(self, prober: Prober) -> None:
        for _ in range(self.max_batches):
            try:
                results = prober(self.url, count=self.batch, interval=INTERVAL, **self.spec)
            except AssertionError as exc:  # the probe process itself failed
                with self._lock:
                    self.errors.append(str(exc))
                return
            with self._lock:
                self.results.extend(results)
            if self._stop.is_set():
                return

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=self.batch * (INTERVAL + 15) + 30)
        self.duration = time.monotonic() - self.started
        assert not any(t.is_alive() for t in self._threads), "load threads did not finish"
        assert not self.errors, self.errors

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] != 200]

    def summary(self) -> str:
        statuses = Counter(r["status"] for r in self.results)
        replicas = Counter(r["headers"].get("x-replica") for r in self.results)
        return (
            f"{len(self.results)} requests in {self.duration:.1f} s, "
            f"{len(self.failures())} failed, statuses {dict(statuses)}, replicas {dict(replicas)}"
        )


def assert_no_failure(load: Load, what: str) -> None:
    failed = load.failures()
    assert load.results, f"{what}: no request was sent"
    assert not failed, f"{what}: {len(failed)} of {len(load.results)} requests failed: {failed[:5]}"
    wrong = [r for r in load.results if r["headers"].get("x-variant") != "v1"]
    assert not wrong, f"{what}: default traffic answered by another variant: {wrong[:3]}"


def replica_answers_again(prober: Prober, url: str, headers: dict, alias: str) -> list[str]:
    """Send small batches until `alias` shows up in X-Replica (bounded to ~30 s)."""
    seen: list[str] = []
    spec = {"body": SENTENCE, "headers": {"Content-Type": "application/json", **headers}}
    for _ in range(6):
        results = prober(url, count=12, interval=INTERVAL, insecure=True, **spec)
        assert all(r["status"] == 200 for r in results), results
        seen = [r["headers"].get("x-replica") for r in results]
        if alias in seen:
            break
        time.sleep(3)
    return seen


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
        *("--label", f"fortress.project={project}", "--pid=host", "--network=none"),
        *("--user=0", "--cap-drop=ALL", "--cap-add=KILL", "--entrypoint", "python3"),
        *(manifest["api_image"], "-c", f"import os; os.kill({int(pid)}, 9)"),
    )


def nginx_workers(host, container: str) -> set[str]:
    lines = docker(host, "top", container).splitlines()[1:]
    return {line.split()[1] for line in lines if "worker process" in line}


def test_a_crashed_v1_replica_costs_no_request_and_comes_back_by_itself(
    host, manifest, clients, url, basic_auth, report
):
    alias = f"api-v1-{manifest['v1_replicas']}"
    victim = f"{manifest['project']}-{alias}"
    before = wait_healthy(host, victim)
    with Load(clients[:2], url, basic_auth, batch=50) as load:
        time.sleep(1.0)
        crash(host, manifest, before["State"]["Pid"])
        killed_at = time.monotonic()
    for _ in range(60):  # Docker notices the exit and restarts it (bounded: 30 s)
        if inspect(host, victim)["RestartCount"] > before["RestartCount"]:
            break
        time.sleep(0.5)
    after = wait_healthy(host, victim, timeout=90)
    healthy_after = time.monotonic() - killed_at
    seen = replica_answers_again(clients[0], url, basic_auth, alias)
    report(f"crashed {alias}: {load.summary()}; healthy again {healthy_after:.1f} s after the kill")
    assert_no_failure(load, f"{alias} crashed")
    assert after["RestartCount"] > before["RestartCount"], (before["State"], after["State"])
    assert after["State"]["Pid"] != before["State"]["Pid"], after["State"]
    assert alias in seen, f"{alias} is healthy but the gateway does not route to it: {seen}"


def test_gateway_reloads_under_load_cost_no_request(
    host, manifest, clients, url, basic_auth, report
):
    """Three reloads, run as the role's handler runs them. Each request opens its own connection:
    reused keep-alive connections that the old workers close while idle are a client-side retry
    matter (what curl and browsers do), not a request the gateway lost."""
    gateway = manifest["gateway"]["container"]
    config = inspect(host, gateway)["Config"]
    command = [*(config["Entrypoint"] or []), *config["Cmd"]]
    workers_before = nginx_workers(host, gateway)
    with Load(clients[:2], url, {**basic_auth, "Connection": "close"}, batch=40) as load:
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
    host, manifest, clients, url, basic_auth, report
):
    if not manifest["monitoring"]["enabled"]:
        pytest.skip("monitoring is disabled in this deployment: nothing to stop")
    running = [
        c["Name"].lstrip("/")
        for c in project_containers(host, manifest["project"])
        if c["Config"]["Labels"].get("fortress.component") in MONITORING_COMPONENTS
        and c["State"]["Running"]
    ]
    components = {name.removeprefix(f"{manifest['project']}-") for name in running}
    assert {"prometheus", "nginx-exporter"} <= components, f"monitoring containers: {running}"
    docker(host, "stop", "-t", "5", *running)
    try:
        with Load(clients[:2], url, basic_auth, batch=30) as load:
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
    host, manifest, clients, url, basic_auth, report
):
    v2 = f"{manifest['project']}-api-v2"
    debug_headers = {**basic_auth, "X-Experiment-Group": manifest["gateway"]["experiment_value"]}
    wait_healthy(host, v2)
    docker(host, "stop", "-t", "5", v2)
    try:
        with (
            Load(clients[:1], url, debug_headers, batch=12) as debug,
            Load(clients[1:2], url, basic_auth, batch=30) as default,
        ):
            pass
    finally:
        docker(host, "start", v2)
        wait_healthy(host, v2, timeout=90)
    back = replica_answers_again(clients[0], url, debug_headers, "api-v2")

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
    assert "api-v2" in back, f"api-v2 is healthy again but the gateway does not route to it: {back}"


# --- Rolling update -----------------------------------------------------------------------------


def deployment_vars(manifest) -> dict[str, Any]:
    """The project variables of the deployment under test, as recorded in its manifest."""
    gateway, monitoring = manifest["gateway"], manifest["monitoring"]
    prometheus = urllib.parse.urlsplit(monitoring["prometheus_url"])
    grafana = urllib.parse.urlsplit(monitoring["grafana_url"])
    return {
        "fortress_project": manifest["project"],
        "fortress_data_dir": manifest["data_dir"],
        "fortress_v1_replicas": manifest["v1_replicas"],
        "fortress_api_port": manifest["api_port"],
        "fortress_network_public": manifest["networks"]["public"],
        "fortress_network_backend": manifest["networks"]["backend"],
        "fortress_network_monitoring": manifest["networks"]["monitoring"],
        "fortress_http_port": gateway["http_port"],
        "fortress_https_port": gateway["https_port"],
        "fortress_gateway_bind_address": gateway["bind_address"],
        "fortress_experiment_group": gateway["experiment_value"],
        "fortress_monitoring_enabled": monitoring["enabled"],
        "fortress_monitoring_bind_address": prometheus.hostname,
        "fortress_prometheus_port": prometheus.port,
        "fortress_grafana_port": grafana.port,
    }


def run_playbook(manifest, extra_vars: dict[str, Any], tags: str, timeout: float = 900) -> str:
    """Re-run the plays of `tags` in playbooks/site.yml from this runner against the stack.

    Inventory: FORTRESS_INVENTORY, else Molecule's, else inventory/local; a vaulted inventory needs
    ANSIBLE_VAULT_PASSWORD_FILE. The manifest's project variables go in as extra vars, so the run
    targets exactly the stack under test.
    """
    molecule = os.environ.get("MOLECULE_INVENTORY_FILE")  # its group_vars sit next to it
    inventory = (
        os.environ.get("FORTRESS_INVENTORY")
        or (os.path.dirname(molecule) if molecule else None)
        or str(REPO / "inventory" / "local")
    )
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible.cfg"))
    env.setdefault("ANSIBLE_ROLES_PATH", str(REPO / "roles"))
    env["ANSIBLE_NOCOLOR"] = "1"
    argv = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        *("-i", inventory, str(REPO / "playbooks" / "site.yml")),
        *("-e", json.dumps({**deployment_vars(manifest), **extra_vars}), "--tags", tags),
    ]
    try:
        done = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"playbook still running after {timeout:.0f} s: {exc.stdout!s:.3000}")
    assert done.returncode == 0, f"playbook failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    return done.stdout


class HealthWatch:
    """Polls the api-v1 replicas' health while a rollout runs; remembers the fewest healthy ones."""

    def __init__(self, host, project: str) -> None:
        self.host, self.project = host, project
        self.fewest: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        deadline = time.monotonic() + 900
        while not self._stop.is_set() and time.monotonic() < deadline:
            out = self.host.run(
                "docker ps -a --filter label=fortress.project=%s "
                "--filter label=fortress.component=api-v1 --format '{{.Status}}'",
                self.project,
            ).stdout
            healthy = out.count("(healthy)")
            self.fewest = healthy if self.fewest is None else min(self.fewest, healthy)
            self.samples += 1
            time.sleep(0.5)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def api_containers(host, manifest) -> dict[str, dict[str, Any]]:
    names = [f"api-v1-{i}" for i in range(1, manifest["v1_replicas"] + 1)] + ["api-v2"]
    return {name: inspect(host, f"{manifest['project']}-{name}") for name in names}


def image_labels(host, image: str) -> dict[str, str]:
    return json.loads(docker(host, "image", "inspect", image))[0]["Config"].get("Labels") or {}


def rollout(host, manifest, clients, url, basic_auth, revision: str) -> dict[str, Any]:
    """Run the playbook with a new image revision while default and debug traffic flow."""
    close = {**basic_auth, "Connection": "close"}  # each request its own connection (see reloads)
    debug = {**close, "X-Experiment-Group": manifest["gateway"]["experiment_value"]}
    started = time.monotonic()
    with (
        HealthWatch(host, manifest["project"]) as watch,
        Load(clients[:2], url, close, batch=25, max_batches=300) as default,
        Load(clients[2:], url, debug, batch=25, max_batches=300) as debug_load,
    ):
        # The plays a new API image concerns: credentials (the gateway needs the certificate
        # fingerprint), the API containers, then the gateway (reloaded with the new addresses).
        run_playbook(manifest, {"sentiment_api_image_revision": revision}, "secrets,api,gateway")
    return {
        "seconds": time.monotonic() - started,
        "default": default,
        "debug": debug_load,
        "watch": watch,
    }


@pytest.mark.skipif(
    os.environ.get("FORTRESS_ROLLOUT_TEST") != "1",
    reason="opt-in: two playbook runs under load take minutes; set FORTRESS_ROLLOUT_TEST=1",
)
def test_rolling_update_replaces_replicas_one_at_a_time_without_failed_requests(
    host, manifest, clients, url, basic_auth, report
):
    """A new API image (here: a new revision label) rolls through the replicas one at a time, each
    healthy before the next, under load; then the previous revision rolls back the same way.
    api-v2 is a single container: debug requests get an error while it is replaced (reported)."""
    replicas = manifest["v1_replicas"]
    before = api_containers(host, manifest)
    revision = f"rollout-test-{uuid.uuid4().hex[:8]}"
    forward = rollout(host, manifest, clients, url, basic_auth, revision)
    after = api_containers(host, manifest)

    # Roll back to what ran before (its revision label, if the image had one), also under load.
    labels = image_labels(host, after["api-v2"]["Image"])
    label = next((k for k, v in labels.items() if v == revision), None)
    previous = image_labels(host, before["api-v2"]["Image"]).get(label, "") if label else ""
    back = rollout(host, manifest, clients, url, basic_auth, previous)

    for name, run in (("rolling update", forward), ("rollback", back)):
        debug_statuses = dict(Counter(r["status"] for r in run["debug"].results))
        report(
            f"{name} ({revision if run is forward else repr(previous)}): {run['seconds']:.0f} s; "
            f"default traffic {run['default'].summary()}; fewest healthy api-v1 "
            f"{run['watch'].fewest}/{replicas} ({run['watch'].samples} samples); "
            f"debug traffic statuses {debug_statuses}"
        )
    assert label, f"the new API image carries no label with the revision {revision!r}"
    replaced = [n for n in before if after[n]["Id"] != before[n]["Id"]]
    assert sorted(replaced) == sorted(before), f"not replaced: {set(before) - set(replaced)}"
    assert all(image_labels(host, c["Image"])[label] == revision for c in after.values())
    for name, run in (("rolling update", forward), ("rollback", back)):
        assert run["watch"].fewest == replicas - 1, (
            f"{name}: fewest healthy api-v1 replicas {run['watch'].fewest} "
            f"(one at a time means {replicas - 1})"
        )
        assert_no_failure(run["default"], name)
