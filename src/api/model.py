"""Loading the sentiment model and running single-sentence inference.

The model file is a pickled scikit-learn ``Pipeline`` written by ``src/gen_model.py``; it is
trusted input (joblib files execute code when loaded). Labels always come from
``pipeline.classes_``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import joblib
import sklearn

logger = logging.getLogger(__name__)


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable or not a usable classifier."""


class SentimentModel:
    """A loaded classifier with its labels and version, ready for one-sentence calls."""

    __slots__ = ("_pipeline", "classes", "version")

    def __init__(self, pipeline: Any, version: str) -> None:
        self._pipeline = pipeline
        self.classes: tuple[str, ...] = tuple(str(label) for label in pipeline.classes_)
        self.version = version

    def predict(self, sentence: str) -> str:
        """Return the predicted label (no probabilities computed)."""
        return str(self._pipeline.predict([sentence])[0])

    def predict_proba(self, sentence: str) -> tuple[str, dict[str, float]]:
        """Return the most probable label and the probability of every class."""
        proba = self._pipeline.predict_proba([sentence])[0].tolist()
        best = max(range(len(proba)), key=proba.__getitem__)
        return self.classes[best], dict(zip(self.classes, proba, strict=True))


def read_model_version(metrics_path: Path, model_path: Path) -> str:
    """``model_version`` from metrics.json, else the first 12 hex of the model's sha256."""
    try:
        version = json.loads(metrics_path.read_text(encoding="utf-8"))["model_version"]
        if isinstance(version, str) and version:
            return version
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("no model_version in %s (%s); hashing the model file", metrics_path, exc)
    return hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]


def load_model(model_path: Path, metrics_path: Path) -> SentimentModel:
    """Load and sanity-check the pipeline; raise ModelLoadError with a readable reason."""
    try:
        pipeline = joblib.load(model_path)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model file not found: {model_path}") from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot load model {model_path}: {type(exc).__name__}") from exc
    for attribute in ("predict", "predict_proba", "classes_"):
        if not hasattr(pipeline, attribute):
            raise ModelLoadError(f"{model_path} is not a fitted classifier (no {attribute})")
    # Inputs are always a list of one str: skip repeated finiteness/parameter validation.
    sklearn.set_config(assume_finite=True, skip_parameter_validation=True)
    model = SentimentModel(pipeline, read_model_version(metrics_path, model_path))
    model.predict("warm up")
    model.predict_proba("warm up")
    return model
