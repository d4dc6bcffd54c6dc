"""The gateway's history, replayed on the private stack's rendered files (never on the roles)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from . import config, hashing
from .measure import Load
from .proc import docker, log, run

UNBUFFERED_LOG = "    access_log /dev/stdout fortress_main if=$fortress_loggable;"
_DEPLOYED_LOG = re.compile(r"^ *access_log /dev/stdout fortress_main.*$", re.M)


class GatewayFiles:
    """Edits of the private stack's rendered gateway files, restored afterwards."""

    def __init__(self) -> None:
        self.conf = config.GATEWAY_CONF
        self.htpasswd = config.HTPASSWD
        self.cert = config.SERVER_CERT
        self.key = config.SERVER_KEY
        files = (self.conf, self.htpasswd, self.cert, self.key)
        self.saved = {p: (p.read_bytes(), p.stat()) for p in files}

    def use_ecdsa_certificate(self) -> None:
        """Swap in a self-signed ECDSA P-256 certificate (the client does not verify), reload."""
        tmp = Path("/tmp") / f"{config.PROJECT}-ecdsa"
        tmp.mkdir(exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(tmp / "k"),
             "-out", str(tmp / "c")])  # fmt: skip
        self.write(self.cert, (tmp / "c").read_text())
        self.write(self.key, (tmp / "k").read_text())
        shutil.rmtree(tmp, ignore_errors=True)
        self.reload()

    def reload(self) -> None:
        nginx = ["nginx", "-e", "stderr", "-c", config.GATEWAY_CONF_IN_CONTAINER]
        docker("exec", config.GATEWAY, *nginx, "-t", "-q")
        docker("exec", config.GATEWAY, *nginx, "-s", "reload")
        time.sleep(2)  # old workers finish, new ones take over

    def write(self, path: Path, text: str) -> None:
        _data, st = self.saved[path]
        path.write_text(text)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)

    def set_hash(self, hashed: str) -> None:
        """The benchmark user's hash (nginx reads the file on every request: no reload)."""
        self.write(self.htpasswd, f"{config.USER}:{hashed}\n")

    def deployed_hash(self) -> str:
        return hashing.deployed_hash(self.saved[self.htpasswd][0].decode(), config.USER)

    def edit_conf(self, old: str, new: str) -> None:
        text = self.conf.read_text()
        if old not in text:
            raise SystemExit(f"experiment: {old!r} not found in {self.conf}")
        self.write(self.conf, text.replace(old, new, 1))
        self.reload()

    def restore(self) -> None:
        for path, (data, st) in self.saved.items():
            path.write_bytes(data)
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, st.st_mode & 0o7777)
        with contextlib.suppress(subprocess.CalledProcessError):
            self.reload()


def access_log_options(line: str | None) -> str:
    """The buffering options of the deployed access_log line ("buffer=64k flush=1s"), or "?"."""
    if not line:
        return "?"
    return line.split("fortress_main ")[1].split(" if=")[0]


def run_history(load: Load, duration: int, auth: str) -> list[dict[str, Any]]:
    """The first version (sha512-crypt with crypt's 5000 rounds, one access-log write per
    request), each change, then what is deployed; c=1 and c=32 each."""
    log("the gateway's history, replayed (private stack only)")
    history: list[dict[str, Any]] = []

    def measure(change: str) -> None:
        c1 = load.gateway(1, duration, auth=auth)
        c32 = load.gateway(32, duration, auth=auth)
        history.append({"change": change, "c1": c1, "c32": c32})
        log(
            f"  {change}: c1 {c1['rps']:.0f} req/s p50 {c1['p50_ms']:.2f} | c32 "
            f"{c32['rps']:.0f} req/s p50 {c32['p50_ms']:.2f} p99 {c32['p99_ms']:.2f} "
            f"err {c32['errors']}"
        )

    files = GatewayFiles()
    try:
        deployed_log = _DEPLOYED_LOG.search(files.conf.read_text())
        if deployed_log and deployed_log.group(0) != UNBUFFERED_LOG:
            files.edit_conf(deployed_log.group(0), UNBUFFERED_LOG)
        files.set_hash(hashing.sha512_crypt(config.PASSWORD, 5000))
        measure("first version: sha512-crypt 5000 rounds, unbuffered stdout access log")
        files.set_hash(hashing.sha512_crypt(config.PASSWORD, 1000))
        measure("htpasswd: sha512-crypt 1000 rounds (what a short password still gets)")
        deployed = files.deployed_hash()
        files.set_hash(deployed)
        label = hashing.hash_label(deployed)
        measure(f"htpasswd: {label} for a generated 32-character password")
        files.restore()
        options = access_log_options(deployed_log.group(0) if deployed_log else None)
        measure(f"as deployed: + buffered stdout access log ({options})")
    finally:
        files.restore()
    return history
