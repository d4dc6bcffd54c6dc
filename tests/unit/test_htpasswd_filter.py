"""The htpasswd role's filters: hashes nginx verifies, idempotent re-hashing, scheme choice."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from nginx_auth import crypt_verify, ssha_verify

PLUGIN = Path(__file__).resolve().parents[2] / "roles/htpasswd/filter_plugins/htpasswd.py"
spec = importlib.util.spec_from_file_location("htpasswd_filters", PLUGIN)
htpasswd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(htpasswd)

TOKEN = "k3Jx9vQ2mZ7pL0sT4wYb8nC1dF6gH5aE"  # 32 characters, like `openssl rand -base64 24`


@pytest.mark.parametrize(
    ("password", "scheme", "expected"),
    [
        (TOKEN, "auto", "ssha"),
        (TOKEN[:23], "auto", "sha512_crypt"),
        ("admin", "auto", "sha512_crypt"),
        ("admin", "ssha", "ssha"),
        (TOKEN, "sha512_crypt", "sha512_crypt"),
        (TOKEN, "bcrypt", "bcrypt"),
    ],
)
def test_scheme_for_a_password(password, scheme, expected):
    assert htpasswd.htpasswd_scheme_for(password, scheme, 24) == expected


def test_unknown_scheme_is_an_error():
    with pytest.raises(Exception, match="unknown scheme 'md5'"):
        htpasswd.htpasswd_scheme_for("x", "md5")


def test_ssha_is_what_nginx_verifies_and_is_salted():
    a = htpasswd.htpasswd_hash(TOKEN, "ssha")
    b = htpasswd.htpasswd_hash(TOKEN, "ssha")
    assert a.startswith("{SSHA}") and b.startswith("{SSHA}")
    assert a != b, "two hashes of one password must differ by their salt"
    assert ssha_verify(TOKEN, a) and ssha_verify(TOKEN, b)
    assert not ssha_verify(TOKEN + "x", a)


@pytest.mark.parametrize(("scheme", "rounds"), [("sha512_crypt", 1000), ("sha512_crypt", 5000)])
def test_sha512_crypt_is_what_crypt_verifies(scheme, rounds):
    hashed = htpasswd.htpasswd_hash("s3cret-pass", scheme, rounds)
    assert hashed.startswith("$6$")
    assert ("rounds=" in hashed) == (rounds != 5000)  # 5000 is crypt's implicit default
    assert crypt_verify("s3cret-pass", hashed)
    assert not crypt_verify("s3cret-pasS", hashed)


def test_bcrypt_is_what_crypt_verifies():
    hashed = htpasswd.htpasswd_hash("s3cret-pass", "bcrypt", 4)
    assert hashed.startswith("$2b$04$"), hashed
    assert crypt_verify("s3cret-pass", hashed), hashed
    assert not crypt_verify("s3cret-pasS", hashed), hashed


def test_bcrypt_hashes_the_72_bytes_crypt_reads_of_a_longer_password():
    long_password = "é" * 50  # 100 bytes in UTF-8; bcrypt >= 5 refuses more than 72
    hashed = htpasswd.htpasswd_hash(long_password, "bcrypt", 4)
    assert crypt_verify(long_password, hashed), hashed
    assert crypt_verify("é" * 36, hashed), "crypt(3) reads the first 72 bytes only"
    assert not crypt_verify("é" * 35, hashed), hashed
    assert htpasswd.htpasswd_hash(long_password, "bcrypt", 4, hashed) == hashed


def test_hashing_warns_about_nothing():
    """passlib 1.7.4 warns (it imports the deprecated stdlib crypt; bcrypt >= 4.1 breaks its version
    probe); libpass, in a fresh interpreter that turns warnings into errors, must not."""
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {str(PLUGIN)!r})\n"
        "h = importlib.util.module_from_spec(spec); spec.loader.exec_module(h)\n"
        "for scheme, rounds in (('ssha', 1000), ('sha512_crypt', 1000), ('bcrypt', 4)):\n"
        "    current = h.htpasswd_hash('s3cret-pass', scheme, rounds)\n"
        "    assert h.htpasswd_hash('s3cret-pass', scheme, rounds, current) == current\n"
    )
    errors = ["-W", "error::DeprecationWarning", "-W", "error::UserWarning"]
    result = subprocess.run(
        [sys.executable, *errors, "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("scheme", "rounds"), [("ssha", 1000), ("sha512_crypt", 1000), ("bcrypt", 4)]
)
def test_an_existing_hash_of_the_same_password_is_kept(scheme, rounds):
    current = htpasswd.htpasswd_hash(TOKEN, scheme, rounds)
    assert htpasswd.htpasswd_hash(TOKEN, scheme, rounds, current) == current


@pytest.mark.parametrize(
    ("scheme", "rounds"), [("ssha", 1000), ("sha512_crypt", 1000), ("bcrypt", 4)]
)
def test_a_new_password_gets_a_new_hash(scheme, rounds):
    current = htpasswd.htpasswd_hash(TOKEN, scheme, rounds)
    new = htpasswd.htpasswd_hash(TOKEN + "!", scheme, rounds, current)
    assert new != current


def test_changed_rounds_or_scheme_rehash():
    current = htpasswd.htpasswd_hash(TOKEN, "sha512_crypt", 1000)
    assert htpasswd.htpasswd_hash(TOKEN, "sha512_crypt", 2000, current) != current
    assert htpasswd.htpasswd_hash(TOKEN, "ssha", 1000, current).startswith("{SSHA}")
    ssha = htpasswd.htpasswd_hash(TOKEN, "ssha")
    assert htpasswd.htpasswd_hash(TOKEN, "sha512_crypt", 1000, ssha).startswith("$6$")


@pytest.mark.parametrize(
    "garbage", ["", "{SSHA}", "{SSHA}!!notbase64", "{SSHA}YWJj", "$6$x", "plain"]
)
def test_unparsable_current_lines_are_replaced(garbage):
    for scheme in ("ssha", "sha512_crypt"):
        new = htpasswd.htpasswd_hash(TOKEN, scheme, 1000, garbage)
        assert new != garbage
        assert ssha_verify(TOKEN, new) if scheme == "ssha" else crypt_verify(TOKEN, new)
