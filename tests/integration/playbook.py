"""Re-running playbooks/site.yml from the test runner against the stack under test (rolling update,
switching the debug variant off and on). What the playbook did is read as data from the
ansible.posix.json stdout callback, not from the text of a recap.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

# Opt-in (each playbook run takes a minute or more): on in the Molecule scenarios.
opt_in = pytest.mark.skipif(
    os.environ.get("FORTRESS_ROLLOUT_TEST") != "1",
    reason="opt-in: playbook runs under load take minutes; set FORTRESS_ROLLOUT_TEST=1",
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
        "fortress_candidate_enabled": manifest.get("candidate_enabled", False),
        "fortress_api_port": manifest["api_port"],
        "fortress_network_public": manifest["networks"]["public"],
        "fortress_network_backend": manifest["networks"]["backend"],
        "fortress_network_monitoring": manifest["networks"]["monitoring"],
        "fortress_network_monitoring_ui": manifest["networks"]["monitoring_ui"],
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
    manifest,
    extra_vars: dict[str, Any],
    tags: str,
    timeout: float = 900,
    playbook: str = "site.yml",
) -> dict[str, dict[str, int]]:
    """Re-run the plays of `tags` in playbooks/site.yml from this runner against the stack and
    return the per-host stats of the ansible.posix.json callback (ok, changed, failures, ...)."""
    return run_playbook_result(manifest, extra_vars, tags, timeout, playbook)["stats"]


def run_playbook_result(
    manifest,
    extra_vars: dict[str, Any],
    tags: str,
    timeout: float = 900,
    playbook: str = "site.yml",
) -> dict[str, Any]:
    """run_playbook's run, the whole ansible.posix.json document (see task_messages)."""
    done, result = _run_playbook(manifest, extra_vars, tags, timeout, playbook)
    stats = result.get("stats", {})
    broken = {h: s for h, s in stats.items() if s.get("failures") or s.get("unreachable")}
    assert done.returncode == 0 and stats and not broken, (
        f"playbook failed (rc {done.returncode}), stats {stats}:\n"
        + "\n".join(failed_tasks(result))
        + f"\n{done.stderr[-2000:]}"
    )
    return result


def task_messages(result: dict[str, Any], task: str) -> list[str]:
    """The `msg` of every host's result of the tasks named `task` (a role's task: "role : task")
    in a json-callback document."""
    return [
        str(outcome.get("msg", ""))
        for play in result.get("plays", [])
        for found in play.get("tasks", [])
        if found["task"]["name"] == task or found["task"]["name"].endswith(f" : {task}")
        for outcome in found.get("hosts", {}).values()
    ]


def run_playbook_refused(
    manifest,
    extra_vars: dict[str, Any],
    tags: str,
    timeout: float = 900,
    playbook: str = "site.yml",
) -> list[str]:
    """Like run_playbook for a run that must fail: its failed tasks ('host: task: message')."""
    done, result = _run_playbook(manifest, extra_vars, tags, timeout, playbook)
    failed = failed_tasks(result)
    assert done.returncode != 0 and failed, f"the playbook did not fail: {result.get('stats')}"
    return failed


def _run_playbook(
    manifest, extra_vars: dict[str, Any], tags: str, timeout: float, playbook: str
) -> tuple[subprocess.CompletedProcess, dict[str, Any]]:
    """playbooks/site.yml's plays of `tags`: the process and its ansible.posix.json result.

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
        *("-i", inventory, str(REPO / "playbooks" / playbook)),
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
    return done, result
