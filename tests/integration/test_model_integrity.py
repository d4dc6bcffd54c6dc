"""A model directory whose model file is not the one its training recorded (metrics.json's
model_sha256) is refused by the rollout, with the file and both digests named, before anything
ships or a replica goes down. The API refuses such a file at load too (tests/unit/test_model.py).

Opt-in like the other playbook re-runs (on in the Molecule scenarios).
"""

from __future__ import annotations

import shutil

import pytest
from conftest import inspect, instances
from playbook import REPO, opt_in, run_playbook_refused

pytestmark = opt_in


def test_a_tampered_model_file_is_refused_before_anything_changes(host, manifest, tmp_path):
    if manifest.get("images_from") == "bundle":
        pytest.skip("a bundle deployment serves the bundle's models (checked by its SHA256SUMS)")
    tampered = tmp_path / "model-tampered"
    shutil.copytree(REPO / "model", tampered)
    model = tampered / "model.safetensors"
    data = bytearray(model.read_bytes())
    data[-1] ^= 0x01  # one bit of one coefficient
    model.write_bytes(bytes(data))
    v2 = instances(manifest, "v2")[0]
    before = inspect(host, v2["container"])
    models = f"{manifest['data_dir']}/api/models"
    shipped = host.run("ls %s", models).stdout.split()
    failed = run_playbook_refused(manifest, {"sentiment_api_v2_model_dir": str(tampered)}, "api")
    refused = [f for f in failed if "Assert each model file is the one its training recorded" in f]
    assert refused, failed
    assert f"{model} has sha256 " in refused[0] and "its metrics.json records" in refused[0]
    after = inspect(host, v2["container"])
    assert after["Id"] == before["Id"], "api-v2 was recreated"
    assert after["State"]["StartedAt"] == before["State"]["StartedAt"], "api-v2 was restarted"
    assert host.run("ls %s", models).stdout.split() == shipped, "a model version was shipped"
