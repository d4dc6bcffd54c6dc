"""Running commands: ansible-playbook, docker, openssl."""

from __future__ import annotations

import subprocess
import time
from typing import Any


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(
    cmd: list[str], *, check: bool = True, timeout: float | None = 600, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, timeout=timeout, text=True, capture_output=True, **kw)


def docker(*args: str, check: bool = True, timeout: float | None = 600) -> str:
    return run(["docker", *args], check=check, timeout=timeout).stdout.strip()
