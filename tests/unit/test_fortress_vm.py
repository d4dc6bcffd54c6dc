"""The VM runner's pure parts: host keys read from a console log, the accelerator choice, the
host's Debian mirror (no VM is booted here; tests/qemu does that)."""

from __future__ import annotations

import pytest

from fortress_vm import image, machine

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFi8R/0DhgqPvCrfLG7j7fg7Yc1DNzILNo4ESTABSS+/"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJkBpf2Wn=="


def console(*boots: list[str]) -> str:
    """A serial log with one host-key block per boot, as the journal prefixes its lines."""
    out = ["[    0.000000] Linux version 6.1.0-50-amd64"]
    for keys in boots:
        out.append(f"[   41.6] fortress-firstboot[249]: {machine.KEYS_BEGIN}")
        out += [f"[   41.7] fortress-firstboot[360]: {k} root@fortress-vm" for k in keys]
        out.append(f"[   41.8] fortress-firstboot[249]: {machine.KEYS_END}")
    return "\n".join(out) + "\n"


@pytest.fixture
def vm(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "RUNS", tmp_path)
    m = machine.Machine(name="unit")
    m.dir.mkdir()
    return m


def test_host_keys_come_from_the_console_without_its_prefixes(vm):
    vm.console.write_text(console([ECDSA, ED25519]))
    assert vm.host_keys() == [ECDSA, ED25519]


def test_only_the_last_boots_keys_count(vm):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherKeyOfAnEarlierBoot"
    vm.console.write_text(console([other], [ED25519]))
    assert vm.host_keys() == [ED25519]


def test_no_keys_until_the_block_is_complete(vm):
    vm.console.write_text(console([ED25519]).replace(machine.KEYS_END, ""))
    assert vm.host_keys() == []
    vm.console.unlink()
    assert vm.host_keys() == []


def test_kvm_only_when_a_hardware_module_backs_it(tmp_path):
    dev = tmp_path / "kvm"
    dev.touch()
    (tmp_path / "kvm_pvm").mkdir()
    assert machine.accelerator({}, tmp_path, str(dev))[1].startswith("tcg")
    (tmp_path / "kvm_pvm").rmdir()
    assert machine.accelerator({}, tmp_path, str(dev))[1].startswith("tcg")  # no kvm_intel/amd
    (tmp_path / "kvm_intel").mkdir()
    assert machine.accelerator({}, tmp_path, str(dev))[:2] == ["-accel", "kvm"]
    assert machine.accelerator({}, tmp_path, str(tmp_path / "none"))[1].startswith("tcg")
    assert (
        machine.accelerator({"FORTRESS_VM_ACCEL": "tcg"}, tmp_path, str(dev))[1]
        == "tcg,thread=multi"
    )


def test_the_release_mirror_is_the_first_non_security_source():
    deb822 = {
        "/etc/apt/sources.list.d/debian.sources": (
            "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\n\n"
            "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
        )
    }
    assert image.release_mirror(deb822) == "http://mirror.invalid/debian"
    one_line = {"/etc/apt/sources.list": "# deb http://old.invalid/debian bookworm main\n"
                "deb http://sec.invalid/debian-security bookworm-security main\n"
                "deb [arch=amd64] http://one.invalid/debian bookworm main\n"}  # fmt: skip
    assert image.release_mirror(one_line) == "http://one.invalid/debian"
    with pytest.raises(SystemExit):
        image.release_mirror({"/etc/apt/sources.list": "# nothing\n"})
