"""Loading the sentiment model and running single-sentence inference.

The model file is a fitted TF-IDF + LogisticRegression pipeline stored by ``api.modelfile``
(safetensors: loading it runs no code from the file), written by ``src/gen_model.py`` with its
sha256 in metrics.json; a file whose sha256 differs from the recorded one is refused before it is
read. The API scores it without scikit-learn (``api.fastpath``), and only once those scores match
the ones training recorded with scikit-learn for ``CHECK_SENTENCES`` (metrics.json
``scoring_check``). Labels always come from the model's classes.
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
    known_words: int  # word tokens of the sentence in the vocabulary
    words: int  # all its word tokens


class SentimentModel:
    """A loaded classifier with its labels and version, ready for one-sentence calls."""

    __slots__ = ("_scorer", "classes", "reference", "version")

    def __init__(
        self,
        model: modelfile.LinearTextModel,
        version: str,
        *,
        reference: dict[str, Any] | None = None,
    ) -> None:
        # What training measured on held-out data (metrics.json "reference"): the drift baseline.
        self.reference: dict[str, Any] = reference or {}
        self.classes: tuple[str, ...] = tuple(model.classes)
        self.version = version
        self._scorer = LinearTextScorer.from_model(model)

    @classmethod
    def from_pipeline(cls, pipeline: Any, version: str) -> SentimentModel:
        """The API's scoring of a fitted scikit-learn pipeline (training measures with it)."""
        return cls(modelfile.from_pipeline(pipeline), version)

    def check_proba(self) -> list[list[float]]:
        """Every class's probability for each of ``CHECK_SENTENCES``."""
        return [self._scorer.predict_proba(sentence).tolist() for sentence in CHECK_SENTENCES]

    def predict(self, sentence: str) -> str:
        """Return the predicted label (no probabilities computed)."""
        return self.classes[self._scorer.predict_index(sentence)]

    def classify(self, sentence: str, *, proba: bool = False) -> Prediction:
        """The label (with ``proba`` also every class's probability) and the sentence's word
        tokens known to the vocabulary and all of them, from one scoring pass."""
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
        proba = self._scorer.predict_proba(sentence).tolist()
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


def verify_scoring(model: SentimentModel, record: dict[str, Any], metrics_path: Path) -> None:
    """ModelLoadError unless the API's scores for ``CHECK_SENTENCES`` are the ones training
    recorded with scikit-learn (metrics.json ``scoring_check``), to 1e-9."""
    check = record.get("scoring_check")
    if not isinstance(check, dict) or check.get("sentences") != list(CHECK_SENTENCES):
        raise ModelLoadError(
            f"{metrics_path} records no scoring_check for the API's check sentences: retrain "
            "the model with this version of src/gen_model.py (make model)"
        )
    try:
        expected = np.array(check["proba"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{metrics_path}: unreadable scoring_check: {exc}") from exc
    got = np.array(model.check_proba())
    if expected.shape != got.shape or not np.allclose(got, expected, rtol=0.0, atol=1e-9):
        worst = float(np.abs(got - expected).max()) if expected.shape == got.shape else None
        raise ModelLoadError(
            f"the API's scores for the check sentences differ from the ones training recorded in "
            f"{metrics_path} (largest difference {worst}, shapes {got.shape}, {expected.shape}): "
            "refusing to serve a model the API would not score as trained"
        )


def load_model(model_path: Path, metrics_path: Path) -> SentimentModel:
    """Verify, load and check the model; raise ModelLoadError with a readable reason."""
    record = read_training_record(metrics_path)
    digest = verify_model_file(model_path, record, metrics_path)
    try:
        data = modelfile.read(model_path)
    except modelfile.ModelFileError as exc:
        raise ModelLoadError(f"cannot load model {model_path}: {exc}") from exc
    version = record.get("model_version")
    if not isinstance(version, str) or not version:
        version = digest[:12]
    reference = record.get("reference")
    model = SentimentModel(
        data, version, reference=reference if isinstance(reference, dict) else None
    )
    verify_scoring(model, record, metrics_path)
    return model
