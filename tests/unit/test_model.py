"""The API's scoring path gives the same answers as the committed sklearn Pipeline."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from conftest import METRICS_PATH, MODEL_PATH

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
    return joblib.load(MODEL_PATH)


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
    import json

    model = load_model(MODEL_PATH, METRICS_PATH)
    assert model.version == json.loads(METRICS_PATH.read_text())["model_version"]


def test_load_model_hashes_the_file_when_metrics_are_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    model = load_model(MODEL_PATH, tmp_path / "absent.json")
    assert model.version == hashlib.sha256(MODEL_PATH.read_bytes()).hexdigest()[:12]


def test_load_model_refuses_an_object_that_is_not_a_classifier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "model.joblib"
    joblib.dump({"not": "a model"}, path)
    with pytest.raises(ModelLoadError, match="not a fitted classifier"):
        load_model(path, tmp_path / "metrics.json")
