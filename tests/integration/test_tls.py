"""TLS of the gateway, scanned with sslyze against Mozilla's intermediate profile.

The TLS scan runs sslyze on the test runner (the control node) against the gateway's published HTTPS
port, trusting the CA the playbook generated (read from the target). In Molecule and for a local
deployment that port is on the runner's loopback; for a VM set FORTRESS_TLS_ADDRESS to its address
(and FORTRESS_TLS_SERVER_NAME to a name in the certificate if "localhost" is not), and
FORTRESS_TLS_PORT when the runner reaches the gateway through another port (the vm scenario
publishes the instance's 443 on the runner's 127.0.0.1).
"""

from __future__ import annotations

import os
import warnings

import pytest


@pytest.fixture(scope="module")
def tls_scan(host, manifest, tmp_path_factory):
    """One sslyze scan of the gateway: everything Mozilla's checker needs, plus the HTTP headers."""
    from sslyze import (
        ScanCommand,
        ScanCommandsExtraArguments,
        Scanner,
        ServerConnectivityStatusEnum,
        ServerNetworkLocation,
        ServerScanRequest,
        ServerScanStatusEnum,
    )
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    )
    from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument

    ca = tmp_path_factory.mktemp("tls") / "ca.crt"
    ca.write_bytes(host.file(manifest["ca_cert"]).content)
    address = os.environ.get("FORTRESS_TLS_ADDRESS", "127.0.0.1")
    name = os.environ.get("FORTRESS_TLS_SERVER_NAME", "localhost")
    port = int(os.environ.get("FORTRESS_TLS_PORT", manifest["gateway"]["https_port"]))
    request = ServerScanRequest(
        server_location=ServerNetworkLocation(hostname=name, port=port, ip_address=address),
        scan_commands=SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER | {ScanCommand.HTTP_HEADERS},
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=ca)
        ),
    )
    scanner = Scanner()
    with warnings.catch_warnings():
        # sslyze's bundled trust stores hold a few certificates newer cryptography frowns upon.
        warnings.simplefilter("ignore")
        scanner.queue_scans([request])
        [result] = list(scanner.get_results())
    if result.connectivity_status != ServerConnectivityStatusEnum.COMPLETED:
        trace = (
            "".join(result.connectivity_error_trace.format())
            if result.connectivity_error_trace
            else ""
        )
        pytest.fail(
            f"the test runner cannot reach the gateway at {address}:{port} for the TLS scan "
            "(set FORTRESS_TLS_ADDRESS when the gateway is not on this machine's loopback):\n"
            f"{trace}"
        )
    assert result.scan_status == ServerScanStatusEnum.COMPLETED, result.scan_status
    return result


def test_tls_is_compliant_with_mozilla_intermediate(tls_scan, report):
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    profile = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE)
    result = tls_scan.scan_result
    suites = {
        version: [
            s.cipher_suite.name
            for s in getattr(result, f"{field}_cipher_suites").result.accepted_cipher_suites
        ]
        for version, field in (("TLS 1.2", "tls_1_2"), ("TLS 1.3", "tls_1_3"))
    }
    curves = [c.name for c in result.elliptic_curves.result.supported_curves or []]
    report(f"TLS scan: {suites}, curves {curves}")
    try:
        check_server_against_tls_configuration(tls_scan, profile)
    except ServerNotCompliantWithTlsConfiguration as exc:
        pytest.fail(f"not Mozilla intermediate (guideline 5.7) compliant: {exc.issues}")


def test_no_tls_version_below_1_2_is_accepted(tls_scan):
    result = tls_scan.scan_result
    old = {
        name: getattr(result, field).result.is_tls_version_supported
        for name, field in (
            ("SSL 2.0", "ssl_2_0_cipher_suites"),
            ("SSL 3.0", "ssl_3_0_cipher_suites"),
            ("TLS 1.0", "tls_1_0_cipher_suites"),
            ("TLS 1.1", "tls_1_1_cipher_suites"),
        )
    }
    assert not any(old.values()), f"legacy protocol accepted: {old}"
    assert result.tls_1_2_cipher_suites.result.is_tls_version_supported
    assert result.tls_1_3_cipher_suites.result.is_tls_version_supported


def test_certificate_chain_validates_against_the_generated_ca(tls_scan):
    [deployment] = tls_scan.scan_result.certificate_info.result.certificate_deployments
    supplied = [
        r for r in deployment.path_validation_results if r.trust_store.name == "Supplied CA file"
    ]
    assert supplied, [r.trust_store.name for r in deployment.path_validation_results]
    assert supplied[0].was_validation_successful, supplied[0].validation_error
    assert deployment.received_chain_has_valid_order, "certificate chain sent out of order"


def test_hsts_is_sent_with_at_least_mozillas_max_age(tls_scan):
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        MozillaTlsConfiguration,
        TlsConfigurationEnum,
    )

    minimum = MozillaTlsConfiguration.get(TlsConfigurationEnum.MOZILLA_INTERMEDIATE).hsts_min_age
    hsts = tls_scan.scan_result.http_headers.result.strict_transport_security_header
    assert hsts is not None, "no Strict-Transport-Security header"
    assert (hsts.max_age or 0) >= minimum, f"HSTS max-age {hsts.max_age} < {minimum}"
