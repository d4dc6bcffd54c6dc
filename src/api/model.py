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
import numpy as np

from api.fastpath import LinearTextScorer

logger = logging.getLogger(__name__)

CHECK_SENTENCES: tuple[str, ...] = (
    "I love this, what a wonderful day!",
    "This is the worst flight ever, I hate it.",
    "The meeting is at 3pm in room 4.",
    "@united thanks for nothing #fail http://t.co/x",
    "zzzqqq",
    "!!!",
    "Ça va très bien, merci 😀",
)


class ModelLoadError(RuntimeError):
    """The model file is missing, unreadable or not a usable classifier."""


class SentimentModel:
    """A loaded classifier with its labels and version, ready for one-sentence calls.

    Uses ``LinearTextScorer`` when it reproduces the pipeline on ``CHECK_SENTENCES``,
    the pipeline itself otherwise.
    """

    __slots__ = ("_pipeline", "_scorer", "classes", "version")

    def __init__(self, pipeline: Any, version: str, *, fast_path: bool = True) -> None:
        self._pipeline = pipeline
        self.classes: tuple[str, ...] = tuple(str(label) for label in pipeline.classes_)
        self.version = version
        self._scorer = LinearTextScorer.from_pipeline(pipeline) if fast_path else None
        if self._scorer is not None and not self._scorer_matches_pipeline():
            logger.warning("fast scoring path disagrees with the pipeline; not using it")
            self._scorer = None

    @property
    def uses_fast_path(self) -> bool:
        return self._scorer is not None

    def _scorer_matches_pipeline(self) -> bool:
        assert self._scorer is not None
        expected = self._pipeline.predict_proba(list(CHECK_SENTENCES))
        got = np.array([self._scorer.predict_proba(s) for s in CHECK_SENTENCES])
        return bool(np.allclose(got, expected, rtol=0.0, atol=1e-9))

    def predict(self, sentence: str) -> str:
        """Return the predicted label (no probabilities computed)."""
        if self._scorer is not None:
            return self.classes[self._scorer.predict_index(sentence)]
        return str(self._pipeline.predict([sentence])[0])

    def predict_proba(self, sentence: str) -> tuple[str, dict[str, float]]:
        """Return the most probable label and the probability of every class."""
        if self._scorer is not None:
            proba = self._scorer.predict_proba(sentence).tolist()
        else:
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
    model = SentimentModel(pipeline, read_model_version(metrics_path, model_path))
    model.predict("warm up")
    model.predict_proba("warm up")
    return model
