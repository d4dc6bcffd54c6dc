"""Metrics: macro-F1 on label indices (CV), held-out scores, inference latency, versions."""

from __future__ import annotations

import importlib.metadata
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

LATENCY_CALLS = 2000
VERSIONED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl")


def macro_f1_of_indices(y: Any, predicted: Any, n_classes: int) -> float:
    """Macro-F1 of integer labels (same value as sklearn's f1_score(average='macro'))."""
    import numpy as np

    confusion = np.bincount(y * n_classes + predicted, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    true_positive = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return float(f1.mean())


def evaluate(pipeline: Any, x_test: list[str], y_test: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support on the held-out part."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    predicted = pipeline.predict(x_test)
    classes = [str(label) for label in pipeline.classes_]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, predicted, labels=classes, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 6),
        "macro_f1": round(float(f1_score(y_test, predicted, average="macro")), 6),
        "per_class": {
            label: {
                "precision": round(float(p), 6),
                "recall": round(float(r), 6),
                "f1": round(float(f), 6),
                "support": int(n),
            }
            for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
        },
    }


def _median_p99_ms(method: Callable[[Any], Any], inputs: Sequence[Any]) -> tuple[float, float]:
    import numpy as np

    for item in inputs[:50]:
        method(item)
    timings = np.empty(LATENCY_CALLS)
    for i in range(LATENCY_CALLS):
        item = inputs[i % len(inputs)]
        started = time.perf_counter()
        method(item)
        timings[i] = time.perf_counter() - started
    return (
        round(float(np.median(timings)) * 1000, 3),
        round(float(np.percentile(timings, 99)) * 1000, 3),
    )


def measure_latency(pipeline: Any, sentences: Sequence[str]) -> dict[str, Any]:
    """Single-sentence latency (median/p99 ms) of the sklearn pipeline and of the API's path."""
    from api.model import SentimentModel

    served = SentimentModel.from_pipeline(pipeline, "n/a")
    one_element_lists = [[sentence] for sentence in sentences]
    result: dict[str, Any] = {}
    for name, method, inputs in (
        ("pipeline_predict", pipeline.predict, one_element_lists),
        ("pipeline_predict_proba", pipeline.predict_proba, one_element_lists),
        ("api_predict", served.predict, sentences),
        ("api_predict_proba", served.predict_proba, sentences),
    ):
        median, p99 = _median_p99_ms(method, inputs)
        result[name] = {"median_ms": median, "p99_ms": p99}
    return result


def drift_reference(pipeline: Any, sentences: Sequence[str]) -> dict[str, Any]:
    """What the API's drift signals are compared with (roles/monitoring's drift rules): on the
    held-out part, the share of word tokens outside the vocabulary and the predicted label mix,
    measured by the API's own scoring path."""
    from collections import Counter

    from api.model import SentimentModel

    served = SentimentModel.from_pipeline(pipeline, "n/a")
    known = words = 0
    labels: Counter[str] = Counter()
    for sentence in sentences:
        prediction = served.classify(sentence)
        known += prediction.known_words
        words += prediction.words
        labels[prediction.label] += 1
    return {
        "source": "held-out part, the API's scoring path",
        "oov_share": round(1 - known / words, 6) if words else 0.0,
        "label_share": {
            label: round(labels[label] / len(sentences), 6) for label in served.classes
        },
    }


def scoring_check(pipeline: Any) -> dict[str, Any]:
    """scikit-learn's probabilities for the API's check sentences: the API refuses to serve the
    model file unless its own scoring path (no scikit-learn) gives the same (api.model)."""
    from api.model import CHECK_SENTENCES

    return {
        "source": "the fitted sklearn Pipeline's predict_proba",
        "sentences": list(CHECK_SENTENCES),
        "proba": pipeline.predict_proba(list(CHECK_SENTENCES)).tolist(),
    }


def library_versions() -> dict[str, str]:
    versions = {name: importlib.metadata.version(name) for name in VERSIONED_LIBRARIES}
    versions["python"] = platform.python_version()
    return versions
