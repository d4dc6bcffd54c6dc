"""The inventory wins: variables of different roles set in inventory group_vars take effect.

Molecule's default scenario sets in its inventory group_vars an HTTPS port, a v1 replica count, a
gateway uid, the gateway's rate limit and Prometheus' retention, and hands the expected values to
the verifier as FORTRESS_EXPECT_OVERRIDES (a JSON object: https_port, v1_replicas, gateway_uid,
rate_limit, prometheus_retention). Each test inspects the deployed thing itself (container
definitions, processes, files, the live configuration), then checks the manifest agrees.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import PurePosixPath
from typing import Any

import pytest
from conftest import component_containers, docker, gateway_secret_dirs, inspect, instances

ENV = "FORTRESS_EXPECT_OVERRIDES"
# The gateway's configuration directory is mounted here (roles/nginx_gateway/vars/main.yml).
GATEWAY_CONF = "/etc/nginx/fortress/nginx.conf"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    raw = os.environ.get(ENV)
    if not raw:
        pytest.skip(f"{ENV} not set: only an inventory that overrides variables (Molecule) sets it")
    return json.loads(raw)


def wanted(expected: dict[str, Any], key: str) -> Any:
    if key not in expected:
        pytest.skip(f"{ENV} has no {key!r}: this inventory does not override it")
    return expected[key]


@pytest.fixture(scope="module")
def gateway(host, manifest) -> dict[str, Any]:
    return inspect(host, manifest["gateway"]["container"])


def test_the_gateway_serves_https_on_the_overridden_port(
    expected, manifest, gateway, on_host, report
):
    port = wanted(expected, "https_port")
    inside = f"{manifest['gateway']['internal_https_port']}/tcp"
    bindings = gateway["HostConfig"]["PortBindings"] or {}
    host_ports = sorted({b["HostPort"] for b in bindings.get(inside) or []})
    report(f"override https_port {port}: {inside} published on {host_ports}")
    assert host_ports == [str(port)], f"{inside} published on {host_ports}: {bindings}"
    r = on_host.one(f"https://127.0.0.1:{port}/healthz", method="GET", cafile=manifest["ca_cert"])
    assert r["status"] == 200, r
    assert manifest["gateway"]["https_port"] == port, manifest["gateway"]


def test_exactly_the_overridden_number_of_v1_replicas_run(expected, host, manifest, report):
    replicas = wanted(expected, "v1_replicas")
    running = docker(
        host,
        *("ps", "--filter", f"label=fortress.project={manifest['project']}"),
        *("--filter", "label=fortress.component=api-v1", "--filter", "status=running"),
        *("--format", "{{.Names}}"),
    ).split()
    report(f"override v1_replicas {replicas}: running {sorted(running)}")
    assert len(running) == replicas, f"running api-v1 containers: {sorted(running)}"
    listed = sorted(i["container"] for i in instances(manifest, "v1"))
    assert sorted(running) == listed, f"running {sorted(running)}, manifest {listed}"
    assert manifest["v1_replicas"] == replicas, manifest["v1_replicas"]


def test_the_gateway_runs_as_the_overridden_uid(expected, host, manifest, gateway, report):
    uid = wanted(expected, "gateway_uid")
    user = gateway["Config"]["User"]
    top = docker(host, "top", manifest["gateway"]["container"], "-o", "pid,uid,args")
    nginx = [line.split(None, 2) for line in top.splitlines()[1:] if "nginx:" in line]
    workers = [p for p in nginx if "worker process" in p[2]]
    report(f"override gateway_uid {uid}: Config.User {user!r}, nginx processes {nginx}")
    assert user == f"{uid}:{uid}", f"Config.User {user!r}"
    assert workers, f"no nginx worker process in docker top:\n{top}"
    assert all(p[1] == str(uid) for p in nginx), f"nginx processes (pid, uid, args): {nginx}"
    assert manifest["gateway"]["uid"] == uid, manifest["gateway"]


def test_the_gateway_secrets_belong_to_the_overridden_uid(expected, host, manifest, report):
    uid = wanted(expected, "gateway_uid")
    key = host.file(str(PurePosixPath(manifest["ca_cert"]).parent / "server.key"))
    _, auth = gateway_secret_dirs(host, manifest)
    credentials = {name: host.file(f"{auth}/{name}") for name in host.file(auth).listdir()}
    seen = {
        key.path: (key.uid, key.gid) if key.exists else "missing",
        **{f.path: (f.uid, f.gid) for f in credentials.values()},
    }
    report(f"override gateway_uid {uid}: (uid, gid) of the secrets {seen}")
    assert key.exists and key.uid == uid, f"server key (uid, gid): {seen}"
    assert credentials, f"no credential file in {auth}"
    assert all(f.gid == uid for f in credentials.values()), f"credential files: {seen}"


def test_the_live_gateway_config_has_the_overridden_rate_limit(
    expected, host, manifest, gateway, report
):
    rate = wanted(expected, "rate_limit")
    command = [*(gateway["Config"]["Entrypoint"] or []), *(gateway["Config"]["Cmd"] or [])]
    conf = command[command.index("-c") + 1] if "-c" in command else GATEWAY_CONF
    text = docker(host, "exec", manifest["gateway"]["container"], "cat", conf)
    zones = re.findall(r"limit_req_zone\s[^;]*zone=fortress_predict:[^;]*;", text)
    live = re.findall(r"\brate=(\S+?);", " ".join(zones))
    report(f"override rate_limit {rate}: {conf} has {zones}")
    assert live == [rate], f"fortress_predict zone in {conf}: {zones}"
    assert manifest["gateway"]["rate_limit"] == rate, manifest["gateway"]


def test_prometheus_keeps_the_overridden_retention(expected, host, manifest, on_host, report):
    retention = wanted(expected, "prometheus_retention")
    if not manifest["monitoring"]["enabled"]:
        pytest.fail("monitoring is disabled: the retention override cannot be checked")
    found = component_containers(host, manifest, "prometheus")
    assert len(found) == 1, [c["Name"] for c in found]
    config = found[0]["Config"]
    command = [*(config["Entrypoint"] or []), *(config["Cmd"] or [])]
    flag = f"--storage.tsdb.retention.time={retention}"
    r = on_host.one(f"{manifest['monitoring']['prometheus_url']}/api/v1/status/flags", method="GET")
    assert r["status"] == 200, f"Prometheus flags: {r}"
    running = json.loads(r["body"])["data"].get("storage.tsdb.retention.time")
    report(f"override prometheus_retention {retention}: command {command}, flag {running!r}")
    assert flag in command, f"Prometheus command line: {command}"
    assert running == retention, f"Prometheus reports storage.tsdb.retention.time {running!r}"
    assert manifest["monitoring"].get("prometheus_retention") == retention, manifest["monitoring"]
