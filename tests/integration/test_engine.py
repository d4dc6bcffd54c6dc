"""The Docker engine as the docker_engine role leaves it: daemon.json in effect (live-restore,
default log rotation) and, where the role started dockerd itself (no systemd), its log rotated."""

from __future__ import annotations

import json

import pytest
from conftest import docker


@pytest.fixture(scope="module")
def engine(manifest) -> dict:
    assert manifest.get("engine"), "the manifest has no engine settings"
    return manifest["engine"]


def test_daemon_json_is_in_effect(host, engine, report):
    configured = json.loads(host.file("/etc/docker/daemon.json").content_string)
    info = json.loads(docker(host, "info", "--format", "{{json .}}"))
    assert configured["live-restore"] is engine["live_restore"], configured
    assert info["LiveRestoreEnabled"] is engine["live_restore"], "dockerd did not load daemon.json"
    assert configured["log-driver"] == "json-file" and configured["log-opts"]["max-size"], (
        configured
    )
    assert info["LoggingDriver"] == "json-file", info["LoggingDriver"]
    report(f"engine: live-restore {info['LiveRestoreEnabled']}, log-opts {configured['log-opts']}")


def test_dockerd_started_without_systemd_writes_a_rotated_log(host, engine, report):
    pidfile = host.file(engine["pidfile"])
    if not pidfile.exists:
        pytest.skip(
            "the engine was not started by the role here (systemd, or a socket from outside)"
        )
    pid = pidfile.content_string.strip()
    assert host.file(f"/proc/{pid}").exists, (
        f"dockerd pid {pid} from {engine['pidfile']} is not alive"
    )
    out = host.check_output("readlink /proc/%s/fd/1", pid)
    assert out.startswith("pipe:"), f"dockerd writes its output to {out}, not to a rotating pipe"
    # The rotatelogs process reading that pipe, writing the configured log file.
    rotators = [
        p
        for p in host.check_output("pgrep -x rotatelogs || true").split()
        if host.check_output("readlink /proc/%s/fd/0", p) == out
    ]
    assert len(rotators) == 1, f"no rotatelogs reads dockerd's output ({out})"
    argv = host.file(f"/proc/{rotators[0]}/cmdline").content_string.split("\0")
    assert engine["log_file"] in argv and "-n" in argv, argv
    assert argv[argv.index("-n") + 1] == str(engine["log_rotate_files"]), argv
    report(f"dockerd log: {' '.join(a for a in argv if a)}")
