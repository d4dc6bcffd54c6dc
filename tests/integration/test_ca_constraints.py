"""The local CA can vouch only for the deployment's own names (issue 11, finding 8): its certificate
carries critical nameConstraints with exactly the server certificate's names, so a certificate its
key signs for another name fails verification, while the real server certificate verifies.
"""

from __future__ import annotations

import datetime
from pathlib import PurePosixPath

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError


@pytest.fixture(scope="module")
def pki(host, manifest):
    certs = PurePosixPath(manifest["ca_cert"]).parent
    if not host.file(str(certs / "ca.key")).exists:
        pytest.skip("no local CA on the target (certs_mode provided)")
    ca = x509.load_pem_x509_certificate(host.file(str(certs / "ca.crt")).content)
    key = serialization.load_pem_private_key(host.file(str(certs / "ca.key")).content, None)
    leaf = x509.load_pem_x509_certificates(host.file(str(certs / "server.crt")).content)[0]
    return ca, key, leaf


def rogue_leaf(ca, key, name: str) -> x509.Certificate:
    """A server certificate for `name`, signed with the CA's own key."""
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def verify(ca, leaf, name: str) -> None:
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName(name))
    verifier.verify(leaf, [])


def test_the_ca_is_constrained_to_the_servers_names(pki, report):
    ca, _, leaf = pki
    constraints = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical, "nameConstraints must be critical"
    permitted = {n.value for n in constraints.value.permitted_subtrees or []}
    dns = set(
        leaf.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value.get_values_for_type(x509.DNSName)
    )
    assert dns <= permitted, f"server names {dns} not all permitted by {permitted}"
    assert not constraints.value.excluded_subtrees
    report(f"CA nameConstraints permit: {sorted(str(p) for p in permitted)}")


def test_a_certificate_the_ca_key_signs_for_another_name_fails_verification(pki):
    ca, key, leaf = pki
    verify(ca, leaf, "localhost")  # the real one verifies
    with pytest.raises(VerificationError, match=r"(?i)name constraint|excluded|permitted"):
        verify(ca, rogue_leaf(ca, key, "evil.example"), "evil.example")
