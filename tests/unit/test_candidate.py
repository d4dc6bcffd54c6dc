"""The candidate variant: v1's answer from a candidate model, and every sentence scored with the
production model too, counted as {traffic, from, to} (agreements and label flips)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import METRICS_PATH, MODEL_PATH, make_settings
from fastapi.testclient import TestClient

from api import modelfile
from api.app import create_app
from api.settings import Settings, SettingsError


def trained_dir(tmp_path: Path, labels: list[str]) -> Path:
    """A model directory as training writes one, from a tiny corpus (a poor candidate)."""
    from model_training import evaluation, features

    texts = ["love it", "great flight", "hate it", "awful delay", "a plane", "the gate"] * 5
    pipeline = features.build_pipeline(c=1.0, seed=0).fit(texts, labels * 5)
    out = tmp_path / "candidate"
    out.mkdir()
    modelfile.save(pipeline, out / modelfile.MODEL_FILE)
    digest = hashlib.sha256((out / modelfile.MODEL_FILE).read_bytes()).hexdigest()
    record = {
        "model_sha256": digest,
        "model_version": digest[:12],
        "scoring_check": evaluation.scoring_check(pipeline),
    }
    (out / "metrics.json").write_text(json.dumps(record))
    return out


def candidate_client(model_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        "candidate",
        model_path=model_dir / modelfile.MODEL_FILE,
        metrics_path=model_dir / "metrics.json",
        production_model_path=MODEL_PATH,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def comparisons(client: TestClient) -> dict[tuple[str, str, str], float]:
    text = client.get("/metrics").text
    pattern = r'^api_candidate_comparisons_total\{from="(\w+)",to="(\w+)",traffic="(\w+)"\} (\S+)$'
    return {
        (traffic, before, after): float(value)
        for before, after, traffic, value in re.findall(pattern, text, re.MULTILINE)
    }


def test_the_candidate_needs_the_production_model() -> None:
    with pytest.raises(SettingsError, match="API_PRODUCTION_MODEL_PATH"):
        Settings(variant="candidate")
    env = {"API_VARIANT": "candidate", "API_PRODUCTION_MODEL_PATH": "/m/model.safetensors"}
    assert Settings.from_env(env).production_metrics_path == Path("/m/metrics.json")


def test_the_candidate_answers_in_v1_shape_and_counts_agreement(tmp_path: Path) -> None:
    same = tmp_path / "same"
    same.mkdir()
    shutil.copy(MODEL_PATH, same / MODEL_PATH.name)
    shutil.copy(METRICS_PATH, same / "metrics.json")
    for client in candidate_client(same):
        before = comparisons(client)
        answer = client.post("/predict", json={"sentence": "I love this flight"})
        assert answer.status_code == 200, answer.text
        assert list(answer.json()) == ["prediction value"], answer.json()
        assert answer.headers["x-variant"] == "candidate"
        label = answer.json()["prediction value"]
        client.post(
            "/predict", json={"sentence": "I love this flight"}, headers={"X-Fortress-Shadow": "1"}
        )
        after = comparisons(client)
        assert after[("canary", label, label)] == before[("canary", label, label)] + 1
        assert after[("shadow", label, label)] == before[("shadow", label, label)] + 1
        flips = {k: v for k, v in after.items() if k[1] != k[2]}
        assert set(flips.values()) == {0.0}, flips


def test_a_different_candidate_shows_label_flips(tmp_path: Path) -> None:
    poor = trained_dir(tmp_path, ["positive", "positive", "negative", "negative"] + ["neutral"] * 2)
    sentences = ["what a wonderful crew", "my bag is lost again", "the plane is at the gate"]
    for client in candidate_client(poor):
        labels = [
            client.post("/predict", json={"sentence": s}, headers={"X-Fortress-Shadow": "1"})
            for s in sentences * 4
        ]
        assert {r.status_code for r in labels} == {200}
        counted = comparisons(client)
        assert sum(v for k, v in counted.items() if k[0] == "shadow") == len(sentences) * 4
        flips = {k: v for k, v in counted.items() if k[1] != k[2] and v}
        assert flips, f"the poor candidate agreed with production on everything: {counted}"
        exposed = client.get("/metrics").text
        agreed = re.search(
            r'^api_candidate_agreements_total\{traffic="shadow"\} (\S+)$', exposed, re.M
        )
        assert agreed, "no api_candidate_agreements_total for shadow traffic"
        diagonal = sum(v for k, v in counted.items() if k[0] == "shadow" and k[1] == k[2])
        assert float(agreed.group(1)) == diagonal < len(sentences) * 4, (agreed.group(1), counted)
        assert 'api_candidate_production_model_info{version="' in exposed


def test_a_candidate_with_other_classes_is_refused(tmp_path: Path) -> None:
    other = trained_dir(tmp_path, ["yes", "yes", "no", "no", "maybe", "maybe"])
    for client in candidate_client(other):
        health = client.get("/health")
        assert health.status_code == 503
        assert "differ from production" in health.json()["detail"], health.json()
