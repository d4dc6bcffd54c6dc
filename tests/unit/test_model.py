"""The API's scoring path gives the same answers as the committed sklearn Pipeline."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from conftest import METRICS_PATH, MODEL_PATH

from api import modelfile
from api.fastpath import LinearTextScorer
from api.model import ModelLoadError, SentimentModel, load_model

SENTENCES = [
    "I love this, what a wonderful day!",
    "This is the worst flight ever, I hate it.",
    "@AmericanAir my bag is lost AGAIN. 3 hours on hold... #neveragain",
    "Self-driving cars will be on the road by 2020, says report",
    "meh",
    "Not bad at all, actually quite good :)",
    "qwrtzxcv bnmlkj",  # no known word: only char n-grams
    "",  # no feature at all: intercept only
    "ÄÖÜ ß 東京 😀😀",
    "a" * 5000,
]


@pytest.fixture(scope="module")
def pipeline() -> object:
    return modelfile.load(MODEL_PATH)


def test_fast_path_is_used_for_the_committed_model(pipeline: object) -> None:
    assert SentimentModel(pipeline, "x").uses_fast_path


@pytest.mark.parametrize("sentence", SENTENCES)
def test_fast_path_matches_pipeline_probabilities_and_label(
    pipeline: object, sentence: str
) -> None:
    scorer = LinearTextScorer.from_pipeline(pipeline)
    assert scorer is not None
    expected = pipeline.predict_proba([sentence])[0]  # type: ignore[attr-defined]
    got = scorer.predict_proba(sentence)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12, err_msg=sentence)
    fast = SentimentModel(pipeline, "x")
    slow = SentimentModel(pipeline, "x", fast_path=False)
    assert fast.predict(sentence) == slow.predict(sentence), sentence
    assert fast.predict_proba(sentence)[0] == slow.predict_proba(sentence)[0], sentence


def test_unsupported_pipeline_falls_back_to_sklearn() -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    other = make_pipeline(CountVectorizer(), LogisticRegression())
    other.fit(["good", "bad", "ok", "good good", "bad bad", "ok ok"], ["p", "n", "o"] * 2)
    assert LinearTextScorer.from_pipeline(other) is None
    model = SentimentModel(other, "x")
    assert not model.uses_fast_path
    assert model.predict("good") == "p"


def test_load_model_reads_version_from_metrics() -> None:
    model = load_model(MODEL_PATH, METRICS_PATH)
    assert model.version == json.loads(METRICS_PATH.read_text())["model_version"]


def test_the_committed_model_file_is_the_one_training_recorded() -> None:
    record = json.loads(METRICS_PATH.read_text())
    digest = hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()
    assert record["model_sha256"] == digest and record["model_version"] == digest[:12]
    assert record["model_file"] == MODEL_PATH.name == modelfile.MODEL_FILE


def copy_model(tmp_path) -> tuple:  # type: ignore[no-untyped-def]
    model, metrics = tmp_path / MODEL_PATH.name, tmp_path / "metrics.json"
    shutil.copy(MODEL_PATH, model)
    shutil.copy(METRICS_PATH, metrics)
    return model, metrics


def test_a_modified_model_file_is_refused_before_it_is_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, metrics = copy_model(tmp_path)
    data = bytearray(model.read_bytes())
    data[-1] ^= 0x01  # one bit of one coefficient
    model.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="refusing to load a model file that is not the one"):
        load_model(model, metrics)


def test_a_model_without_a_recorded_sha256_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, metrics = copy_model(tmp_path)
    record = json.loads(metrics.read_text())
    del record["model_sha256"]
    metrics.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="records no model_sha256"):
        load_model(model, metrics)
    with pytest.raises(ModelLoadError, match="training record not found"):
        load_model(model, tmp_path / "absent.json")


def test_a_file_that_is_not_a_model_is_refused_even_with_its_sha256(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # A pickle, as the former model.joblib: never unpickled, whatever its recorded digest.
    import pickle

    model, metrics = copy_model(tmp_path)
    model.write_bytes(pickle.dumps({"not": "a model"}))
    record = json.loads(metrics.read_text())
    record["model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    metrics.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="not a safetensors file"):
        load_model(model, metrics)
