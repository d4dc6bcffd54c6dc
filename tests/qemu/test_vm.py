"""The VM handoff on a real VM (issue 12), air-gapped: QEMU lets nothing out of the VM (no mirror,
no DNS), so the whole stack comes from the offline bundle (`make bundle`) over SSH, as ops would
deploy it: the engine installed from the bundle's packages and started through systemd, the
images loaded, nothing built. Then: the stack answers through the 127.0.0.1 forwards, monitoring
is up inside, a second run changes nothing, a killed dockerd is restarted by systemd, and after a
reboot the stack serves again without Ansible, with its data, secrets and firewall rules.

Run: `make test-qemu` (root; installs QEMU and debootstrap when missing)."""

from __future__ import annotations

import re
import time

import pytest
from conftest import Gateway, boot_timeline, playbook, prometheus_query

from fortress_vm import machine


def test_the_vm_looks_like_a_cloud_vm(vm):
    """systemd as PID 1, `ops` with key-only login (no password) and passwordless sudo, host keys
    of its own (the ones its console printed, which known_hosts holds)."""
    assert vm.ssh("ps -p 1 -o comm=").stdout.strip() == "systemd"
    assert vm.ssh("sudo -n id -u").stdout.strip() == "0"
    assert vm.ssh("sudo -n passwd --status ops").stdout.split()[1] == "L"
    state = vm.ssh("systemctl is-system-running --wait", check=False, timeout=300).stdout.strip()
    assert state in ("running", "degraded"), state
    keys = vm.ssh("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[:2]
    assert " ".join(keys) in vm.known_hosts.read_text()


def test_the_vm_reaches_no_mirror(vm):
    """The VM's apt sources point at the mirror it was built from, and nothing answers there."""
    sources = vm.ssh("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null", check=False)
    hosts = sorted(set(re.findall(r"https?://([^/\s]+)", sources.stdout)))
    assert hosts, f"no apt source in the VM to prove unreachable: {sources.stdout!r}"
    for host in hosts:
        probe = (
            "import socket,sys\ntry:\n socket.create_connection((sys.argv[1], 80), 5)\n"
            " print('reached')\nexcept OSError as e:\n print('unreachable', e)"
        )
        out = vm.ssh(f'python3 -c "{probe}" {host}', timeout=60).stdout
        assert out.startswith("unreachable"), f"the VM reached {host}: {out}"


@pytest.fixture(scope="module")
def deployed(vm, bundle, figure):
    """site.yml over SSH from the bundle, the README's command with this run's inventory."""
    result = playbook(vm, group_vars=bundle_vars(bundle), log="site-cold")
    figure(f"site.yml from the bundle (cold): {result['seconds']:.0f} s, {changed(result)}")
    return result


def changed(result: dict) -> str:
    return f"changed={result['recap']['changed']}"


def bundle_vars(bundle) -> dict:
    """The bundle; healthchecks paced for emulation (a `docker exec` of Python takes seconds)."""
    scale = 1 if " ".join(machine.accelerator()).startswith("-accel kvm") else 6
    return {
        "fortress_images_from": "bundle",
        "fortress_bundle": str(bundle),
        "fortress_healthcheck_scale": scale,
    }


def test_the_engine_runs_under_systemd_and_starts_at_boot(vm, deployed):
    assert vm.ssh("systemctl is-active docker").stdout.strip() == "active"
    assert vm.ssh("systemctl is-enabled docker").stdout.strip() == "enabled"
    # dockerd refuses containers without apparmor_parser on an AppArmor kernel: the role adds it.
    assert vm.ssh("dpkg-query -W -f '${db:Status-Status}' apparmor").stdout == "installed"
    info = vm.ssh("sudo docker info --format '{{.LiveRestoreEnabled}} {{.LoggingDriver}}'").stdout
    # live-restore off: dockerd stops the containers at shutdown, so a reboot restarts them cleanly.
    assert info.split() == ["false", "json-file"], info
    # Nothing was built in the VM: no build context, every image is the bundle's.
    assert vm.ssh("sudo test -e /opt/fortress/api/build", check=False).returncode == 1


def test_the_stack_answers_through_the_forwarded_ports(vm, deployed, gateway: Gateway):
    """From the host, only through 127.0.0.1 forwards: TLS with the deployment's CA, the redirect,
    basic auth, the compatibility contract of v1 and v2."""
    redirect = gateway.http("/predict")
    assert redirect.status_code in (301, 308), redirect
    assert redirect.headers["location"].startswith("https://"), redirect.headers
    assert gateway.predict(auth=False).status_code == 401
    answer = gateway.predict()
    assert answer.status_code == 200, answer.text
    assert "prediction value" in answer.json(), answer.json()
    debug = gateway.predict(headers={"X-Experiment-Group": "debug"})
    assert debug.status_code == 200, debug.text
    proba = debug.json()["prediction_proba_dict"]
    assert abs(sum(proba.values()) - 1) < 1e-6 and debug.json()["prediction value"] in proba


def test_the_rate_limit_holds(deployed, gateway: Gateway):
    """Back-to-back requests of one client meet the per-client limit (JSON 429), bounded to 60."""
    statuses = gateway.burst(60)
    assert 429 in statuses and 200 in statuses, statuses


def test_monitoring_is_up_inside_the_vm(vm, deployed):
    """Prometheus (published on the VM's 127.0.0.1 only) sees every target up."""
    deadline = time.monotonic() + 240
    down: list = ["not asked yet"]
    while time.monotonic() < deadline:
        result = prometheus_query(vm, "up")
        down = [r["metric"] for r in result if r["value"][1] != "1"]
        if result and not down:
            break
        time.sleep(10)
    assert result and not down, f"targets down: {down}"


def test_a_second_run_changes_nothing(vm, deployed, bundle, figure):
    result = playbook(vm, group_vars=bundle_vars(bundle), log="site-rerun")
    figure(f"site.yml from the bundle (rerun): {result['seconds']:.0f} s, {changed(result)}")
    assert result["recap"]["changed"] == 0, result["recap"]


def test_systemd_restarts_a_killed_dockerd_and_the_stack_serves(vm, deployed, gateway, figure):
    before = vm.ssh("systemctl show -p MainPID --value docker").stdout.strip()
    vm.ssh("sudo kill -9 " + before)
    started = time.monotonic()
    after = before
    while time.monotonic() - started < 120:
        after = vm.ssh("systemctl show -p MainPID --value docker").stdout.strip()
        active = vm.ssh("systemctl is-active docker", check=False).stdout.strip()
        if active == "active" and after not in ("0", before):
            break
        time.sleep(3)
    assert after not in ("0", before), f"dockerd not restarted (MainPID {before} -> {after})"
    seconds = gateway.wait_until_serving(timeout=120)
    figure(f"dockerd killed -> restarted and /predict answers: {time.monotonic() - started:.0f} s")
    assert seconds is not None, "the stack did not serve within 120 s of dockerd's restart"


STATE = [
    "/opt/fortress/certs/server.crt",
    "/opt/fortress/certs/server.key",
    "/opt/fortress/certs/ca.crt",
    "/opt/fortress/auth/htpasswd",
]


def digests(vm) -> str:
    """sha256 of the certificate, key, credentials and every model file on the VM."""
    files = " ".join(STATE) + " /opt/fortress/api/models/*/*"
    return vm.ssh(f"sudo sh -c 'sha256sum {files}'").stdout


def test_after_a_reboot_the_stack_serves_with_its_data(vm, deployed, gateway, figure):
    """`sudo reboot`, no Ansible: /predict through the gateway within 90 s of the VM's SSH being
    back; Prometheus still has what it wrote before; certificate, key, credentials and models are
    the same files; the firewall rules are back."""
    before_state = digests(vm)
    written_before = time.time()
    series_before = prometheus_query(vm, "up")
    assert series_before, "Prometheus has no series before the reboot"
    figure(f"reboot -> SSH: {vm.reboot_and_wait(timeout=420):.0f} s")
    seconds = gateway.wait_until_serving(timeout=90)
    late = ""
    if seconds is None:  # how late, and why: the other checks still run
        later = gateway.wait_until_serving(timeout=300)
        when = f"{90 + later:.0f} s" if later is not None else "not within 390 s"
        figure(f"VM back -> /predict answers through the gateway: {when} (over 90 s)")
        late = f"/predict not within 90 s of the VM being back ({when}):\n{boot_timeline(vm)}"
    else:
        figure(f"VM back -> /predict answers through the gateway: {seconds:.0f} s")
    kept = prometheus_query(vm, "up", at=written_before, timeout=120)
    assert len(kept) == len(series_before), f"before: {series_before}\nafter the reboot: {kept}"
    assert digests(vm) == before_state
    rules = vm.ssh("sudo iptables -t raw -S PREROUTING").stdout
    assert "published ports only" in rules, rules
    assert not late, late
