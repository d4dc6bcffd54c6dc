"""Password hashes for the experiments, made by the htpasswd role's own filter plugin.

The bench hashes exactly as the role does (roles/htpasswd/filter_plugins/htpasswd.py, loaded from
its path), and times verification the way nginx's auth_basic computes it on every request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
import time
import warnings
from pathlib import Path
from types import ModuleType

from .config import HTPASSWD_FILTER

SSHA_PREFIX = "{SSHA}"
SHA1_SIZE = 20


@functools.cache
def htpasswd_filters(path: Path = HTPASSWD_FILTER) -> ModuleType:
    """The htpasswd role's filter module (needs ansible-core, as in the project's venv)."""
    if not path.is_file():
        raise SystemExit(
            f"bench: the htpasswd filter plugin is not at {path}; the benchmark hashes passwords "
            "with it (update HTPASSWD_FILTER in bench/fbench/config.py if it moved)"
        )
    spec = importlib.util.spec_from_file_location("fortress_htpasswd_filters", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"bench: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as exc:
        raise SystemExit(
            f"bench: cannot import {path} ({exc}); run the benchmark with the project's venv "
            "(.venv/bin/python bench/run.py, as `make bench` does)"
        ) from exc
    return module


def sha512_crypt(password: str, rounds: int) -> str:
    """A fresh sha512-crypt (`$6$`) hash with `rounds` rounds, as the role writes it."""
    return str(htpasswd_filters().htpasswd_hash(password, "sha512_crypt", rounds=rounds))


def ssha(password: str) -> str:
    """A fresh `{SSHA}` hash (salted SHA-1, nginx built-in), as the role writes it."""
    return str(htpasswd_filters().htpasswd_hash(password, "ssha"))


def deployed_hash(htpasswd_text: str, user: str) -> str:
    """`user`'s hash in a password file."""
    for line in htpasswd_text.splitlines():
        if line.startswith(f"{user}:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"user {user} not in the deployed password file")


def hash_label(hashed: str) -> str:
    """Human name of a hash's scheme: `{SSHA}`, `sha512-crypt, N rounds`, or the `$id$`."""
    if hashed.startswith(SSHA_PREFIX):
        return SSHA_PREFIX
    if hashed.startswith("$6$"):
        rounds = hashed.split("$")[2][7:] if "$rounds=" in hashed else "5000"
        return f"sha512-crypt, {rounds} rounds"
    return hashed.split("$")[1] if hashed.startswith("$") else "?"


def _crypt_module() -> ModuleType:
    """The stdlib crypt module (deprecated in 3.11, still there): the same crypt(3) nginx calls."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return crypt


def time_hash(hashed: str, password: str, n: int = 200) -> float:
    """Milliseconds to verify one password against a hash here, computed as nginx does: crypt(3)
    for $-schemes, one SHA-1 over password + salt for {SSHA}."""
    if hashed.startswith(SSHA_PREFIX):
        salt = base64.b64decode(hashed[len(SSHA_PREFIX) :])[SHA1_SIZE:]
        n *= 100
        start = time.perf_counter()
        for _ in range(n):
            hashlib.sha1(password.encode() + salt).digest()
        return round((time.perf_counter() - start) / n * 1000, 4)
    crypt = _crypt_module()
    start = time.perf_counter()
    for _ in range(n):
        crypt.crypt(password, hashed)
    return round((time.perf_counter() - start) / n * 1000, 3)
