"""The API scores the committed model as its sklearn Pipeline does, without importing sklearn, and
refuses a model file or a training record it cannot trust."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import METRICS_PATH, MODEL_PATH, REPO

from api import modelfile
from api.model import CHECK_SENTENCES, ModelLoadError, SentimentModel, load_model

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


@pytest.fixture(scope="module")
def served() -> SentimentModel:
    return load_model(MODEL_PATH, METRICS_PATH)


@pytest.mark.parametrize("sentence", SENTENCES)
def test_the_api_scores_as_the_pipeline_does(
    pipeline: object, served: SentimentModel, sentence: str
) -> None:
    expected = pipeline.predict_proba([sentence])[0]  # type: ignore[attr-defined]
    label, proba = served.predict_proba(sentence)
    np.testing.assert_allclose(list(proba.values()), expected, rtol=0, atol=1e-12, err_msg=sentence)
    assert list(proba) == list(pipeline.classes_)  # type: ignore[attr-defined]
    assert label == served.predict(sentence) == pipeline.predict([sentence])[0], sentence  # type: ignore[attr-defined]


def test_serving_imports_no_sklearn() -> None:
    """The API (app, model file, scoring) starts without scikit-learn or SciPy in the process."""
    code = (
        "import sys; from pathlib import Path; import api.app; from api.model import load_model;"
        f"load_model(Path({str(MODEL_PATH)!r}), Path({str(METRICS_PATH)!r}));"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'joblib'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout


def test_a_pipeline_the_api_cannot_score_is_refused_when_saved(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    texts, labels = ["good", "bad", "ok", "good good", "bad bad", "ok ok"], ["p", "n", "o"] * 2
    cases = {
        "is not a TfidfVectorizer": FeatureUnion([("w", CountVectorizer())]),
        "only l2-normalised": FeatureUnion([("w", TfidfVectorizer(norm="l1"))]),
    }
    for message, union in cases.items():
        other = make_pipeline(union, LogisticRegression()).fit(texts, labels)
        with pytest.raises(modelfile.ModelFileError, match=message):
            modelfile.save(other, tmp_path / "m.safetensors")
    binary = make_pipeline(FeatureUnion([("w", TfidfVectorizer())]), LogisticRegression())
    binary.fit(texts[:2] * 2, ["p", "n"] * 2)
    with pytest.raises(modelfile.ModelFileError, match="2 classes"):
        modelfile.save(binary, tmp_path / "m.safetensors")


def test_the_training_record_holds_sklearn_scores_of_the_check_sentences(pipeline: object) -> None:
    check = json.loads(METRICS_PATH.read_text())["scoring_check"]
    assert check["sentences"] == list(CHECK_SENTENCES)
    expected = pipeline.predict_proba(list(CHECK_SENTENCES))  # type: ignore[attr-defined]
    np.testing.assert_allclose(check["proba"], expected, rtol=0, atol=1e-15)


def test_a_model_scored_otherwise_than_training_recorded_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model, metrics = copy_model(tmp_path)
    record = json.loads(metrics.read_text())
    record["scoring_check"]["proba"][2][0] += 1e-6
    metrics.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="differ from the ones training recorded"):
        load_model(model, metrics)
    del record["scoring_check"]
    metrics.write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="records no scoring_check"):
        load_model(model, metrics)


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
