"""GET /health and GET /metrics, including a model that cannot be loaded."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient

from api.app import create_app


def test_health_is_ok_with_variant_replica_and_model_version(client: TestClient) -> None:
    response = client.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    settings = client.app.state.settings  # type: ignore[attr-defined]
    assert body == {
        "status": "ok",
        "variant": settings.variant,
        "replica": settings.replica_id,
        "model_version": body["model_version"],
    }
    assert re.fullmatch(r"[0-9a-f]{12}", body["model_version"]), body


@pytest.fixture
def broken_client(tmp_path: Path) -> TestClient:
    settings = make_settings("v2", model_path=tmp_path / "missing.safetensors")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client  # type: ignore[misc]


def test_health_is_503_when_the_model_is_missing(broken_client: TestClient) -> None:
    response = broken_client.get("/health")
    body = response.json()
    assert response.status_code == 503, body
    assert body["status"] == "unavailable" and body["error"] == "model_not_loaded", body
    assert response.headers["x-variant"] == "v2", response.headers


def test_predict_is_503_json_when_the_model_is_missing(broken_client: TestClient) -> None:
    response = broken_client.post("/predict", json={"sentence": "hello"})
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "model_not_loaded", "detail": "the model is not loaded"}


def test_corrupt_model_file_answers_503_instead_of_crashing(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"not a model")
    with TestClient(create_app(make_settings("v1", model_path=bad))) as client:
        response = client.get("/health")
    assert response.status_code == 503, response.text
    # The reason is in /health (and the log): the file is not the one training recorded.
    assert "refusing to load a model file that is not the one trained" in response.json()["detail"]


def _sample(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_metrics_move_after_a_prediction(v1_client: TestClient) -> None:
    before = v1_client.get("/metrics").text
    label = v1_client.post("/predict", json={"sentence": "I love it"}).json()["prediction value"]
    response = v1_client.get("/metrics")
    after = response.text
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    requests = ("api_requests_total", '{handler="/predict",method="POST",status="200"}')
    assert _sample(after, *requests) == _sample(before, *requests) + 1, after
    predictions = ("api_predictions_total", f'{{label="{label}"}}')
    assert _sample(after, *predictions) == _sample(before, *predictions) + 1, after
    count = ("api_request_duration_seconds_count", '{handler="/predict"}')
    assert _sample(after, *count) == _sample(before, *count) + 1, after
    assert 'api_request_duration_seconds_bucket{handler="/predict",le="0.0001"}' in after


def test_predict_series_are_exported_at_zero_before_the_first_request() -> None:
    """So rate() sees the first burst even when it falls between two scrapes."""
    with TestClient(create_app(make_settings("v1"))) as fresh:
        text = fresh.get("/metrics").text
    zero = {
        "api_requests_total": '{handler="/predict",method="POST",status="200"}',
        "api_request_duration_seconds_count": '{handler="/predict"}',
        "api_request_duration_seconds_bucket": '{handler="/predict",le="+Inf"}',
    }
    for name, labels in zero.items():
        assert re.search(rf"^{re.escape(name + labels)} 0\.0$", text, re.MULTILINE), (name, text)


# What Prometheus sends on a scrape: it prefers OpenMetrics and accepts gzip.
PROMETHEUS_SCRAPE_HEADERS = {
    "accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "accept-encoding": "gzip",
}


def test_a_prometheus_scrape_gets_uncompressed_text_format_0_0_4(v1_client: TestClient) -> None:
    response = v1_client.get("/metrics", headers=PROMETHEUS_SCRAPE_HEADERS)
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type == "text/plain; version=0.0.4; charset=utf-8", response.headers
    assert "content-encoding" not in response.headers, response.headers
    assert "# TYPE api_requests_total counter" in response.text, response.text
    assert "# EOF" not in response.text, "OpenMetrics, not the text format"


def test_metrics_scrapes_are_counted_under_the_metrics_handler(v1_client: TestClient) -> None:
    scrapes = ("api_requests_total", '{handler="/metrics",method="GET",status="200"}')
    before = _sample(v1_client.get("/metrics").text, *scrapes)
    after = v1_client.get("/metrics").text
    assert _sample(after, *scrapes) == before + 1, after


def test_metrics_answers_get_and_head_and_405_json_otherwise(v1_client: TestClient) -> None:
    head = v1_client.head("/metrics")
    assert head.status_code == 200 and head.content == b"", head.headers
    response = v1_client.post("/metrics")
    assert response.status_code == 405, response.text
    assert response.json()["error"] == "method_not_allowed", response.text


def test_metrics_expose_model_info(v2_client: TestClient) -> None:
    version = v2_client.get("/health").json()["model_version"]
    text = v2_client.get("/metrics").text
    labels = f'{{replica="test-v2",variant="v2",version="{version}"}}'
    assert _sample(text, "api_model_info", labels) == 1.0, text


def test_unknown_paths_are_counted_under_one_handler_label(v1_client: TestClient) -> None:
    for i in range(3):
        v1_client.get(f"/random-{i}")
    text = v1_client.get("/metrics").text
    assert "random-" not in text
    assert _sample(text, "api_requests_total", '{handler="other",method="GET",status="404"}') >= 3


def test_each_app_has_its_own_registry() -> None:
    first = create_app(make_settings("v1"))
    second = create_app(make_settings("v1"))
    assert first.state.metrics.registry is not second.state.metrics.registry


@pytest.mark.parametrize(
    ("sentence", "known", "unknown"),
    [
        ("I love this flight", 3, 0),  # every word in the vocabulary ("I" is no token: 1 char)
        ("zzqx vrrrmp love", 1, 2),  # two invented words, one known
        ("!!! 😀", 0, 0),  # no word token at all: nothing counted
    ],
)
def test_word_coverage_is_counted_per_prediction_without_the_text(
    client: TestClient, sentence: str, known: int, unknown: int
) -> None:
    before = client.get("/metrics").text
    assert client.post("/predict", json={"sentence": sentence}).status_code == 200
    after = client.get("/metrics").text
    for vocabulary, expected in (("known", known), ("unknown", unknown)):
        series = ("api_words_total", f'{{vocabulary="{vocabulary}"}}')
        assert _sample(after, *series) - _sample(before, *series) == expected, (vocabulary, after)
    chars = ("api_sentence_chars_sum", "")
    assert _sample(after, *chars) - _sample(before, *chars) == len(sentence)
    assert "zzqx" not in after and "vrrrmp" not in after, "a word of a sentence is in /metrics"


def test_metrics_expose_the_training_reference(v1_client: TestClient) -> None:
    import json

    from conftest import METRICS_PATH

    reference = json.loads(METRICS_PATH.read_text())["reference"]
    text = v1_client.get("/metrics").text
    assert _sample(text, "api_model_reference_oov_share") == pytest.approx(reference["oov_share"])
    assert 0.0 < reference["oov_share"] < 0.5, reference
    for label, share in reference["label_share"].items():
        assert _sample(
            text, "api_model_reference_label_share", f'{{label="{label}"}}'
        ) == pytest.approx(share)
    assert sum(reference["label_share"].values()) == pytest.approx(1.0, abs=1e-5)
