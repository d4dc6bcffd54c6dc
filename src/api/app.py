"""The sentiment API's app factory, shared by every variant.

Run with ``uvicorn api.app:create_app --factory``. ``API_VARIANT=v1`` answers ``/predict`` with
the label only; ``API_VARIANT=v2`` (debug) adds class probabilities, model version, variant,
replica and inference time; ``API_VARIANT=candidate`` answers as v1 with a candidate model and
scores every sentence with the production model too, counting agreements and label flips. See
``api.settings`` for configuration and ``api.errors`` for the error contract.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import perf_counter

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response

from api.errors import JSON, ApiError, install_error_handlers
from api.metrics import Metrics, MetricsEndpoint, ObservabilityMiddleware
from api.model import ModelLoadError, Prediction, SentimentModel, load_model
from api.settings import Settings
from api.validation import check_content_length, check_content_type, parse_sentence

logger = logging.getLogger(__name__)

PREDICTION_KEY = "prediction value"  # compatibility contract: the key holds a space
# Set by the gateway on the copies of requests it mirrors to the candidate (and cleared on others).
SHADOW_HEADER = "x-fortress-shadow"


class _Loaded:
    """What the app knows once the model is loaded; ``None`` in ``app.state.loaded`` before."""

    __slots__ = (
        "agreements",
        "comparisons",
        "health_body",
        "known_words",
        "model",
        "prediction_counters",
        "production",
        "sentence_chars",
        "unknown_words",
        "v1_bodies",
    )

    def __init__(
        self,
        model: SentimentModel,
        settings: Settings,
        metrics: Metrics,
        production: SentimentModel | None = None,
    ) -> None:
        self.model = model
        # The candidate also scores with this one (None for v1 and v2).
        self.production = production
        self.comparisons = {
            (traffic, before, after): metrics.comparisons.labels(traffic, before, after)
            for traffic in ("shadow", "canary")
            for before in (production.classes if production else ())
            for after in model.classes
        }
        self.agreements = (
            {traffic: metrics.agreements.labels(traffic) for traffic in ("shadow", "canary")}
            if production is not None
            else {}
        )
        # v1 answers are one of a few fixed documents: serialise them once.
        self.v1_bodies = {label: orjson.dumps({PREDICTION_KEY: label}) for label in model.classes}
        self.prediction_counters = {
            label: metrics.predictions.labels(label) for label in model.classes
        }
        self.known_words = metrics.words.labels("known")
        self.unknown_words = metrics.words.labels("unknown")
        self.sentence_chars = metrics.sentence_chars
        reference = model.reference
        if isinstance(reference.get("oov_share"), int | float):
            metrics.reference_oov_share.set(reference["oov_share"])
        for label, share in (reference.get("label_share") or {}).items():
            if label in model.classes and isinstance(share, int | float):
                metrics.reference_label_share.labels(label).set(share)
        self.health_body = orjson.dumps(
            {
                "status": "ok",
                "variant": settings.variant,
                "replica": settings.replica_id,
                "model_version": model.version,
            }
        )

    def observe(self, prediction: Prediction, chars: int) -> None:
        """Count what drift is judged on: the label, word coverage and length, not the text."""
        self.prediction_counters[prediction.label].inc()
        self.known_words.inc(prediction.known_words)
        self.unknown_words.inc(prediction.words - prediction.known_words)
        self.sentence_chars.observe(chars)

    def compare(self, sentence: str, label: str, shadow: bool) -> None:
        """The candidate: production's label for the same sentence, counted against ours."""
        assert self.production is not None
        before = self.production.classify(sentence).label
        traffic = "shadow" if shadow else "canary"
        self.comparisons[traffic, before, label].inc()
        if before == label:
            self.agreements[traffic].inc()


