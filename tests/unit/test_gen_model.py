"""Pure helpers of src/gen_model.py on tiny in-memory data."""

from __future__ import annotations

from collections import Counter

import gen_model


def test_deduplicate_keeps_one_copy_and_drops_conflicting_and_empty_texts() -> None:
    rows = [
        ("good day", "positive"),
        ("  good day ", "positive"),  # same text once stripped
        ("bad day", "negative"),
        ("a day", "neutral"),
        ("a day", "positive"),  # conflicting label: dropped entirely
        ("   ", "neutral"),
    ]
    texts, labels, stats = gen_model.deduplicate(rows)
    assert list(zip(texts, labels, strict=True)) == [
        ("bad day", "negative"),
        ("good day", "positive"),
    ]
    assert stats == gen_model.DedupStats(rows=6, empty=1, duplicates=2, conflicting_texts=1, kept=2)


def test_deduplicate_does_not_depend_on_row_order() -> None:
    rows = [(f"text {i}", "positive" if i % 2 else "negative") for i in range(20)]
    assert gen_model.deduplicate(rows)[:2] == gen_model.deduplicate(reversed(rows))[:2]


def test_split_is_stratified_80_20_and_deterministic() -> None:
    texts = [f"t{i}" for i in range(100)]
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    first = gen_model.split(texts, labels, seed=7)
    assert first == gen_model.split(texts, labels, seed=7)
    x_train, x_test, _, y_test = first
    assert (len(x_train), len(x_test)) == (80, 20)
    assert Counter(y_test) == {"a": 10, "b": 6, "c": 4}
    assert not set(x_train) & set(x_test)


def test_pipeline_learns_labels_from_data() -> None:
    texts = ["love it", "great stuff", "hate it", "awful stuff", "it is a table", "a chair"] * 5
    labels = ["pos", "pos", "neg", "neg", "neu", "neu"] * 5
    pipeline = gen_model.build_pipeline(c=1.0, seed=0).fit(texts, labels)
    assert list(pipeline.classes_) == ["neg", "neu", "pos"]
    assert pipeline.predict(["love it"])[0] == "pos"


def test_process_specific_cache_is_dropped_before_dumping() -> None:
    texts = ["love it", "hate it", "a table"] * 4
    pipeline = gen_model.build_pipeline(c=1.0, seed=0).fit(texts, ["p", "n", "o"] * 4)
    vectorizers = [t for _, t in pipeline.named_steps["features"].transformer_list]
    assert any(hasattr(v, "_stop_words_id") for v in vectorizers)  # id() of an object
    gen_model.drop_process_specific_state(pipeline)
    assert not any(hasattr(v, "_stop_words_id") for v in vectorizers)
    assert pipeline.predict(["love it"])[0] == "p"
