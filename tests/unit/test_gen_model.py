"""The model training steps (src/model_training, run by src/gen_model.py) on tiny in-memory data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from model_training import data, evaluation, features, training
from model_training.card import render_model_card

REPO = Path(__file__).resolve().parents[2]


def test_deduplicate_keeps_one_copy_and_drops_conflicting_and_empty_texts() -> None:
    rows = [
        ("good day", "positive"),
        ("  good day ", "positive"),  # same text once stripped
        ("bad day", "negative"),
        ("a day", "neutral"),
        ("a day", "positive"),  # conflicting label: dropped entirely
        ("   ", "neutral"),
    ]
    texts, labels, stats = data.deduplicate(rows)
    assert list(zip(texts, labels, strict=True)) == [
        ("bad day", "negative"),
        ("good day", "positive"),
    ]
    assert stats == data.DedupStats(rows=6, empty=1, duplicates=2, conflicting_texts=1, kept=2)


def test_deduplicate_does_not_depend_on_row_order() -> None:
    rows = [(f"text {i}", "positive" if i % 2 else "negative") for i in range(20)]
    assert data.deduplicate(rows)[:2] == data.deduplicate(reversed(rows))[:2]


def test_split_is_stratified_80_20_and_deterministic() -> None:
    texts = [f"t{i}" for i in range(100)]
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    first = data.split(texts, labels, seed=7)
    assert first == data.split(texts, labels, seed=7)
    x_train, x_test, _, y_test = first
    assert (len(x_train), len(x_test)) == (80, 20)
    assert Counter(y_test) == {"a": 10, "b": 6, "c": 4}
    assert not set(x_train) & set(x_test)


def test_pipeline_learns_labels_from_data() -> None:
    texts = ["love it", "great stuff", "hate it", "awful stuff", "it is a table", "a chair"] * 5
    labels = ["pos", "pos", "neg", "neg", "neu", "neu"] * 5
    pipeline = features.build_pipeline(c=1.0, seed=0).fit(texts, labels)
    assert list(pipeline.classes_) == ["neg", "neu", "pos"]
    assert pipeline.predict(["love it"])[0] == "pos"


def test_the_model_file_is_byte_deterministic_and_loads_the_same_pipeline(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from api import modelfile

    texts = ["love it", "hate it", "a table", "Ça va très bien 😀"] * 4
    labels = ["p", "n", "o", "p"] * 4
    pipeline = features.build_pipeline(c=1.0, seed=0).fit(texts, labels)
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    modelfile.save(pipeline, first)
    modelfile.save(features.build_pipeline(c=1.0, seed=0).fit(texts, labels), second)
    assert first.read_bytes() == second.read_bytes()
    loaded = modelfile.load(first)
    probe = [*texts, "love the table", "zzz"]
    assert np.array_equal(loaded.predict_proba(probe), pipeline.predict_proba(probe))
    assert list(loaded.classes_) == list(pipeline.classes_)


def test_nb_weights_favour_class_specific_features() -> None:
    import numpy as np
    import scipy.sparse

    # feature 0 only in class "a", feature 1 in every document, feature 2 only in class "b"
    matrix = scipy.sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1.0]]))
    labels = ["a", "a", "b", "b"]
    assert np.array_equal(features.nb_weights(matrix, labels, beta=0.0), np.ones(3))
    full = features.nb_weights(matrix, labels, beta=1.0)
    assert full[1] == 0.0 and full[0] > 0.0 and np.isclose(full[0], full[2])
    half = features.nb_weights(matrix, labels, beta=0.5)
    assert np.allclose(half, 0.5 + 0.5 * full)


def test_fitted_weights_are_folded_into_coef() -> None:
    import numpy as np
    import scipy.sparse

    rng = np.random.default_rng(0)
    matrix = scipy.sparse.csr_matrix(rng.random((30, 5)))
    labels = ["a", "b", "c"] * 10
    weights = np.array([0.5, 1.0, 2.0, 1.5, 0.1])
    folded = features.fit_weighted_classifier(matrix, labels, weights, c=1.0, seed=0)
    plain = features.build_classifier(1.0, 0).fit(matrix @ scipy.sparse.diags(weights), labels)
    assert np.allclose(
        folded.decision_function(matrix),
        plain.decision_function(matrix @ scipy.sparse.diags(weights)),
    )


def test_macro_f1_of_indices_matches_sklearn() -> None:
    import numpy as np
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    y, predicted = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    predicted[:5] = 0
    expected = f1_score(y, predicted, average="macro")
    assert np.isclose(evaluation.macro_f1_of_indices(y, predicted, 3), expected)
    # a class never predicted nor present scores 0, as sklearn with zero_division=0
    assert evaluation.macro_f1_of_indices(np.array([0, 1]), np.array([0, 1]), 3) == 2 / 3


def test_tune_offsets_recovers_a_shifted_class_and_keeps_zero_when_nothing_helps() -> None:
    import numpy as np

    y = np.array([0, 1, 2] * 20)
    scores = np.eye(3)[y] * 2.0
    scores[:, 2] -= 2.5  # class 2 never wins without an offset
    offsets, best = training.tune_offsets(scores, y)
    assert offsets[0] == 0.0 and best == 1.0
    assert (scores + offsets).argmax(axis=1).tolist() == y.tolist()
    perfect, score = training.tune_offsets(np.eye(3)[y], y)
    assert perfect.tolist() == [0.0, 0.0, 0.0] and score == 1.0


def test_trained_model_is_a_plain_pipeline_the_fast_path_reproduces() -> None:
    import numpy as np
    from sklearn.pipeline import Pipeline

    from api.model import CHECK_SENTENCES, SentimentModel

    texts = ["love it", "great stuff", "hate it", "awful stuff", "it is a table", "a chair"] * 5
    labels = ["pos", "pos", "neg", "neg", "neu", "neu"] * 5
    offsets = {"neg": 0.0, "neu": 0.3, "pos": -0.2}
    pipeline = training.train(texts, labels, beta=0.5, c=1.0, offsets=offsets, seed=0)
    assert isinstance(pipeline, Pipeline) and list(pipeline.classes_) == ["neg", "neu", "pos"]
    assert pipeline.predict(["love it"])[0] == "pos"
    no_offsets = training.train(
        texts, labels, beta=0.5, c=1.0, offsets=dict.fromkeys(offsets, 0.0), seed=0
    )
    shift = pipeline.decision_function(texts) - no_offsets.decision_function(texts)
    assert np.allclose(shift, [0.0, 0.3, -0.2])
    served = SentimentModel.from_pipeline(pipeline, version="test")
    for sentence in (*CHECK_SENTENCES, "love it", "awful table"):
        _, proba = served.predict_proba(sentence)
        assert np.allclose(list(proba.values()), pipeline.predict_proba([sentence])[0], atol=1e-9)


def test_model_card_renders_the_committed_card_from_the_committed_metrics() -> None:
    metrics = json.loads((REPO / "model" / "metrics.json").read_text(encoding="utf-8"))
    expected = (REPO / "model" / "MODEL_CARD.md").read_text(encoding="utf-8")
    rendered = render_model_card(metrics)
    assert rendered == expected, "model/MODEL_CARD.md is not what card.py renders from metrics.json"


def test_entry_point_keeps_its_command_line() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "src" / "gen_model.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "--out" in run.stdout and "--seed" in run.stdout, run.stdout
