"""Rolling update of the API image under load: playbooks/site.yml re-run from the test runner with a
new image revision, then rolled back, while default and debug traffic flow (traffic.py).

Opt-in (two playbook runs take minutes): on in the Molecule scenarios, FORTRESS_ROLLOUT_TEST=1
elsewhere. What the playbook did is read as data from the ansible.posix.json stdout callback.
"""

from __future__ import annotations

import json
import os
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
from conftest import docker, inspect, instances, request_interval
from traffic import Load, assert_no_failure

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.environ.get("FORTRESS_ROLLOUT_TEST") != "1",
    reason="opt-in: two playbook runs under load take minutes; set FORTRESS_ROLLOUT_TEST=1",
)


def deployment_vars(manifest) -> dict[str, Any]:
    """The project variables of the deployment under test, as recorded in its manifest."""
    gateway, monitoring = manifest["gateway"], manifest["monitoring"]
    prometheus = urllib.parse.urlsplit(monitoring["prometheus_url"])
    grafana = urllib.parse.urlsplit(monitoring["grafana_url"])
    return {
        "fortress_project": manifest["project"],
        "fortress_data_dir": manifest["data_dir"],
        "fortress_v1_replicas": manifest["v1_replicas"],
        "fortress_v2_enabled": manifest["v2_enabled"],
        "fortress_api_port": manifest["api_port"],
        "fortress_network_public": manifest["networks"]["public"],
        "fortress_network_backend": manifest["networks"]["backend"],
        "fortress_network_monitoring": manifest["networks"]["monitoring"],
        "fortress_http_port": gateway["http_port"],
        "fortress_https_port": gateway["https_port"],
        "fortress_gateway_bind_address": gateway["bind_address"],
        "fortress_gateway_uid": gateway["uid"],
        "fortress_experiment_group": gateway["experiment_value"],
        "fortress_monitoring_enabled": monitoring["enabled"],
        "fortress_monitoring_bind_address": prometheus.hostname,
        "fortress_prometheus_port": prometheus.port,
        "fortress_grafana_port": grafana.port,
    }


def failed_tasks(result: dict[str, Any]) -> list[str]:
    """'host: task: message' for every failed or unreachable task result of a json-callback run."""
    found = []
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            for name, outcome in task.get("hosts", {}).items():
                if outcome.get("failed") or outcome.get("unreachable"):
                    found.append(f"{name}: {task['task']['name']}: {outcome.get('msg', '')!s:.500}")
    return found


def run_playbook(
    manifest, extra_vars: dict[str, Any], tags: str, timeout: float = 900
) -> dict[str, dict[str, int]]:
    """Re-run the plays of `tags` in playbooks/site.yml from this runner against the stack and
    return the per-host stats of the ansible.posix.json callback (ok, changed, failures, ...).

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
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.posix.json"  # no profile_tasks lines in the JSON
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
        pytest.fail(f"playbook still running after {timeout:.0f} s: {exc.stderr!s:.3000}")
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"playbook (rc {done.returncode}) printed no JSON result:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    stats = result.get("stats", {})
    broken = {h: s for h, s in stats.items() if s.get("failures") or s.get("unreachable")}
    assert done.returncode == 0 and stats and not broken, (
        f"playbook failed (rc {done.returncode}), stats {stats}:\n"
        + "\n".join(failed_tasks(result))
        + f"\n{done.stderr[-2000:]}"
    )
    return stats


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
    return {i["name"]: inspect(host, i["container"]) for i in instances(manifest)}


def image_labels(host, image: str) -> dict[str, str]:
    return json.loads(docker(host, "image", "inspect", image))[0]["Config"].get("Labels") or {}


def rollout(host, manifest, clients, url, basic_auth, revision: str) -> dict[str, Any]:
    """Run the playbook with a new image revision while default and debug traffic flow."""
    close = {**basic_auth, "Connection": "close"}  # each request its own connection (see reloads)
    debug = {**close, "X-Experiment-Group": manifest["gateway"]["experiment_value"]}
    interval = request_interval(manifest)
    started = time.monotonic()
    with (
        HealthWatch(host, manifest["project"]) as watch,
        Load(clients[:2], url, close, batch=25, interval=interval, max_batches=300) as default,
        Load(clients[2:], url, debug, batch=25, interval=interval, max_batches=300) as debug_load,
    ):
        # The plays a new API image concerns: credentials (the gateway needs the certificate
        # fingerprint), the API containers, then the gateway (reloaded with the new addresses).
        stats = run_playbook(
            manifest, {"sentiment_api_image_revision": revision}, "secrets,api,gateway"
        )
    return {
        "seconds": time.monotonic() - started,
        "default": default,
        "debug": debug_load,
        "watch": watch,
        "changed": sum(s.get("changed", 0) for s in stats.values()),
    }


def test_rolling_update_replaces_replicas_one_at_a_time_without_failed_requests(
    host, manifest, load_clients, gateway_inside, basic_auth, report
):
    """A new API image (here: a new revision label) rolls through the replicas one at a time, each
    healthy before the next, under load; then the previous revision rolls back the same way.
    api-v2 is a single container: debug requests get an error while it is replaced (reported)."""
    replicas = len(instances(manifest, "v1"))
    url = f"{gateway_inside}/predict"
    before = api_containers(host, manifest)
    revision = f"rollout-test-{uuid.uuid4().hex[:8]}"
    forward = rollout(host, manifest, load_clients, url, basic_auth, revision)
    after = api_containers(host, manifest)

    # Roll back to what ran before (its revision label, if the image had one), also under load.
    some = next(iter(after))
    labels = image_labels(host, after[some]["Image"])
    label = next((k for k, v in labels.items() if v == revision), None)
    previous = image_labels(host, before[some]["Image"]).get(label, "") if label else ""
    back = rollout(host, manifest, load_clients, url, basic_auth, previous)

    for name, run in (("rolling update", forward), ("rollback", back)):
        debug_statuses = dict(Counter(r["status"] for r in run["debug"].results))
        report(
            f"{name} ({revision if run is forward else repr(previous)}): {run['seconds']:.0f} s, "
            f"{run['changed']} changed tasks; default traffic {run['default'].summary()}; "
            f"fewest healthy api-v1 {run['watch'].fewest}/{replicas} "
            f"({run['watch'].samples} samples); debug traffic statuses {debug_statuses}"
        )
    assert label, f"the new API image carries no label with the revision {revision!r}"
    replaced = [n for n in before if after[n]["Id"] != before[n]["Id"]]
    assert sorted(replaced) == sorted(before), f"not replaced: {set(before) - set(replaced)}"
    assert all(image_labels(host, c["Image"])[label] == revision for c in after.values())
    for name, run in (("rolling update", forward), ("rollback", back)):
        assert run["changed"] > 0, f"{name}: the playbook changed nothing"
        assert run["watch"].fewest == replicas - 1, (
            f"{name}: fewest healthy api-v1 replicas {run['watch'].fewest} "
            f"(one at a time means {replicas - 1})"
        )
        assert_no_failure(run["default"], name)
