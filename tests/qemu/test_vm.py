"""The VM handoff on a real VM (issue 12): systemd, SSH with host key checking, sudo, the engine
installed and started through systemd, a second run that changes nothing, dockerd killed and
restarted by systemd, a reboot that brings the engine back without Ansible.

Run: `make test-qemu` (root; installs QEMU and debootstrap when missing)."""

from __future__ import annotations

import subprocess
import time

import pytest
from conftest import playbook

# The engine part of the deployment (tag engine): the base image from the control node's engine
# (nothing is built or pulled in the VM), host key checking on (ansible.cfg).
ENGINE_VARS = {"docker_engine_base_image_source": "archive"}


@pytest.fixture(scope="module")
def base_archive(vm):
    """The control node's base image as `docker save` (what the VM loads instead of building)."""
    path = vm.dir / "base-image.tar"
    cmd = ["docker", "save", "-o", str(path), "debian:bookworm-slim"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return path


def test_the_vm_looks_like_a_cloud_vm(vm):
    """systemd as PID 1, `ops` with key-only login (no password) and passwordless sudo, host keys
    of its own (the ones its console printed, which known_hosts holds)."""
    assert vm.ssh("ps -p 1 -o comm=").stdout.strip() == "systemd"
    assert vm.ssh("sudo -n id -u").stdout.strip() == "0"
    assert vm.ssh("sudo -n passwd --status ops").stdout.split()[1] == "L"
    state = vm.ssh("systemctl is-system-running --wait", check=False, timeout=300).stdout.strip()
    assert state in ("running", "degraded"), state
    keys = vm.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
    assert " ".join(keys) in vm.known_hosts.read_text()


def deploy_engine(vm, base_archive, figure, label: str) -> dict:
    """The engine part of site.yml over SSH; its time and changed count go to the figures."""
    group_vars = {**ENGINE_VARS, "docker_engine_base_image_archive": str(base_archive)}
    result = playbook(vm, "--tags", "engine", group_vars=group_vars, log=f"engine-{label}")
    changed = result["recap"]["changed"]
    figure(f"engine over SSH ({label}): {result['seconds']:.0f} s, changed={changed}")
    return result


@pytest.fixture(scope="module")
def engine(vm, base_archive, figure):
    return deploy_engine(vm, base_archive, figure, "cold")


def test_the_engine_runs_under_systemd_and_starts_at_boot(vm, engine):
    assert vm.ssh("systemctl is-active docker").stdout.strip() == "active"
    assert vm.ssh("systemctl is-enabled docker").stdout.strip() == "enabled"
    # dockerd refuses containers without apparmor_parser on an AppArmor kernel: the role adds it.
    assert vm.ssh("dpkg-query -W -f '${db:Status-Status}' apparmor").stdout == "installed"
    info = vm.ssh("sudo docker info --format '{{.LiveRestoreEnabled}} {{.LoggingDriver}}'").stdout
    assert info.split() == ["true", "json-file"], info
    run = vm.ssh("sudo docker run --rm --network none debian:bookworm-slim true", check=False)
    assert run.returncode == 0, run.stderr


def test_a_second_run_changes_nothing(vm, engine, base_archive, figure):
    result = deploy_engine(vm, base_archive, figure, "rerun")
    assert result["recap"]["changed"] == 0, result["recap"]


def test_systemd_restarts_a_killed_dockerd(vm, engine):
    before = vm.ssh("systemctl show -p MainPID --value docker").stdout.strip()
    vm.ssh("sudo kill -9 " + before)
    deadline = time.monotonic() + 120
    after = before
    while time.monotonic() < deadline:
        after = vm.ssh("systemctl show -p MainPID --value docker").stdout.strip()
        active = vm.ssh("systemctl is-active docker", check=False).stdout.strip()
        if active == "active" and after not in ("0", before):
            break
        time.sleep(3)
    assert after not in ("0", before), f"dockerd not restarted (MainPID {before} -> {after})"
    assert vm.ssh("sudo docker info --format '{{.ServerVersion}}'", timeout=60).returncode == 0


def test_the_engine_comes_back_after_a_reboot(vm, engine, figure):
    seconds = vm.reboot_and_wait(timeout=420)
    figure(f"reboot -> SSH: {seconds:.0f} s")
    state = vm.ssh("systemctl is-active docker", check=False, timeout=120).stdout.strip()
    deadline = time.monotonic() + 120
    while state != "active" and time.monotonic() < deadline:
        time.sleep(3)
        state = vm.ssh("systemctl is-active docker", check=False).stdout.strip()
    assert state == "active"
    assert vm.ssh("sudo docker image inspect debian:bookworm-slim", check=False).returncode == 0
