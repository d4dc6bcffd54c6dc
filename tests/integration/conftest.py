"""Integration tests of a deployed stack, shared by Molecule (verify) and `make verify`.

The tests run commands on the target through testinfra's `host` (the Molecule instance, the local
machine or a VM) and read the deployment manifest the playbook writes there (no secrets in it).
Everything the tests know about the stack's layout (API instances, container names, aliases, the
gateway's uid and rate limit) comes from that manifest, through the helpers below.
Credentials come from FORTRESS_USER / FORTRESS_PASSWORD (local default admin:admin).
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

PROBE_SOURCE = (Path(__file__).parent / "probe.py").read_text()
# Keys the tests rely on beyond the original manifest (written by playbooks/site.yml).
MANIFEST_KEYS = {"api_instances", "v2_enabled", "gateway", "monitoring"}
GATEWAY_KEYS = {"container", "alias", "uid", "status_url", "rate_limit", "rate_limit_burst"}
# Throwaway client containers carry the project label too (so cleanup finds them) and this one.
TEST_CLIENT_LABEL = "fortress.test-client"


@pytest.fixture(scope="module")
def manifest(host) -> dict[str, Any]:
    path = os.environ.get("FORTRESS_MANIFEST", "/opt/fortress/deployment.json")
    f = host.file(path)
    assert f.exists, f"deployment manifest {path} missing: has the playbook run on this host?"
    data = json.loads(f.content_string)
    missing = sorted(MANIFEST_KEYS - set(data)) + sorted(
        f"gateway.{k}" for k in GATEWAY_KEYS - set(data.get("gateway", {}))
    )
    assert not missing, f"{path} lacks {missing}: written by an older playbook? Re-run it."
    return data


@pytest.fixture(scope="module")
def credentials() -> tuple[str, str]:
    return os.environ.get("FORTRESS_USER", "admin"), os.environ.get("FORTRESS_PASSWORD", "admin")


# --- The stack layout, as the manifest records it -------------------------------------------------


def instances(manifest, variant: str | None = None) -> list[dict[str, Any]]:
    """The API instances (name = network alias and X-Replica, variant, container, model)."""
    return [i for i in manifest["api_instances"] if variant is None or i["variant"] == variant]


def v1_names(manifest) -> list[str]:
    return [i["name"] for i in instances(manifest, "v1")]


def v2_instance(manifest) -> dict[str, Any]:
    """The api-v2 instance; skips the calling test when the deployment runs without v2."""
    if not manifest["v2_enabled"]:
        pytest.skip("v2 is disabled in this deployment (fortress_v2_enabled: false)")
    found = instances(manifest, "v2")
    assert len(found) == 1, f"v2 enabled but api_instances has {len(found)} v2 entries: {found}"
    return found[0]


@pytest.fixture(scope="module")
def api_v2(manifest) -> dict[str, Any]:
    """The api-v2 instance (the test is skipped when v2 is disabled)."""
    return v2_instance(manifest)


def variants(manifest) -> list[str]:
    return sorted({i["variant"] for i in instances(manifest)})


def api_url(manifest, name: str, path: str = "/predict") -> str:
    """URL of one API instance on the backend network."""
    return f"http://{name}:{manifest['api_port']}{path}"


@pytest.fixture(scope="module")
def gateway_inside(manifest) -> str:
    """Base URL of the gateway's HTTPS listener from a client container on the public network."""
    gw = manifest["gateway"]
    return f"https://{gw['alias']}:{gw['internal_https_port']}"


# --- The gateway's per-client rate limit ----------------------------------------------------------


def rate_per_second(manifest) -> float:
    """The gateway's rate limit ("10r/s", "600r/m") in requests per second."""
    rate = manifest["gateway"]["rate_limit"]
    m = re.fullmatch(r"(\d+(?:\.\d+)?)r/([sm])", rate)
    assert m, f"unexpected rate limit {rate!r} in the manifest"
    return float(m[1]) / (1 if m[2] == "s" else 60)


def request_interval(manifest, margin: float = 1.2) -> float:
    """Seconds between two requests of one client that keep it `margin` times under its limit
    (0.12 s at 10 r/s)."""
    return margin / rate_per_second(manifest)


def burst_over_the_limit(manifest, floor: int = 40) -> int:
    """Back-to-back requests that must meet a 429: at least twice what the bucket lets through in
    its first second (burst + rate), and never fewer than `floor`."""
    burst = int(manifest["gateway"]["rate_limit_burst"])
    return max(floor, 2 * (burst + math.ceil(rate_per_second(manifest))))


# --- Docker on the target -------------------------------------------------------------------------


def docker(host, *args: str) -> str:
    """Run a docker CLI command on the target and return stdout (fails the test on error)."""
    cmd = host.run("docker " + " ".join(["%s"] * len(args)), *args)
    assert cmd.rc == 0, f"docker {' '.join(args)} failed: {cmd.stderr}"
    return cmd.stdout


def inspect(host, name: str) -> dict[str, Any]:
    return json.loads(docker(host, "inspect", name))[0]


def project_containers(host, project: str) -> list[dict[str, Any]]:
    """docker inspect of every container labelled fortress.project=<project> (test clients too)."""
    ids = docker(host, "ps", "-aq", "--filter", f"label=fortress.project={project}").split()
    return json.loads(docker(host, "inspect", *ids)) if ids else []


