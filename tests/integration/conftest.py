"""Integration tests of a deployed stack, shared by Molecule (verify) and `make verify`.

The tests run commands on the target through testinfra's `host` (the Molecule instance, the local
machine or a VM) and read the deployment manifest the playbook writes there (no secrets in it).
Credentials come from FORTRESS_USER / FORTRESS_PASSWORD (local default admin:admin).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

PROBE_SOURCE = (Path(__file__).parent / "probe.py").read_text()


@pytest.fixture(scope="module")
def manifest(host) -> dict[str, Any]:
    path = os.environ.get("FORTRESS_MANIFEST", "/opt/fortress/deployment.json")
    f = host.file(path)
    assert f.exists, f"deployment manifest {path} missing: has the playbook run on this host?"
    return json.loads(f.content_string)


@pytest.fixture(scope="module")
def credentials() -> tuple[str, str]:
    return os.environ.get("FORTRESS_USER", "admin"), os.environ.get("FORTRESS_PASSWORD", "admin")


def docker(host, *args: str) -> str:
    """Run a docker CLI command on the target and return stdout (fails the test on error)."""
    cmd = host.run("docker " + " ".join(["%s"] * len(args)), *args)
    assert cmd.rc == 0, f"docker {' '.join(args)} failed: {cmd.stderr}"
    return cmd.stdout


def inspect(host, name: str) -> dict[str, Any]:
    return json.loads(docker(host, "inspect", name))[0]


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
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        "--network",
        network,
        "--label",
        f"fortress.project={project}",
        "--entrypoint",
        "python3",
        image,
        "-c",
        "import time; time.sleep(900)",
    )
    return name


def _network_client(host, manifest, network: str):
    name = start_client(
        host, manifest["api_image"], manifest["networks"][network], manifest["project"]
    )
    yield Prober(host, name)
    host.run("docker rm -f %s", name)


@pytest.fixture(scope="module")
def backend_client(host, manifest) -> Prober:
    """A client on the backend network (where the gateway meets the APIs)."""
    yield from _network_client(host, manifest, "backend")


@pytest.fixture(scope="module")
def public_client(host, manifest) -> Prober:
    """A client on the public network (where outside clients reach the gateway)."""
    yield from _network_client(host, manifest, "public")


# --- Helpers shared by the fault, bad-input and security tests -----------------------------------


def auth_header(user: str, password: str) -> dict[str, str]:
    """A basic-auth Authorization header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture(scope="module")
def basic_auth(credentials) -> dict[str, str]:
    """The Authorization header of the test user."""
    return auth_header(*credentials)


def wait_healthy(host, name: str, timeout: float = 90) -> dict[str, Any]:
    """Poll a container until its healthcheck says healthy (bounded); return its inspect data."""
    import time

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


def project_containers(host, project: str) -> list[dict[str, Any]]:
    """docker inspect of every container labelled fortress.project=<project> (test clients too)."""
    ids = docker(host, "ps", "-aq", "--filter", f"label=fortress.project={project}").split()
    return json.loads(docker(host, "inspect", *ids)) if ids else []


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
