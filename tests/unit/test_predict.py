"""POST /predict: response shapes of both variants, labels from the model, headers."""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

SENTENCES = {
    "I love this, what a wonderful day!": "positive",
    "This is the worst flight ever, I hate it.": "negative",
}


def test_v1_returns_only_the_prediction_value(
    v1_client: TestClient, model_classes: tuple[str, ...]
) -> None:
    response = v1_client.post("/predict", json={"sentence": "I love this, what a wonderful day!"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["prediction value"], body
    assert body["prediction value"] in model_classes
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("sentence", "expected"), sorted(SENTENCES.items()))
def test_obvious_sentences_get_the_obvious_label(
    client: TestClient, sentence: str, expected: str
) -> None:
    response = client.post("/predict", json={"sentence": sentence})
    assert response.status_code == 200, response.text
    assert response.json()["prediction value"] == expected, response.json()


def test_v2_returns_probabilities_for_every_class(
    v2_client: TestClient, model_classes: tuple[str, ...]
) -> None:
    response = v2_client.post("/predict", json={"sentence": "The service was okay I guess"})
    assert response.status_code == 200, response.text
    body = response.json()
    proba = body["prediction_proba_dict"]
    assert sorted(proba) == sorted(model_classes), body
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in proba.values()), body
    assert math.isclose(sum(proba.values()), 1.0, abs_tol=1e-9), body
    assert body["prediction value"] == max(proba, key=proba.__getitem__), body


def test_v2_adds_model_version_variant_replica_and_timing(v2_client: TestClient) -> None:
    import json

    from conftest import METRICS_PATH

    response = v2_client.post("/predict", json={"sentence": "hello world"})
    body = response.json()
    assert response.status_code == 200, body
    expected_version = json.loads(METRICS_PATH.read_text())["model_version"]
    assert body["model_version"] == expected_version, body
    assert body["variant"] == "v2", body
    assert body["replica"] == "test-v2", body
    assert isinstance(body["inference_ms"], float) and body["inference_ms"] >= 0, body


def test_v1_and_v2_agree_on_the_label(v1_client: TestClient, v2_client: TestClient) -> None:
    for sentence in ["meh", "Great job @united!!", "the car is red", "not good at all"]:
        one = v1_client.post("/predict", json={"sentence": sentence}).json()
        two = v2_client.post("/predict", json={"sentence": sentence}).json()
        assert one["prediction value"] == two["prediction value"], (sentence, one, two)


def test_content_type_with_charset_is_accepted(v1_client: TestClient) -> None:
    response = v1_client.post(
        "/predict",
        content=b'{"sentence": "caf\\u00e9 au lait \xc3\xa9t\xc3\xa9"}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


def test_sentence_at_the_length_limit_is_accepted(v1_client: TestClient) -> None:
    response = v1_client.post("/predict", json={"sentence": "a" * 5000})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/predict", "/health", "/metrics", "/nope"])
def test_every_response_carries_replica_and_variant_headers(client: TestClient, path: str) -> None:
    if path == "/predict":
        response = client.post(path, json={"sentence": "fine"})
    else:
        response = client.get(path)
    variant = "v2" if client.app.state.settings.variant == "v2" else "v1"  # type: ignore[attr-defined]
    assert response.headers["x-replica"] == f"test-{variant}", response.headers
    assert response.headers["x-variant"] == variant, response.headers