def is_test_client(container: dict[str, Any]) -> bool:
    labels = container["Config"]["Labels"] or {}
    return TEST_CLIENT_LABEL in labels or "-testclient-" in container["Name"]


def stack_containers(host, manifest, running_only: bool = True) -> list[dict[str, Any]]:
    """The stack's own containers: the project's, without the throwaway test clients."""
    return [
        c
        for c in project_containers(host, manifest["project"])
        if not is_test_client(c) and (c["State"]["Running"] or not running_only)
    ]


def component_containers(host, manifest, component: str) -> list[dict[str, Any]]:
    """The stack's running containers labelled fortress.component=<component>."""
    return [
        c
        for c in stack_containers(host, manifest)
        if (c["Config"]["Labels"] or {}).get("fortress.component") == component
    ]


def gateway_mounts(host, manifest) -> dict[str, dict[str, Any]]:
    """The gateway container's mounts by destination (roles/nginx_gateway/vars/main.yml: the
    configuration at /etc/nginx/fortress, certificates at /etc/nginx/certs, credentials at
    /etc/nginx/auth)."""
    return {m["Destination"]: m for m in inspect(host, manifest["gateway"]["container"])["Mounts"]}


def gateway_secret_dirs(host, manifest) -> tuple[str, str]:
    """Host directories of the gateway's certificates and credential files."""
    mounts = gateway_mounts(host, manifest)
    found = {
        kind: [m["Source"] for dst, m in mounts.items() if dst.endswith(f"/{kind}")]
        for kind in ("certs", "auth")
    }
    assert all(len(v) == 1 for v in found.values()), f"gateway mounts: {sorted(mounts)}"
    return found["certs"][0], found["auth"][0]


def wait_healthy(host, name: str, timeout: float = 90) -> dict[str, Any]:
    """Poll a container until its healthcheck says healthy (bounded); return its inspect data."""
    deadline = time.monotonic() + timeout
    while True:
        info = inspect(host, name)
        if info["State"].get("Health", {}).get("Status") == "healthy":
            return info
        if time.monotonic() > deadline:
            state = {k: info["State"].get(k) for k in ("Status", "Restarting", "ExitCode")}
            log = (info["State"].get("Health", {}).get("Log") or [{}])[-1].get("Output", "")
            pytest.fail(f"{name} not healthy after {timeout:.0f} s: {state}; last check: {log!r}")
        time.sleep(1)


# --- HTTP probes ----------------------------------------------------------------------------------


class Prober:
    """Send HTTP requests from a place on the target: the host itself or a client container."""

    def __init__(self, host, container: str | None = None) -> None:
        self.host = host
        self.container = container

    def __call__(self, url: str, **spec: Any) -> list[dict[str, Any]]:
        spec["url"] = url
        args = ["python3", "-c", PROBE_SOURCE, json.dumps(spec)]
        if self.container:
            args = ["docker", "exec", self.container, *args]
        cmd = self.host.run(" ".join(["%s"] * len(args)), *args)
        assert cmd.rc == 0, f"probe failed on {self.container or 'host'}: {cmd.stderr}"
        return json.loads(cmd.stdout)

    def one(self, url: str, **spec: Any) -> dict[str, Any]:
        return self(url, **spec)[0]


@pytest.fixture(scope="module")
def on_host(host) -> Prober:
    return Prober(host)


def start_client(host, image: str, network: str, project: str) -> str:
    """A throwaway client container on one of the project's networks (removed at teardown)."""
    name = f"{project}-testclient-{uuid.uuid4().hex[:8]}"
    docker(
        host,
        *("run", "-d", "--rm", "--name", name, "--network", network),
        *("--label", f"fortress.project={project}", "--label", f"{TEST_CLIENT_LABEL}=true"),
        *("--entrypoint", "python3", image, "-c", "import time; time.sleep(900)"),
    )
    return name


def _network_clients(host, manifest, network: str, count: int = 1):
    names = [
        start_client(
            host, manifest["api_image"], manifest["networks"][network], manifest["project"]
        )
        for _ in range(count)
    ]
    yield [Prober(host, name) for name in names]
    host.run("docker rm -f " + " ".join(["%s"] * len(names)), *names)


@pytest.fixture(scope="module")
def backend_client(host, manifest) -> Prober:
    """A client on the backend network (where the gateway meets the APIs)."""
    for clients in _network_clients(host, manifest, "backend"):
        yield clients[0]


@pytest.fixture(scope="module")
def public_client(host, manifest) -> Prober:
    """A client on the public network (where outside clients reach the gateway)."""
    for clients in _network_clients(host, manifest, "public"):
        yield clients[0]


@pytest.fixture(scope="module")
def load_clients(host, manifest) -> list[Prober]:
    """Three clients on the public network: each has its own address, hence its own rate bucket."""
    yield from _network_clients(host, manifest, "public", count=3)


# --- Credentials and the run summary --------------------------------------------------------------


def auth_header(user: str, password: str) -> dict[str, str]:
    """A basic-auth Authorization header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def basic_auth(credentials) -> dict[str, str]:
    """The Authorization header of the test user."""
    return auth_header(*credentials)


_REPORT: list[str] = []


@pytest.fixture(scope="module")
def report():
    """Append a line to the summary printed at the end of the run (counts, timings)."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter) -> None:
    if _REPORT:
        terminalreporter.section("fortress integration figures")
        for line in _REPORT:
            terminalreporter.write_line(line)
