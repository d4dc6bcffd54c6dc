"""Container hardening, asserted once for every container of the stack (every container labelled
fortress.project=<project> except the throwaway test clients): what Docker was asked for (inspect)
and what the running process really has (/proc/1/status, a write to /, the cgroup limit inside).

One test per property, each over every container, so a failure names the property and lists the
containers that lack it with what was seen.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import docker, instances, stack_containers

# Capabilities a container may add back after dropping ALL (none needs one today).
ALLOWED_CAP_ADD: frozenset[str] = frozenset()
Container = dict[str, Any]


def _user(c: Container) -> str | None:
    user = c["Config"]["User"]
    return f"configured user {user!r} is root" if user.split(":")[0] in ("", "0", "root") else None


def _logs(c: Container) -> str | None:
    log = c["HostConfig"]["LogConfig"]
    rotated = log["Config"].get("max-size") and log["Config"].get("max-file")
    return None if log["Type"] == "json-file" and rotated else f"logs not rotated json-file: {log}"


def _healthcheck(c: Container) -> str | None:
    test = (c["Config"].get("Healthcheck") or {}).get("Test") or []
    return None if test and test[0] != "NONE" else f"no healthcheck: {test}"


def _namespaces(c: Container) -> str | None:
    hc = c["HostConfig"]
    shared = hc["Privileged"] or hc["PidMode"] == "host" or hc["NetworkMode"] == "host"
    return "privileged, or host PID/network namespace" if shared else None


# What Docker was asked for: property -> (container -> problem or None).
CONFIGURED: dict[str, Callable[[Container], str | None]] = {
    "non_root_user": _user,
    "read_only_root_fs": lambda c: (
        None if c["HostConfig"]["ReadonlyRootfs"] else "root filesystem writable"
    ),
    "cap_drop_all": lambda c: (
        None
        if "ALL" in [cap.upper() for cap in c["HostConfig"]["CapDrop"] or []]
        else f"CapDrop {c['HostConfig']['CapDrop']} does not drop ALL"
    ),
    "no_added_capabilities": lambda c: (
        None
        if not set(c["HostConfig"]["CapAdd"] or []) - ALLOWED_CAP_ADD
        else f"capabilities added: {sorted(c['HostConfig']['CapAdd'])}"
    ),
    "no_new_privileges": lambda c: (
        None
        if any(o.startswith("no-new-privileges") for o in c["HostConfig"]["SecurityOpt"] or [])
        else f"no no-new-privileges in {c['HostConfig']['SecurityOpt']}"
    ),
    "memory_limit": lambda c: None if c["HostConfig"]["Memory"] else "no memory limit",
    "no_swap_beyond_memory": lambda c: (
        None
        if c["HostConfig"]["MemorySwap"] == c["HostConfig"]["Memory"]
        else f"MemorySwap {c['HostConfig']['MemorySwap']} != Memory {c['HostConfig']['Memory']}"
    ),
    "cpu_limit": lambda c: None if c["HostConfig"]["NanoCpus"] else "no CPU limit",
    "pids_limit": lambda c: (
        None if (c["HostConfig"]["PidsLimit"] or 0) > 0 else "no limit on processes"
    ),
    "restart_unless_stopped": lambda c: (
        None
        if c["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        else f"restart policy {c['HostConfig']['RestartPolicy']}"
    ),
    "rotated_json_file_logs": _logs,
    "healthcheck_defined": _healthcheck,
    "component_label": lambda c: (
        None if (c["Config"]["Labels"] or {}).get("fortress.component") else "no fortress.component"
    ),
    "no_host_namespaces": _namespaces,
    "no_docker_socket": lambda c: (
        "docker socket mounted"
        if any("docker.sock" in m.get("Source", "") for m in c["Mounts"])
        else None
    ),
}


def _process_uid(c: Container, seen: dict[str, Any]) -> str | None:
    uids = seen["status"]["Uid"]  # real, effective, saved, filesystem uid
    return f"process 1 runs with uid {uids}" if "0" in uids.split() else None


def _process_caps(c: Container, seen: dict[str, Any]) -> str | None:
    status, added = seen["status"], set(c["HostConfig"]["CapAdd"] or [])
    if int(status["CapEff"], 16) or (not added and int(status["CapBnd"], 16)):
        return f"process 1 capabilities: CapEff {status['CapEff']} CapBnd {status['CapBnd']}"
    return None


def _write_refused(c: Container, seen: dict[str, Any]) -> str | None:
    rc, stderr = seen["write"]
    if rc == 0 or "Read-only file system" not in stderr:
        return f"writing to / did not fail as read-only: rc={rc} {stderr.strip()}"
    return None


def _memory_inside(c: Container, seen: dict[str, Any]) -> str | None:
    limit, configured = seen["memory"], c["HostConfig"]["Memory"]
    return None if limit == configured else f"cgroup limit inside {limit}, configured {configured}"


def _tmp_noexec(c: Container, seen: dict[str, Any]) -> str | None:
    options = seen["mounts"].get("/tmp")
    if options is None:
        return "no /tmp mount (expected a tmpfs)"
    missing = {"noexec", "nosuid", "nodev"} - set(options.split(","))
    return f"/tmp mounted without {sorted(missing)}: {options}" if missing else None


# What the running process really has: property -> (container, seen inside -> problem or None).
RUNNING: dict[str, Callable[[Container, dict[str, Any]], str | None]] = {
    "process_not_root": _process_uid,
    "process_without_capabilities": _process_caps,
    "process_no_new_privs": lambda c, seen: (
        None
        if seen["status"].get("NoNewPrivs", "0").strip() == "1"
        else "process 1 may gain privileges (NoNewPrivs 0)"
    ),
    "root_fs_refuses_writes": _write_refused,
    "memory_limit_enforced_inside": _memory_inside,
    "tmp_noexec_nosuid_nodev": _tmp_noexec,
}


def name_of(c: Container) -> str:
    return c["Name"].lstrip("/")


def seen_inside(host, name: str) -> dict[str, Any]:
    out = docker(host, "exec", name, "cat", "/proc/1/status")
    status = dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
    write = host.run("docker exec %s touch /.fortress-readonly-probe", name)
    memory = None
    for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
        cmd = host.run("docker exec %s cat %s", name, path)
        if cmd.rc == 0 and cmd.stdout.strip().isdigit():
            memory = int(cmd.stdout.strip())
            break
    # mount point -> options, from the container's own mount table
    mounts = {
        fields[1]: fields[3]
        for fields in (
            line.split() for line in docker(host, "exec", name, "cat", "/proc/mounts").splitlines()
        )
        if len(fields) >= 4
    }
    return {"status": status, "write": (write.rc, write.stderr), "memory": memory, "mounts": mounts}


@pytest.fixture(scope="module")
def stack(host, manifest) -> list[Container]:
    return stack_containers(host, manifest, running_only=False)


@pytest.fixture(scope="module")
def inside(host, stack) -> dict[str, dict[str, Any]]:
    """What each running container's process 1 has, read once for every runtime property."""
    return {name_of(c): seen_inside(host, name_of(c)) for c in stack if c["State"]["Running"]}


