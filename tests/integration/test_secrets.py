"""Secrets: none committed to git, and the generated ones on the target readable only by whom needs
them (the server key by the gateway's uid, the credential files by its group).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import gateway_secret_dirs

REPO = Path(__file__).resolve().parents[2]
# What must never be committed: private keys and password hashes (crypt(3), bcrypt, Apache MD5).
SECRET_PATTERNS = {
    "private key": re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    "sha-crypt hash": re.compile(
        rb"\$[56]\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{43,86}"
    ),
    "bcrypt hash": re.compile(rb"\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}"),
    "apache md5 hash": re.compile(rb"\$apr1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}"),
    "md5-crypt hash": re.compile(rb"\$1\$[./A-Za-z0-9]{1,8}\$[./A-Za-z0-9]{22}"),
    "yescrypt hash": re.compile(rb"\$y\$[./A-Za-z0-9]+\$[./A-Za-z0-9]{1,86}\$[./A-Za-z0-9]{43}"),
}


def test_no_private_key_or_password_hash_is_committed(report):
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot list the git tree of {REPO} (the scan needs a git checkout): {exc}")
    files = [f for f in listed.decode().split("\0") if f]
    assert files, f"git ls-files found nothing in {REPO}"
    found = []
    for name in files:
        path = REPO / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        found += [f"{name}: {kind}" for kind, rx in SECRET_PATTERNS.items() if rx.search(data)]
    report(f"secret scan: {len(files)} tracked files, {len(found)} findings")
    assert not found, "secrets committed:\n" + "\n".join(found)


def test_generated_secrets_have_restrictive_modes(host, manifest):
    uid = gid = int(manifest["gateway"]["uid"])  # the gateway runs as uid:uid
    certs, auth = gateway_secret_dirs(host, manifest)

    def facts(path: str) -> tuple[str, int, int]:
        f = host.file(path)
        assert f.exists, f"{path} missing"
        return oct(f.mode), f.uid, f.gid

    problems = []
    key = facts(f"{certs}/server.key")
    if key[0] != "0o600" or key[1] != uid:
        problems.append(f"server.key {key}: expected 0o600 owned by the gateway uid {uid}")
    if host.file(f"{certs}/ca.key").exists:  # absent when the certificate is provided
        ca_key = facts(f"{certs}/ca.key")
        if ca_key[:2] != ("0o600", 0):
            problems.append(f"ca.key {ca_key}: expected 0o600 owned by root")
    credential_files = host.file(auth).listdir()
    assert credential_files, f"no credential file in {auth}"
    for name in credential_files:
        mode, owner, group = facts(f"{auth}/{name}")
        if (mode, owner, group) != ("0o640", 0, gid):
            problems.append(f"{auth}/{name} {(mode, owner, group)}: expected 0o640 root:{gid}")
    for directory in (certs, auth):
        if host.file(directory).mode & 0o007:
            problems.append(
                f"{directory} is accessible to others: {oct(host.file(directory).mode)}"
            )
    assert not problems, "\n".join(problems)
