"""Integration tests of a deployed stack, shared by Molecule (verify) and `make verify`.

The tests run commands on the target through testinfra's `host` (the Molecule instance, the local
machine or a VM) and read the deployment manifest the playbook writes there (no secrets in it).
Credentials come from FORTRESS_USER / FORTRESS_PASSWORD (local default admin:admin).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

PROBE_SOURCE = (Path(__file__).parent / "probe.py").read_text()


@pytest.fixture(scope="session")
def manifest(host) -> dict[str, Any]:
    path = os.environ.get("FORTRESS_MANIFEST", "/opt/fortress/deployment.json")
    f = host.file(path)
    assert f.exists, f"deployment manifest {path} missing: has the playbook run on this host?"
    return json.loads(f.content_string)


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def backend_client(host, manifest) -> Prober:
    """A client on the backend network (where the gateway meets the APIs)."""
    name = start_client(
        host, manifest["api_image"], manifest["networks"]["backend"], manifest["project"]
    )
    yield Prober(host, name)
    host.run("docker rm -f %s", name)
