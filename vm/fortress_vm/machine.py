"""One throw-away VM: a qcow2 overlay of the cached image, booted by QEMU with user networking.

The host reaches the VM only through port forwards bound to 127.0.0.1 (SSH, HTTPS, HTTP); the VM
reaches the host's Debian mirror through QEMU's NAT. Its host keys are read from its serial console
(never trusted on first use over the network) into a known_hosts file; `ops` logs in with a key
generated for this run. Everything the VM needs lives in its run directory, removed by `destroy`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .image import CACHE, ROOT, USER, log, run

EXAMPLE_GROUP_VARS = ROOT / "inventory" / "vm.example" / "group_vars" / "fortress"
VENV_BIN = ROOT / ".venv" / "bin"

RUNS = CACHE / "run"
# Guest ports forwarded to free ports on the host's 127.0.0.1.
GUEST_PORTS = {"ssh": 22, "https": 443, "http": 80}
HOST_KEY = re.compile(r"(?:ssh-(?:ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/]+=*")
KEYS_BEGIN, KEYS_END = "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"


def accelerator(
    env: dict[str, str] | None = None, modules: Path = Path("/sys/module"), kvm: str = "/dev/kvm"
) -> list[str]:
    """KVM when a usable one is present, else multi-threaded TCG. A /dev/kvm backed by the PVM
    module (kvm_pvm) needs a PVM-enlightened guest kernel, which Debian's is not: TCG there.
    FORTRESS_VM_ACCEL=kvm|tcg overrides the detection."""
    choice = (os.environ if env is None else env).get("FORTRESS_VM_ACCEL", "")
    if not choice:
        hardware = any((modules / m).exists() for m in ("kvm_intel", "kvm_amd"))
        pvm = (modules / "kvm_pvm").exists()
        usable = os.access(kvm, os.R_OK | os.W_OK) and hardware and not pvm
        choice = "kvm" if usable else "tcg"
    if choice == "kvm":
        return ["-accel", "kvm", "-cpu", "host"]
    return ["-accel", "tcg,thread=multi", "-cpu", "max"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Machine:
    name: str = "fortress-vm"
    memory_mb: int = 3072
    cpus: int = 2
    # restrict=on: QEMU's NAT lets nothing out (no mirror, no DNS); the 127.0.0.1 forwards work.
    air_gapped: bool = False
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return RUNS / self.name

    @property
    def key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def console(self) -> Path:
        return self.dir / "console.log"

    def pid(self) -> int | None:
        try:
            pid = int((self.dir / "qemu.pid").read_text())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    # --- life cycle ---------------------------------------------------------------------------

    def create(self, image: Path) -> None:
        """Overlay, per-run SSH key, free ports; boot (QEMU daemonizes)."""
        if self.pid():
            raise SystemExit(f"VM {self.name} is already running (pid {self.pid()})")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
             str(image / "disk.qcow2"), str(self.dir / "overlay.qcow2")])  # fmt: skip
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{USER}@{self.name}",
             "-f", str(self.key)])  # fmt: skip
        self.ports = {name: free_port() for name in GUEST_PORTS}
        (self.dir / "ports.json").write_text(json.dumps(self.ports))
        (self.dir / "image").write_text(str(image))
        self.boot()

    def boot(self) -> None:
        image = Path((self.dir / "image").read_text())
        self.ports = json.loads((self.dir / "ports.json").read_text())
        pubkey = base64.b64encode(self.key.with_suffix(".pub").read_bytes().strip()).decode()
        forwards = ",".join(
            f"hostfwd=tcp:127.0.0.1:{self.ports[n]}-:{guest}" for n, guest in GUEST_PORTS.items()
        )
        restrict = "restrict=on," if self.air_gapped else ""
        cmd = [
            "qemu-system-x86_64", *accelerator(), "-machine", "q35", "-smp", str(self.cpus),
            "-m", str(self.memory_mb), "-display", "none", "-daemonize",
            "-pidfile", str(self.dir / "qemu.pid"),
            "-serial", f"file:{self.console}",
            "-monitor", f"unix:{self.dir / 'monitor.sock'},server,nowait",
            "-kernel", str(image / "vmlinuz"), "-initrd", str(image / "initrd.img"),
            "-append", f"root=/dev/vda rw console=ttyS0 fortress.ssh_key={pubkey}",
            # A throw-away overlay: cache=unsafe skips the host's flushes (the guest's view, reboots
            # included, stays consistent; a host crash would lose it, and the overlay with it).
            "-drive", f"file={self.dir / 'overlay.qcow2'},if=virtio,format=qcow2,cache=unsafe",
            "-netdev", f"user,id=net0,{restrict}{forwards}",
            "-device", "virtio-net-pci,netdev=net0",
        ]  # fmt: skip
        accel = " ".join(accelerator()[:2])
        log(f"booting {self.name} ({accel}), ssh on 127.0.0.1:{self.ports['ssh']}")
        run(cmd)

    def host_keys(self) -> list[str]:
        """The public host keys the VM printed on its console at its last boot."""
        text = self.console.read_text(errors="replace") if self.console.exists() else ""
        if KEYS_END not in text:
            return []
        block = text.rsplit(KEYS_BEGIN, 1)[-1].split(KEYS_END, 1)[0]
        # Console lines carry prefixes: "[ 41.7] unit[360]: ssh-ed25519 AAAA…".
        return [m.group(0) for m in HOST_KEY.finditer(block)]

    def ssh_args(self) -> list[str]:
        return [
            "ssh", "-p", str(self.ports["ssh"]), "-i", str(self.key),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10",
            "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
            f"{USER}@127.0.0.1",
        ]  # fmt: skip

    def ssh(self, command: str, timeout: float = 300, check: bool = True):
        return subprocess.run(
            [*self.ssh_args(), command],
            text=True,
            capture_output=True,
            timeout=timeout,
            check=check,
        )

    def wait_ssh(self, timeout: float = 300) -> float:
        """Until the console shows the host keys (written to known_hosts) and `ops` logs in."""
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not self.pid():
                raise SystemExit(f"QEMU exited; console: {self.console}")
            keys = self.host_keys()
            if keys:
                port = self.ports["ssh"]
                self.known_hosts.write_text("".join(f"[127.0.0.1]:{port} {k}\n" for k in keys))
                if self.ssh("true", timeout=30, check=False).returncode == 0:
                    return time.monotonic() - started
            time.sleep(2)
        raise SystemExit(f"no SSH into {self.name} within {timeout:.0f} s; console: {self.console}")

    def reboot_and_wait(self, timeout: float = 300) -> float:
        """`sudo reboot` in the VM; seconds until it is back on SSH with fresh console host keys."""
        size = self.console.stat().st_size
        self.ssh("sudo systemctl reboot", check=False, timeout=30)
        started = time.monotonic()
        while (
            self.console.stat().st_size == size
            or KEYS_END not in self.console.read_text(errors="replace")[size:]
        ):
            if time.monotonic() - started > timeout:
                raise SystemExit(f"{self.name} did not come back within {timeout:.0f} s")
            time.sleep(2)
        return time.monotonic() - started + self.wait_ssh(timeout)

    def destroy(self, timeout: float = 60) -> None:
        """ACPI power-off, then SIGKILL after `timeout`; remove the run directory."""
        pid = self.pid()
        if pid:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(5)
                    s.connect(str(self.dir / "monitor.sock"))
                    s.sendall(b"system_powerdown\n")
            except OSError:
                pass
            deadline = time.monotonic() + timeout
            while self.pid() and time.monotonic() < deadline:
                time.sleep(1)
            if self.pid():
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
        log(f"{self.name} destroyed")

    # --- what Ansible needs -------------------------------------------------------------------

    def inventory(self, extra_vars: dict | None = None) -> tuple[Path, dict[str, str]]:
        """An inventory directory the way the README's VM runbook builds one: the host with its
        forwarded SSH port (host key checking on, this run's known_hosts), inventory/vm.example's
        group_vars, a vault of generated secrets encrypted with a generated vault password, and
        `extra_vars`. Returns the directory and the environment (vault password file) to use."""
        inv = self.dir / "inventory"
        group_vars = inv / "group_vars" / "fortress"
        group_vars.mkdir(parents=True, exist_ok=True)
        host = {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ports["ssh"],
            "ansible_user": USER,
            "ansible_become": True,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": str(self.key),
            "ansible_ssh_common_args": (
                f"-o UserKnownHostsFile={self.known_hosts} -o IdentitiesOnly=yes"
            ),
        }
        (inv / "hosts.yml").write_text(json.dumps({"fortress": {"hosts": {self.name: host}}}))
        shutil.copy(EXAMPLE_GROUP_VARS / "main.yml", group_vars / "main.yml")
        password_file = self.dir / "vault-password"
        if not password_file.exists():
            password_file.touch(mode=0o600)
            password_file.write_text(secrets.token_hex(32) + "\n")
            vault = group_vars / "vault.yml"
            vault.touch(mode=0o600)
            vault.write_text(json.dumps(self.secrets()))
            run([str(VENV_BIN / "ansible-vault"), "encrypt", "--vault-password-file",
                 str(password_file), str(vault)], capture_output=True)  # fmt: skip
        (group_vars / "run.yml").write_text(json.dumps(extra_vars or {}))
        return inv, {"ANSIBLE_VAULT_PASSWORD_FILE": str(password_file)}

    def secrets(self) -> dict[str, str]:
        """This run's generated secrets (kept beside the VM, 0600, removed with it)."""
        path = self.dir / "secrets.json"
        if not path.exists():
            path.touch(mode=0o600)
            values = {
                "vault_gateway_user": "api-client",
                "vault_gateway_password": secrets.token_hex(24),
                "vault_grafana_admin_password": secrets.token_hex(24),
            }
            path.write_text(json.dumps(values))
        return json.loads(path.read_text())


def load(name: str = "fortress-vm") -> Machine:
    m = Machine(name=name)
    if (m.dir / "ports.json").exists():
        m.ports = json.loads((m.dir / "ports.json").read_text())
    return m
