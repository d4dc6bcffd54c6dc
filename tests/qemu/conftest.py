"""A real QEMU VM for the VM handoff (issue 12): booted once per session from the cached image,
driven over SSH as ops would (host key from the VM's console, key-only login, become), destroyed
at the end. Timings go to the terminal summary ("fortress VM figures")."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from fortress_vm import image, machine
from integration.playbook import failed_tasks

ROOT = Path(__file__).resolve().parents[2]
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("fortress VM figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def figure():
    return FIGURES.append


@pytest.fixture(scope="session")
def vm(figure):
    started = time.monotonic()
    cached = (image.CACHE / image.digest() / "disk.qcow2").exists()
    img = image.build()
    figure(
        f"image: {'cached' if cached else 'built'} in {time.monotonic() - started:.0f} s ({img})"
    )
    vm = machine.Machine(name=f"fortress-test-{os.getpid()}")
    try:
        vm.create(img)
        figure(f"boot -> SSH: {vm.wait_ssh(timeout=420):.0f} s ({' '.join(machine.accelerator())})")
        yield vm
    finally:
        vm.destroy()


def playbook(vm: machine.Machine, *args: str, group_vars: dict, log: str) -> dict:
    """ansible-playbook over SSH against the VM (the README's command, this run's inventory); the
    play's results as data (ansible.posix.json), failing the test with the failed tasks."""
    inventory, vault_env = vm.inventory(group_vars)
    env = dict(
        os.environ,
        **vault_env,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json",
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    )
    cmd = ["ansible-playbook", "-i", str(inventory), "playbooks/site.yml", *args]
    out = vm.dir / f"{log}.json"
    started = time.monotonic()
    with out.open("w") as stdout, (vm.dir / f"{log}.log").open("w") as stderr:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, timeout=2400)
    result = json.loads(out.read_text() or "{}")
    result["seconds"] = time.monotonic() - started
    stats = result.get("stats", {}).get(vm.name, {})
    failed = failed_tasks(result)
    tail = (vm.dir / f"{log}.log").read_text()[-2000:]
    assert proc.returncode == 0 and stats, (
        f"playbook failed (rc {proc.returncode}): {failed}\n{tail}"
    )
    result["recap"] = stats
    return result
