"""How nginx checks a password file line, for tests of the hashes the htpasswd filter writes."""

from __future__ import annotations

import base64
import hashlib
import warnings


def crypt_verify(password: str, hashed: str) -> bool:
    """What nginx does for $6$/$2b$ lines: crypt(3) with the stored hash as setting."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return crypt.crypt(password, hashed) == hashed


def ssha_verify(password: str, hashed: str) -> bool:
    """nginx's {SSHA} check (ngx_crypt_ssha): SHA-1 over password + the bytes after the digest."""
    raw = base64.b64decode(hashed.removeprefix("{SSHA}"))
    return hashlib.sha1(password.encode() + raw[20:]).digest() == raw[:20]
