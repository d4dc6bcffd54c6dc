"""Security checks of a deployed stack: TLS scan, port exposure, container hardening, secrets.

The TLS scan runs sslyze on the test runner (the control node) against the gateway's published HTTPS
port, trusting the CA the playbook generated (read from the target). In Molecule and for a local
deployment that port is on the runner's loopback; for a VM set FORTRESS_TLS_ADDRESS to its address
(and FORTRESS_TLS_SERVER_NAME to a name in the certificate if "localhost" is not), and
FORTRESS_TLS_PORT when the runner reaches the gateway through another port (the vm scenario
publishes the instance's 443 on the runner's 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import docker, inspect, project_containers, start_client

REPO = Path(__file__).resolve().parents[2]
# Capabilities a container may add back after dropping ALL (none needs one today).
ALLOWED_CAP_ADD: frozenset[str] = frozenset()
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


# --- TLS -----------------------------------------------------------------------------------------


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


# --- Exposure ------------------------------------------------------------------------------------


def stack_containers(host, manifest) -> list[dict[str, Any]]:
    """The stack's own containers (the test clients carry the project label too)."""
    return [
        c
        for c in project_containers(host, manifest["project"])
        if "-testclient-" not in c["Name"] and c["State"]["Running"]
    ]


def expected_bindings(manifest) -> dict[str, set[tuple[str, str]]]:
    gateway, monitoring = manifest["gateway"], manifest["monitoring"]
    expected = {
        "gateway": {
            (gateway["bind_address"], str(gateway["http_port"])),
            (gateway["bind_address"], str(gateway["https_port"])),
        }
    }
    for component in ("prometheus", "grafana"):
        address, port = monitoring[f"{component}_url"].split("//")[1].rsplit(":", 1)
        expected[component] = {(address, port)}
    return expected


def test_published_ports_bind_as_the_manifest_says(host, manifest, report):
    expected = expected_bindings(manifest)
    problems, seen = [], {}
    for c in stack_containers(host, manifest):
        component = c["Config"]["Labels"].get("fortress.component", c["Name"])
        actual = {
            ("0.0.0.0" if b["HostIp"] in ("", "::") else b["HostIp"], b["HostPort"])
            for bindings in (c["NetworkSettings"]["Ports"] or {}).values()
            for b in bindings or []
        }
        seen[c["Name"].lstrip("/")] = sorted(actual)
        wanted = expected.get(component, set())
        if actual != wanted:
            problems.append(f"{c['Name']}: published {sorted(actual)}, expected {sorted(wanted)}")
    report(f"published ports: {seen}")
    assert "gateway" in {
        c["Config"]["Labels"].get("fortress.component") for c in stack_containers(host, manifest)
    }
    assert not problems, "\n".join(problems)


def test_loopback_only_ports_refuse_connections_from_the_public_network(host, manifest):
    """A neighbour on the public network reaches the host's bridge address: the ports bound to the
    loopback must refuse it there, the ones bound to every address must accept it."""
    public = manifest["networks"]["public"]
    bridge = json.loads(docker(host, "network", "inspect", public))[0]["IPAM"]["Config"][0][
        "Gateway"
    ]
    ports = {
        port: address
        for bindings in expected_bindings(manifest).values()
        for address, port in bindings
        if address in ("127.0.0.1", "0.0.0.0")
    }
    client = start_client(host, manifest["api_image"], public, manifest["project"])
    try:
        code = (
            "import json, socket, sys\n"
            "out = {}\n"
            "for port in json.loads(sys.argv[1]):\n"
            "    s = socket.socket(); s.settimeout(3)\n"
            "    out[port] = s.connect_ex((sys.argv[2], int(port))) == 0\n"
            "    s.close()\n"
            "print(json.dumps(out))\n"
        )
        out = docker(host, "exec", client, "python3", "-c", code, json.dumps(sorted(ports)), bridge)
    finally:
        host.run("docker rm -f %s", client)
    reachable = json.loads(out)
    wrong = {
        port: f"bound to {ports[port]}, {'reachable' if reachable[port] else 'refused'} at {bridge}"
        for port in ports
        if reachable[port] != (ports[port] == "0.0.0.0")
    }
    assert not wrong, wrong


# --- Containers ----------------------------------------------------------------------------------


def proc_status(host, name: str) -> dict[str, str]:
    out = docker(host, "exec", name, "cat", "/proc/1/status")
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def memory_limit_seen_inside(host, name: str) -> int | None:
    for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"):
        cmd = host.run("docker exec %s cat %s", name, path)
        if cmd.rc == 0 and cmd.stdout.strip().isdigit():
            return int(cmd.stdout.strip())
    return None


