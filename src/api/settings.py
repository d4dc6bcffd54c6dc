"""Runtime configuration of the sentiment API, parsed once from the environment.

Every variant runs the same code; ``API_VARIANT`` switches what ``/predict`` returns: ``v1`` the
label, ``v2`` (debug) also probabilities and metadata, ``candidate`` the label (v1's shape) of a
candidate model, which also scores each sentence with the production model and counts how often
they agree (shadow traffic and canary; ``API_PRODUCTION_MODEL_PATH`` is then required).

| variable                 | default                                   |
| ------------------------ | ----------------------------------------- |
| ``API_VARIANT``          | ``v1`` (``v1`` or ``v2``, else startup error) |
| ``API_REPLICA_ID``       | the host name                             |
| ``API_MODEL_PATH``       | ``<repo>/model/model.safetensors``        |
| ``API_MODEL_METRICS_PATH`` | ``metrics.json`` beside the model       |
| ``API_MAX_SENTENCE_CHARS`` | ``5000``                                |
| ``API_PRODUCTION_MODEL_PATH`` | candidate only: the production model   |
| ``API_PRODUCTION_METRICS_PATH`` | ``metrics.json`` beside it           |
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

VARIANTS: tuple[str, ...] = ("v1", "v2", "candidate")
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / "model" / "model.safetensors"
DEFAULT_METRICS_PATH = DEFAULT_MODEL_PATH.with_name("metrics.json")
DEFAULT_MAX_SENTENCE_CHARS = 5000


class SettingsError(ValueError):
    """Raised when the environment holds an invalid configuration."""


@dataclass(frozen=True, slots=True)
class Settings:
    variant: str = "v1"
    replica_id: str = ""
    model_path: Path = DEFAULT_MODEL_PATH
    metrics_path: Path = DEFAULT_METRICS_PATH
    max_sentence_chars: int = DEFAULT_MAX_SENTENCE_CHARS
    production_model_path: Path | None = None
    production_metrics_path: Path | None = None

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise SettingsError(
                f"API_VARIANT must be one of {', '.join(VARIANTS)}; got {self.variant!r}"
            )
        if self.compares and self.production_model_path is None:
            raise SettingsError(
                "API_VARIANT=candidate compares with the production model: "
                "set API_PRODUCTION_MODEL_PATH"
            )
        if self.production_model_path is not None and self.production_metrics_path is None:
            object.__setattr__(
                self,
                "production_metrics_path",
                self.production_model_path.with_name("metrics.json"),
            )
        if self.max_sentence_chars < 1:
            raise SettingsError(
                f"API_MAX_SENTENCE_CHARS must be a positive integer; got {self.max_sentence_chars}"
            )
        if not self.replica_id:
            object.__setattr__(self, "replica_id", socket.gethostname())
        # Header values must be latin-1 encodable; refuse anything else early.
        try:
            self.replica_id.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise SettingsError(
                f"API_REPLICA_ID must be latin-1 text; got {self.replica_id!r}"
            ) from exc

    @property
    def debug(self) -> bool:
        """True for the debug variant, which returns probabilities and metadata."""
        return self.variant == "v2"

    @property
    def compares(self) -> bool:
        """True for the candidate, which also scores with the production model."""
        return self.variant == "candidate"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        model_path = Path(env.get("API_MODEL_PATH") or DEFAULT_MODEL_PATH)
        metrics_path = Path(
            env.get("API_MODEL_METRICS_PATH") or model_path.with_name("metrics.json")
        )
        raw_max = env.get("API_MAX_SENTENCE_CHARS") or str(DEFAULT_MAX_SENTENCE_CHARS)
        try:
            max_chars = int(raw_max)
        except ValueError as exc:
            raise SettingsError(
                f"API_MAX_SENTENCE_CHARS must be a positive integer; got {raw_max!r}"
            ) from exc
        production = env.get("API_PRODUCTION_MODEL_PATH")
        production_metrics = env.get("API_PRODUCTION_METRICS_PATH")
        return cls(
            production_model_path=Path(production) if production else None,
            production_metrics_path=Path(production_metrics) if production_metrics else None,
            variant=(env.get("API_VARIANT") or "v1").strip(),
            replica_id=(env.get("API_REPLICA_ID") or "").strip(),
            model_path=model_path,
            metrics_path=metrics_path,
            max_sentence_chars=max_chars,
        )
