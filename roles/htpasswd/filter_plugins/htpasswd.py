"""Filters of the htpasswd role: the hash nginx's auth_basic verifies, reusing a still-valid one.

nginx checks the password on *every* request, so the scheme is a per-request price:

* ``ssha``: ``{SSHA}`` + base64(SHA-1(password + salt) + salt), nginx built-in, ~1 µs. It gives no
  protection to a guessable password if the file leaks, so ``auto`` picks it only for long passwords
  (generated secrets, like API tokens, which are stored with a plain salted digest everywhere).
* ``sha512_crypt``: crypt(3) ``$6$``, 1000 rounds ≈ 0.5 ms of CPU per request (2-core VM).
* ``bcrypt``: slow by design (cost 10 ≈ 70 ms per request).

``sha512_crypt`` and ``bcrypt`` come from libpass (the maintained fork of passlib 1.7.4, providing
the same ``passlib`` module) and, for bcrypt, the ``bcrypt`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from ansible.errors import AnsibleFilterError

SCHEMES = ("auto", "ssha", "sha512_crypt", "bcrypt")
_SSHA_PREFIX = "{SSHA}"
_SHA1_SIZE = 20
_SSHA_SALT_SIZE = 8
# bcrypt reads at most 72 bytes of a password (crypt(3), and so nginx, ignores the rest);
# bcrypt >= 5 refuses longer input instead of truncating it.
_BCRYPT_MAX_BYTES = 72


def _ssha(password: bytes, salt: bytes) -> str:
    digest = hashlib.sha1(password + salt).digest()
    return _SSHA_PREFIX + base64.b64encode(digest + salt).decode()


def _ssha_salt(current: str) -> bytes | None:
    if not current.startswith(_SSHA_PREFIX):
        return None
    try:
        raw = base64.b64decode(current[len(_SSHA_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw[_SHA1_SIZE:] if len(raw) > _SHA1_SIZE else None


def _passlib_handler(scheme: str, rounds: int):
    try:
        from passlib.hash import bcrypt, sha512_crypt
    except ImportError as exc:  # pragma: no cover - depends on the control node
        raise AnsibleFilterError(
            f"htpasswd: the {scheme} scheme needs the Python package libpass on the control node "
            "(pip install 'libpass[bcrypt]' in Ansible's virtualenv)"
        ) from exc
    if scheme == "sha512_crypt":
        return sha512_crypt.using(rounds=rounds)
    return bcrypt.using(rounds=rounds, ident="2b")


def htpasswd_scheme_for(password, scheme: str = "auto", fast_min_length: int = 24) -> str:
    """The scheme for one password: ``auto`` is ssha when it is long enough, else sha512_crypt."""
    if scheme not in SCHEMES:
        expected = ", ".join(SCHEMES)
        raise AnsibleFilterError(f"htpasswd: unknown scheme {scheme!r}, expected one of {expected}")
    if scheme != "auto":
        return scheme
    return "ssha" if len(str(password)) >= int(fast_min_length) else "sha512_crypt"


def htpasswd_hash(password, scheme: str, rounds: int = 1000, current: str = "") -> str:
    """Hash ``password`` with ``scheme`` (not auto); return ``current`` unchanged when it already is
    such a hash of this password with these settings, so that re-runs write the same line."""
    secret = str(password)
    current = str(current or "")
    if scheme == "ssha":
        salt = _ssha_salt(current)
        if salt is not None and hmac.compare_digest(_ssha(secret.encode(), salt), current):
            return current
        return _ssha(secret.encode(), os.urandom(_SSHA_SALT_SIZE))
    if scheme not in ("sha512_crypt", "bcrypt"):
        raise AnsibleFilterError(f"htpasswd: cannot hash with scheme {scheme!r}")
    handler = _passlib_handler(scheme, int(rounds))
    # bcrypt: the bytes nginx's crypt(3) verifies.
    material = secret.encode()[:_BCRYPT_MAX_BYTES] if scheme == "bcrypt" else secret
    if current and handler.identify(current):
        try:
            parsed = handler.from_string(current)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.rounds == int(rounds):
            again = handler.using(salt=parsed.salt).hash(material)
            if hmac.compare_digest(again, current):
                return current
    return handler.hash(material)


class FilterModule:
    def filters(self):
        return {
            "htpasswd_hash": htpasswd_hash,
            "htpasswd_scheme_for": htpasswd_scheme_for,
        }
