"""The debug variant is a setting that works both ways: playbooks/site.yml re-run with
fortress_v2_enabled false removes api-v2 everywhere (container, upstream, scrape target,
manifest) and the debug header then gets the gateway's fast JSON 503; re-run with true brings it
back.

Opt-in like the rolling update (two playbook runs): on in the Molecule scenarios.
"""

from __future__ import annotations

import json

import pytest
from conftest import docker, v2_instance, wait_healthy
from playbook import opt_in, run_playbook

pytestmark = opt_in

SENTENCE = '{"sentence": "switch the debug variant"}'
TAGS = "api,gateway,monitoring,summary"  # what v2 touches (the preflight always runs)


def answer(on_host, manifest, basic_auth, debug: bool) -> dict:
    gateway = manifest["gateway"]
    headers = {"Content-Type": "application/json", **basic_auth}
    if debug:
        headers["X-Experiment-Group"] = gateway["experiment_value"]
    return on_host.one(
        f"https://localhost:{gateway['https_port']}/predict",
        body=SENTENCE,
        cafile=manifest["ca_cert"],
        headers=headers,
    )


def prometheus_config(host, manifest) -> str:
    return docker(
        host, "exec", f"{manifest['project']}-prometheus", "cat", "/etc/prometheus/prometheus.yml"
    )


def test_disabling_v2_removes_it_and_the_debug_header_gets_a_json_503_then_it_comes_back(
    host, manifest, on_host, basic_auth, report
):
    if not manifest["v2_enabled"]:
        pytest.skip("v2 is disabled in this deployment already")
    v2 = v2_instance(manifest)
    try:
        stats = run_playbook(manifest, {"fortress_v2_enabled": False}, TAGS)
        containers = docker(host, "ps", "-a", "--format", "{{.Names}}").split()
        assert v2["container"] not in containers, f"{v2['container']} still exists: {containers}"
        off = json.loads(host.file(f"{manifest['data_dir']}/deployment.json").content_string)
        assert off["v2_enabled"] is False, off
        others = ["candidate"] if manifest.get("candidate_enabled") else []
        assert [i["variant"] for i in off["api_instances"]] == (
            ["v1"] * manifest["v1_replicas"] + others
        )
        debug = answer(on_host, manifest, basic_auth, debug=True)
        assert debug["status"] == 503, debug
        assert json.loads(debug["body"])["error"] == "variant_unavailable", debug
        default = answer(on_host, manifest, basic_auth, debug=False)
        assert default["status"] == 200 and default["headers"]["x-variant"] == "v1", default
        if manifest["monitoring"]["enabled"]:
            assert f"{v2['name']}:" not in prometheus_config(host, manifest)
        report(f"v2 off: {stats}; debug -> {debug['status']} in {debug['elapsed_ms']:.1f} ms")
    finally:
        stats = run_playbook(manifest, {"fortress_v2_enabled": True}, TAGS)
    wait_healthy(host, v2["container"])
    back = answer(on_host, manifest, basic_auth, debug=True)
    assert back["status"] == 200 and back["headers"]["x-replica"] == v2["name"], back
    assert "prediction_proba_dict" in json.loads(back["body"]), back
    if manifest["monitoring"]["enabled"]:
        assert f"{v2['name']}:" in prometheus_config(host, manifest)
    report(f"v2 switched on again: {stats}")
