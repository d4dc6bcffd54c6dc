"""The private stack: playbook runs (results read as data), client containers, teardown."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from . import config
from .proc import docker, log, run

# ansible-playbook prints one JSON document (plays, tasks, per-host stats) instead of its text;
# the project's ansible.cfg enables profile_tasks, which would write into that document.
JSON_CALLBACK_ENV = {
    "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.json",
}
# The json callback's stats keys, named as a PLAY RECAP names them (bench/results.json keeps those).
_RECAP_NAMES = {"failures": "failed"}


def playbook_vars(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Extra variables of a playbook run: the private stack's, its user, and `extra`."""
    users = [{"name": config.USER, "password": config.PASSWORD}]
    return {**config.STACK_VARS, config.USERS_VAR: users, **(extra or {})}


def recap(result: dict[str, Any], host: str = config.INVENTORY_HOST) -> dict[str, int]:
    """A host's counts (ok, changed, failed, ...) from the json callback's document."""
    stats = result.get("stats", {}).get(host, {})
    return {_RECAP_NAMES.get(key, key): int(value) for key, value in sorted(stats.items())}


def failures(result: dict[str, Any]) -> list[str]:
    """`task (host): message` for every failed or unreachable task result of the document."""
    found = []
    for play in result.get("plays", []):
        for task in play.get("tasks", []):
            for host, outcome in task.get("hosts", {}).items():
                if outcome.get("failed") or outcome.get("unreachable"):
                    message = outcome.get("msg") or outcome.get("stderr") or "failed"
                    found.append(f"{task['task']['name']} ({host}): {message}")
    return found


def _parse_result(stdout: str) -> dict[str, Any] | None:
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def playbook(
    name: str,
    extra: dict[str, Any] | None,
    logname: str,
    root: Path = config.ROOT,
    tags: str | None = None,
) -> dict[str, Any]:
    """Run a playbook of the tree at `root` (this one by default) against the local inventory with
    the fbench variables; time and recap."""
    config.LOG_DIR.mkdir(exist_ok=True)
    # Extra variables in a private file: they carry the benchmark user's password.
    extra_file = config.LOG_DIR / "extra-vars.json"
    extra_file.touch(mode=0o600)
    extra_file.write_text(json.dumps(playbook_vars(extra)))
    cmd = [str(config.VENV_BIN / "ansible-playbook"), "-i", config.INVENTORY]
    cmd += [f"playbooks/{name}", "-e", f"@{extra_file}"]
    cmd += ["--tags", tags] if tags else []
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(root / "ansible.cfg"),
        PATH=f"{config.VENV_BIN}:{os.environ['PATH']}",
        **JSON_CALLBACK_ENV,
    )
    result_file = config.LOG_DIR / f"{logname}.json"
    stderr_file = config.LOG_DIR / f"{logname}.log"
    log(f"ansible-playbook {name} ({logname}), results in {result_file.relative_to(config.ROOT)}")
    start = time.monotonic()
    with result_file.open("w") as out, stderr_file.open("w") as err:
        proc = subprocess.run(cmd, cwd=root, env=env, stdout=out, stderr=err, timeout=1800)
    seconds = time.monotonic() - start
    result = _parse_result(result_file.read_text())
    if proc.returncode != 0 or result is None:
        problems = failures(result or {}) or ["(no task result: see the log)"]
        tail = "\n".join(stderr_file.read_text().splitlines()[-20:])
        raise SystemExit(
            f"ansible-playbook {name} failed (rc {proc.returncode}):\n"
            + "\n".join(problems)
            + f"\nstderr ({stderr_file}), last lines:\n{tail}"
        )
    counts = recap(result)
    log(f"  {seconds:.0f} s, {counts}")
    return {"seconds": round(seconds, 1), "recap": counts}


def stack_containers() -> list[str]:
    out = docker("ps", "-a", "--filter", f"label={config.PROJECT_LABEL}", "--format", "{{.Names}}")
    return sorted(n for n in out.splitlines() if n)


def api_v1_containers() -> list[str]:
    return [name for name in stack_containers() if config.is_api_v1(name)]


def candidate_containers() -> list[str]:
    return [name for name in stack_containers() if name == config.API_CANDIDATE]


def client_image() -> str:
    """Build the wrk client image, tagged with a digest of its context (rebuilt when it changes)."""
    context = config.CLIENT_CONTEXT
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    image = f"{config.CLIENT_IMAGE}:{digest.hexdigest()[:12]}"
    if not docker("images", "-q", image):
        log(f"building {image}")
        run(["docker", "build", "-q", "-t", image, str(context)], timeout=900)
    return image


def start_client(name: str, image: str, network: str) -> str:
    """(Re)start a hardened, idle client container on `network`; return its address there."""
    docker("rm", "-f", name, check=False)
    docker(
        "run", "-d", "--name", name, "--network", network,
        "--label", config.PROJECT_LABEL, "--label", "fortress.role=bench-client",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only",
        "--log-driver", "json-file", "--log-opt", "max-size=1m",
        image,
    )  # fmt: skip
    address = f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}'
    ip = docker("inspect", "-f", address, name)
    log(f"client {name} on {network}: {ip}")
    return ip


def start_clients(image: str) -> str:
    """The public and backend clients of a measurement; returns the public one's address."""
    pub_ip = start_client(config.CLIENT_PUBLIC, image, config.NET_PUBLIC)
    start_client(config.CLIENT_BACKEND, image, config.NET_BACKEND)
    return pub_ip


def exempt_from_rate_limit(
    client_ip: str, logname: str, root: Path = config.ROOT
) -> dict[str, Any]:
    """Re-run the playbook with the benchmark client exempt from the gateway's rate limit."""
    exempt = {config.RATE_LIMIT_EXEMPT_VAR: [f"{client_ip}/32"]}
    return playbook("site.yml", exempt, logname, root=root)


def wait_gateway(timeout: float = 60) -> None:
    """Until the gateway answers /healthz to the public client (2xx)."""
    cmd = ["docker", "exec", config.CLIENT_PUBLIC, "wrk", "-t1", "-c1", "-d1s"]
    cmd.append(f"{config.GATEWAY_URL}/healthz")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = run(cmd, check=False, timeout=30)
        if res.returncode == 0 and "Requests/sec" in res.stdout and "Non-2xx" not in res.stdout:
            return
        time.sleep(1)
    raise SystemExit("gateway /healthz did not answer the benchmark client")


def teardown(image: str | None, *, purge: bool) -> None:
    """Remove the clients and the private stack, and the client `image` unless None; with `purge`
    the stack's images, volumes and data too."""
    log("teardown")
    for name in (config.CLIENT_PUBLIC, config.CLIENT_BACKEND):
        docker("rm", "-f", name, check=False)
    try:
        playbook("stop.yml", None, "stop")
    except (SystemExit, subprocess.SubprocessError) as exc:
        log(f"  stop.yml: {exc}")
    if image:
        docker("rmi", image, check=False)
    if not purge:
        return
    for ln in docker("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines():
        if ln.startswith(f"{config.PROJECT}/"):
            docker("rmi", ln, check=False)
    for vol in docker("volume", "ls", "-q").splitlines():
        if vol.startswith(f"{config.PROJECT}_"):
            docker("volume", "rm", vol, check=False)
    shutil.rmtree(config.DATA_DIR, ignore_errors=True)