def test_the_hardening_checks_cover_every_stack_container(manifest, stack, report):
    found = {name_of(c): c for c in stack}
    wanted = {i["container"] for i in instances(manifest)} | {manifest["gateway"]["container"]}
    components = {(c["Config"]["Labels"] or {}).get("fortress.component") for c in stack}
    if manifest["monitoring"]["enabled"]:
        assert {"prometheus", "nginx-exporter"} <= components, f"components: {components}"
    assert wanted <= set(found), f"missing containers: {sorted(wanted - set(found))}"
    stopped = {n: c["State"]["Status"] for n, c in found.items() if not c["State"]["Running"]}
    assert not stopped, (
        f"stack containers not running (their processes cannot be checked): {stopped}"
    )
    report(
        "hardened containers: "
        + ", ".join(
            f"{n} (user {c['Config']['User']}, {c['HostConfig']['Memory'] // 2**20} MiB, "
            f"added caps {c['HostConfig']['CapAdd'] or []})"
            for n, c in sorted(found.items())
        )
    )


@pytest.mark.parametrize("prop", [*CONFIGURED, *RUNNING])
def test_every_stack_container_is_hardened(stack, inside, prop):
    problems = {}
    for c in stack:
        if prop in CONFIGURED:
            problem = CONFIGURED[prop](c)
        elif name_of(c) in inside:
            problem = RUNNING[prop](c, inside[name_of(c)])
        else:
            continue  # not running: reported by the coverage test above
        if problem:
            problems[name_of(c)] = problem
    assert stack, "no container of the stack found"
    assert not problems, f"{prop}: " + json.dumps(problems, indent=1)