def hardening_problems(host, c: dict[str, Any]) -> list[str]:
    name, hc = c["Name"].lstrip("/"), c["HostConfig"]
    problems = []
    user = c["Config"]["User"]
    if user.split(":")[0] in ("", "0", "root"):
        problems.append(f"configured user {user!r} is root")
    if not hc["ReadonlyRootfs"]:
        problems.append("root filesystem writable")
    if "ALL" not in [cap.upper() for cap in hc["CapDrop"] or []]:
        problems.append(f"CapDrop {hc['CapDrop']} does not drop ALL")
    added = set(hc["CapAdd"] or [])
    if added - ALLOWED_CAP_ADD:
        problems.append(f"capabilities added: {sorted(added)}")
    if not any(o.startswith("no-new-privileges") for o in hc["SecurityOpt"] or []):
        problems.append(f"no no-new-privileges in {hc['SecurityOpt']}")
    if not hc["Memory"]:
        problems.append("no memory limit")
    if hc["Privileged"] or hc["PidMode"] == "host" or hc["NetworkMode"] == "host":
        problems.append("privileged, or host PID/network namespace")
    if any("docker.sock" in m.get("Source", "") for m in c["Mounts"]):
        problems.append("docker socket mounted")
    log = hc["LogConfig"]
    if log["Type"] not in ("json-file", "local") or not log["Config"].get("max-size"):
        problems.append(f"logs not rotated: {log}")

    # What the running process really has, not just what was asked for.
    status = proc_status(host, name)
    if "0" in status["Uid"].split():  # real, effective, saved, filesystem uid
        problems.append(f"process 1 runs with uid {status['Uid']}")
    if int(status["CapEff"], 16) or (not added and int(status["CapBnd"], 16)):
        problems.append(
            f"process 1 capabilities: CapEff {status['CapEff']} CapBnd {status['CapBnd']}"
        )
    if status.get("NoNewPrivs", "0").strip() != "1":
        problems.append("process 1 may gain privileges (NoNewPrivs 0)")
    probe = host.run("docker exec %s touch /.fortress-readonly-probe", name)
    if probe.rc == 0 or "Read-only file system" not in probe.stderr:
        problems.append(
            f"writing to / did not fail as read-only: rc={probe.rc} {probe.stderr.strip()}"
        )
    limit = memory_limit_seen_inside(host, name)
    if limit != hc["Memory"]:
        problems.append(f"cgroup memory limit inside is {limit}, configured {hc['Memory']}")
    return problems


def test_every_container_runs_unprivileged_read_only_and_limited(host, manifest, report):
    containers = stack_containers(host, manifest)
    components = {c["Config"]["Labels"].get("fortress.component") for c in containers}
    wanted = {"gateway", "api-v1", "api-v2"}
    if manifest["monitoring"]["enabled"]:
        wanted |= {"prometheus", "nginx-exporter"}
    assert wanted <= components, f"missing containers: {wanted - components}"
    problems = {c["Name"].lstrip("/"): hardening_problems(host, c) for c in containers}
    summary = [
        f"{c['Name'].lstrip('/')} (user {c['Config']['User']}, "
        f"{c['HostConfig']['Memory'] // 2**20} MiB, added caps {c['HostConfig']['CapAdd'] or []})"
        for c in containers
    ]
    report("hardened containers: " + ", ".join(summary))
    assert not any(problems.values()), json.dumps(
        {k: v for k, v in problems.items() if v}, indent=1
    )


# --- Secrets -------------------------------------------------------------------------------------


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
    gateway = inspect(host, manifest["gateway"]["container"])
    uid, _, gid = gateway["Config"]["User"].partition(":")
    mounts = {m["Destination"]: m["Source"] for m in gateway["Mounts"]}
    certs = next(src for dst, src in mounts.items() if dst.endswith("/certs"))
    auth = next(src for dst, src in mounts.items() if dst.endswith("/auth"))

    def facts(path: str) -> tuple[str, int, int]:
        f = host.file(path)
        assert f.exists, f"{path} missing"
        return oct(f.mode), f.uid, f.gid

    problems = []
    key = facts(f"{certs}/server.key")
    if key[0] != "0o600" or key[1] != int(uid):
        problems.append(f"server.key {key}: expected 0o600 owned by the gateway uid {uid}")
    if host.file(f"{certs}/ca.key").exists:  # absent when the certificate is provided
        ca_key = facts(f"{certs}/ca.key")
        if ca_key[:2] != ("0o600", 0):
            problems.append(f"ca.key {ca_key}: expected 0o600 owned by root")
    credential_files = host.file(auth).listdir()
    assert credential_files, f"no credential file in {auth}"
    for name in credential_files:
        mode, owner, group = facts(f"{auth}/{name}")
        if (mode, owner, group) != ("0o640", 0, int(gid or uid)):
            problems.append(
                f"{auth}/{name} {(mode, owner, group)}: expected 0o640 root:{gid or uid}"
            )
    for directory in (certs, auth):
        if host.file(directory).mode & 0o007:
            problems.append(
                f"{directory} is accessible to others: {oct(host.file(directory).mode)}"
            )
    assert not problems, "\n".join(problems)
