"""Loading the sentiment model and running single-sentence inference.

The model file is a scikit-learn ``Pipeline`` stored by ``api.modelfile`` (safetensors: loading
it runs no code from the file), written by ``src/gen_model.py`` with its sha256 in metrics.json;
a file whose sha256 differs from the recorded one is refused before it is read. Labels always
come from ``pipeline.classes_``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from api import modelfile
from api.fastpath import LinearTextScorer, softmax

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


class Prediction(NamedTuple):
    label: str
    proba: dict[str, float] | None  # every class's probability, when asked for
    known_words: int  # word tokens of the sentence in the vocabulary (0 without the fast path)
    words: int  # all its word tokens (0 without the fast path)


class SentimentModel:
    """A loaded classifier with its labels and version, ready for one-sentence calls.

    Uses ``LinearTextScorer`` when it reproduces the pipeline on ``CHECK_SENTENCES``,
    the pipeline itself otherwise.
    """

    __slots__ = ("_pipeline", "_scorer", "classes", "reference", "version")

    def __init__(
        self,
        pipeline: Any,
        version: str,
        *,
        fast_path: bool = True,
        reference: dict[str, Any] | None = None,
    ) -> None:
        self._pipeline = pipeline
        # What training measured on held-out data (metrics.json "reference"): the drift baseline.
        self.reference: dict[str, Any] = reference or {}
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

    def classify(self, sentence: str, *, proba: bool = False) -> Prediction:
        """The label (with ``proba`` also every class's probability) and the sentence's word
        tokens known to the vocabulary and all of them, from one scoring pass."""
        if self._scorer is None:
            if proba:
                label, probabilities = self.predict_proba(sentence)
                return Prediction(label, probabilities, 0, 0)
            return Prediction(self.predict(sentence), None, 0, 0)
        scores, known, words = self._scorer.score(sentence)
        if not proba:
            return Prediction(self.classes[int(scores.argmax())], None, known, words)
        values = softmax(scores).tolist()
        best = max(range(len(values)), key=values.__getitem__)
        return Prediction(
            self.classes[best], dict(zip(self.classes, values, strict=True)), known, words
        )

    def predict_proba(self, sentence: str) -> tuple[str, dict[str, float]]:
        """Return the most probable label and the probability of every class."""
        if self._scorer is not None:
            proba = self._scorer.predict_proba(sentence).tolist()
        else:
            proba = self._pipeline.predict_proba([sentence])[0].tolist()
        best = max(range(len(proba)), key=proba.__getitem__)
        return self.classes[best], dict(zip(self.classes, proba, strict=True))


def read_training_record(metrics_path: Path) -> dict[str, Any]:
    """metrics.json, as training wrote it; ModelLoadError when it is missing or not an object."""
    try:
        record = json.loads(metrics_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"training record not found: {metrics_path}") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"unreadable training record {metrics_path}: {exc}") from exc
    if not isinstance(record, dict):
        raise ModelLoadError(f"{metrics_path} is not a JSON object")
    return record


def verify_model_file(model_path: Path, record: dict[str, Any], metrics_path: Path) -> str:
    """The model file's sha256 when it is the one training recorded; ModelLoadError otherwise."""
    expected = record.get("model_sha256")
    if not isinstance(expected, str) or len(expected) != 64:
        raise ModelLoadError(
            f"{metrics_path} records no model_sha256: refusing to load {model_path}"
        )
    try:
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model file not found: {model_path}") from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot read model {model_path}: {exc}") from exc
    if digest != expected:
        raise ModelLoadError(
            f"{model_path} has sha256 {digest}, training recorded {expected} in {metrics_path}: "
            "refusing to load a model file that is not the one trained"
        )
    return digest


def load_model(model_path: Path, metrics_path: Path) -> SentimentModel:
    """Verify, load and sanity-check the pipeline; raise ModelLoadError with a readable reason."""
    record = read_training_record(metrics_path)
    digest = verify_model_file(model_path, record, metrics_path)
    try:
        pipeline = modelfile.load(model_path)
    except modelfile.ModelFileError as exc:
        raise ModelLoadError(f"cannot load model {model_path}: {exc}") from exc
    version = record.get("model_version")
    if not isinstance(version, str) or not version:
        version = digest[:12]
    reference = record.get("reference")
    model = SentimentModel(
        pipeline, version, reference=reference if isinstance(reference, dict) else None
    )
    model.predict("warm up")
    model.predict_proba("warm up")
    return model