def load_models(settings: Settings) -> tuple[SentimentModel, SentimentModel | None]:
    """The variant's model and, for the candidate, the production model with the same classes."""
    model = load_model(settings.model_path, settings.metrics_path)
    if not settings.compares:
        return model, None
    assert settings.production_model_path and settings.production_metrics_path
    try:
        production = load_model(settings.production_model_path, settings.production_metrics_path)
    except ModelLoadError as exc:
        raise ModelLoadError(f"production model: {exc}") from exc
    if production.classes != model.classes:
        raise ModelLoadError(
            f"the candidate's classes {model.classes} differ from production's "
            f"{production.classes}: their labels cannot be compared"
        )
    return model, production


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            model, production = load_models(settings)
        except ModelLoadError as exc:
            logger.error("model not loaded, answering 503: %s", exc)
            app.state.load_error = str(exc)
        except Exception:
            logger.exception("model not loaded, answering 503")
        else:
            app.state.loaded = _Loaded(model, settings, metrics, production)
            metrics.model_info.labels(model.version, settings.variant, settings.replica_id).set(1)
            if production is not None:
                metrics.production_info.labels(production.version).set(1)
            logger.info(
                "model %s loaded (classes %s), variant %s, replica %s",
                model.version,
                ", ".join(model.classes),
                settings.variant,
                settings.replica_id,
            )
        yield

    app = FastAPI(
        title="Sentiment API",
        version=settings.variant,
        lifespan=lifespan,
        # No interactive docs and no schema: the README documents the contract, and a schema
        # would describe the service to anyone who reaches a replica.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.loaded = None
    app.state.load_error = ""
    install_error_handlers(app)
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        replica=settings.replica_id,
        variant=settings.variant,
    )

    def loaded_or_503() -> _Loaded:
        loaded: _Loaded | None = app.state.loaded
        if loaded is None:
            raise ApiError(503, "model_not_loaded", "the model is not loaded")
        return loaded

    max_chars = settings.max_sentence_chars
    meta = {"variant": settings.variant, "replica": settings.replica_id}

    metrics.expect("/predict", "POST")

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        """Classify one sentence: ``{"sentence": "..."}`` → ``{"prediction value": label}``."""
        loaded = loaded_or_503()
        headers = request.headers
        check_content_type(headers.get("content-type"))
        check_content_length(headers.get("content-length"), max_chars)
        sentence = parse_sentence(await request.body(), max_chars)
        if settings.debug:
            started = perf_counter()
            prediction = loaded.model.classify(sentence, proba=True)
            elapsed_ms = (perf_counter() - started) * 1000.0
            body = orjson.dumps(
                {
                    PREDICTION_KEY: prediction.label,
                    "prediction_proba_dict": prediction.proba,
                    "model_version": loaded.model.version,
                    **meta,
                    "inference_ms": round(elapsed_ms, 4),
                }
            )
        else:
            prediction = loaded.model.classify(sentence)
            body = loaded.v1_bodies[prediction.label]
            if loaded.production is not None:
                shadow = headers.get(SHADOW_HEADER) is not None
                loaded.compare(sentence, prediction.label, shadow)
        loaded.observe(prediction, len(sentence))
        return Response(body, media_type=JSON)

    @app.get("/health")
    async def health() -> Response:
        """200 with the model version once the model is loaded, 503 otherwise."""
        loaded: _Loaded | None = app.state.loaded
        if loaded is not None:
            return Response(loaded.health_body, media_type=JSON)
        body = {
            "status": "unavailable",
            "error": "model_not_loaded",
            "detail": f"the model is not loaded: {app.state.load_error}"
            if app.state.load_error
            else "the model is not loaded",
            **meta,
            "model_version": None,
        }
        return Response(orjson.dumps(body), status_code=503, media_type=JSON)

    # Prometheus exposition of this process's metrics (GET and HEAD; other methods answer 405 JSON).
    exposition = MetricsEndpoint(metrics.registry)
    app.add_route(exposition.path, exposition, methods=["GET"], include_in_schema=False)

    return app
