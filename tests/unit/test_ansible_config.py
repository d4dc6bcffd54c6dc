"""The project's ansible.cfg as Ansible itself reads it (ansible-config), not as text."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def effective_setting(name: str) -> str:
    """The value and origin ansible-config reports for one setting when run in the project."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    out = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-config")), "dump"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if line.startswith(f"{name}(")]
    assert len(lines) == 1, f"{name} not in ansible-config dump: {out[-500:]}"
    return lines[0]


def test_ssh_host_keys_are_checked() -> None:
    # Vault secrets travel to the targets: an unknown or changed host key must stop the run.
    line = effective_setting("HOST_KEY_CHECKING")
    assert line.endswith("= True"), line
