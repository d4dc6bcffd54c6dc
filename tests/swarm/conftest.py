"""The swarm rehearsal's checks (Molecule scenario swarm, `make test-swarm`).

testinfra's `host` is the first manager (the verifier runs on fortress_managers), where
`docker node` and `docker service` answer. HTTP goes from the runner to the gateway's HTTPS port,
published by the manager's node container on 127.0.0.1 (FORTRESS_TLS_PORT). The node containers
are the runner's own (Molecule's); node loss stops one of them, by name, and starts it again.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The engine's start on a host without systemd (docker_engine's own script and defaults): what
# the role does when ops run the engine play on a node that came back.
START_DOCKERD = ROOT / "roles" / "docker_engine" / "files" / "start-dockerd.sh"
START_ARGS = [
    *("/var/run/docker.pid", "/var/log/dockerd.log", "/var/run/docker.sock"),
    *("60", "10M", "5"),
]


@pytest.fixture(scope="module")
def manifest(host) -> dict[str, Any]:
    f = host.file("/opt/fortress/deployment.json")
    assert f.exists, "deployment manifest missing on the first manager"
    data = json.loads(f.content_string)
    assert data.get("mode") == "swarm", data.get("mode")
    return data


@pytest.fixture(scope="module")
def ca_file(host, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_text(host.file("/opt/fortress/certs/ca.crt").content_string)
    return str(path)


@pytest.fixture(scope="session")
def auth() -> dict[str, str]:
    user, password = os.environ["FORTRESS_USER"], os.environ["FORTRESS_PASSWORD"]
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Gateway:
    """HTTPS to the gateway on 127.0.0.1 (the manager's published port), kept alive."""

    def __init__(self, ca_file: str, port: int) -> None:
        self.context = ssl.create_default_context(cafile=ca_file)
        self.port = port
        self.conn: http.client.HTTPSConnection | None = None

    def post(self, headers: dict[str, str], body: bytes, timeout: float = 10) -> dict[str, Any]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    "localhost", self.port, context=self.context, timeout=timeout
                )
            try:
                self.conn.request("POST", "/predict", body=body, headers=headers)
                r = self.conn.getresponse()
                return {
                    "status": r.status,
                    "headers": {k.lower(): v for k, v in r.getheaders()},
                    "body": r.read().decode(),
                }
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                # A keep-alive connection the gateway closed in between: once more on a new one.
                if attempt == 2 or not isinstance(exc, http.client.RemoteDisconnected):
                    return {"status": 0, "headers": {}, "body": repr(exc)}
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@pytest.fixture
def gateway(ca_file):
    g = Gateway(ca_file, int(os.environ.get("FORTRESS_TLS_PORT", "28444")))
    yield g
    g.close()


def predict(gateway: Gateway, auth: dict[str, str], headers: dict[str, str] | None = None):
    body = json.dumps({"sentence": "the crew was friendly and the flight on time"}).encode()
    return gateway.post({"Content-Type": "application/json", **auth, **(headers or {})}, body)


def rate_per_second(manifest) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)r/([sm])", manifest["gateway"]["rate_limit"])
    assert m, manifest["gateway"]["rate_limit"]
    return float(m[1]) / (1 if m[2] == "s" else 60)


def nodes(host) -> list[dict[str, str]]:
    """The swarm's nodes as the first manager lists them."""
    out = host.check_output(
        "docker node ls --format '{{.Hostname}} {{.Status}} {{.Availability}} {{.ManagerStatus}}'"
    )
    rows = [[*line.split(), ""] for line in out.splitlines()]
    return [
        {"name": r[0], "status": r[1], "availability": r[2], "manager": r[3]} for r in rows if r
    ]


def tasks(host, service: str) -> list[tuple[str, str]]:
    """(node, current state) of a service's tasks that should run."""
    out = host.check_output(
        "docker service ps --filter desired-state=running "
        "--format '{{.Node}} {{.CurrentState}}' %s",
        service,
    )
    return [tuple(line.split(" ", 1)) for line in out.splitlines() if line.strip()]


def running_nodes(host, service: str) -> list[str]:
    return [node for node, state in tasks(host, service) if state.startswith("Running")]


def wait_until(check, timeout: float, step: float = 2.0):
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(step)


def prometheus(host, path: str) -> Any:
    """GET Prometheus' HTTP API on the monitoring node (the first manager, `host`), on its loopback
    port there: the API's `data`."""
    script = (
        "import sys, urllib.request; "
        "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    )
    out = host.check_output("python3 -c %s %s", script, f"http://127.0.0.1:9090{path}")
    body = json.loads(out)
    assert body["status"] == "success", body
    return body["data"]


def scrape_targets(host, job: str) -> list[dict[str, Any]]:
    """Prometheus' active targets of a job: their labels, health and last error."""
    return [
        {**t["labels"], "health": t["health"], "error": t["lastError"]}
        for t in prometheus(host, "/api/v1/targets?state=active")["activeTargets"]
        if t["labels"].get("job") == job
    ]


def targets_up(host, job: str, count: int) -> list[dict[str, Any]] | None:
    """The job's targets once there are `count` and every one is up (else None)."""
    found = scrape_targets(host, job)
    return found if len(found) == count and all(t["health"] == "up" for t in found) else None


def api_replicas(manifest) -> set[str]:
    """Every API task's replica id (api-<variant>-<slot>), from the manifest's services."""
    return {
        f"api-{s['variant']}-{slot}"
        for s in manifest["swarm"]["services"]
        for slot in range(1, s["replicas"] + 1)
    }


def runner_docker(*args: str) -> str:
    """The runner's own engine (where Molecule made the node containers)."""
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


_REPORT: list[str] = []


@pytest.fixture(scope="session")
def report():
    return _REPORT.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _REPORT:
        terminalreporter.section("fortress swarm figures")
        for line in _REPORT:
            terminalreporter.write_line(line)
