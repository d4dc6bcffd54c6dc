"""Prometheus metrics, the pure ASGI middleware that records them, and the ``/metrics`` endpoint.

Each app owns its own ``CollectorRegistry`` so that several apps (tests) never collide.
The ``handler`` label is the route template, or ``other`` for paths no route matches, so
unknown URLs cannot explode label cardinality; ``method`` is clamped the same way.
"""

from __future__ import annotations

import logging
from time import perf_counter

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import INTERNAL_ERROR_BODY, JSON

logger = logging.getLogger(__name__)

# Sub-millisecond inference up to multi-second stalls.
DURATION_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
# Sentence lengths in characters: tweets (up to 280) in detail, then up to the API's default limit.
SENTENCE_CHARS_BUCKETS: tuple[float, ...] = (
    10,
    20,
    40,
    60,
    80,
    100,
    140,
    200,
    280,
    500,
    1000,
    5000,
)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


class Metrics:
    """The API's collectors, registered in a registry private to one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "api_requests",
            "HTTP requests handled, by route template, method and status code.",
            ["handler", "method", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "api_request_duration_seconds",
            "Time from receiving a request to sending the response, by route template.",
            ["handler"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "api_predictions",
            "Predictions returned, by predicted label.",
            ["label"],
            registry=self.registry,
        )
        # Drift signals: counts only, no sentence is kept anywhere.
        self.words = Counter(
            "api_words",
            "Word tokens of the scored sentences, in the model's vocabulary (known) or not.",
            ["vocabulary"],
            registry=self.registry,
        )
        self.sentence_chars = Histogram(
            "api_sentence_chars",
            "Length of the scored sentences in characters.",
            buckets=SENTENCE_CHARS_BUCKETS,
            registry=self.registry,
        )
        self.reference_oov_share = Gauge(
            "api_model_reference_oov_share",
            "Share of word tokens outside the vocabulary on the held-out data (metrics.json).",
            registry=self.registry,
        )
        self.reference_label_share = Gauge(
            "api_model_reference_label_share",
            "Share of each predicted label on the model's held-out data (metrics.json).",
            ["label"],
            registry=self.registry,
        )
        # The candidate variant: its label against the production model's, per sentence.
        self.comparisons = Counter(
            "api_candidate_comparisons",
            "Sentences the candidate scored with both models: production's label (from), the "
            "candidate's (to), and whether the gateway mirrored it (shadow) or served it (canary).",
            ["traffic", "from", "to"],
            registry=self.registry,
        )
        # The same, agreements only: PromQL cannot compare two labels of one series (from == to).
        self.agreements = Counter(
            "api_candidate_agreements",
            "Sentences where the candidate's label equals the production model's, by traffic.",
            ["traffic"],
            registry=self.registry,
        )
        self.production_info = Gauge(
            "api_candidate_production_model_info",
            "Always 1 on the candidate; version is the production model it compares with.",
            ["version"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "api_model_info",
            "Always 1; labels tell the loaded model version, API variant and replica.",
            ["version", "variant", "replica"],
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], Counter] = {}
        self._duration_children: dict[str, Histogram] = {}

    def _children(self, handler: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (handler, method, status)
        counter = self._request_children.get(key)
        if counter is None:
            counter = self._request_children[key] = self.requests.labels(
                handler, method, str(status)
            )
        histogram = self._duration_children.get(handler)
        if histogram is None:
            histogram = self._duration_children[handler] = self.duration.labels(handler)
        return counter, histogram

    def expect(self, handler: str, method: str, status: int = 200) -> None:
        """Export a route's request counter and latency histogram at zero from the start.

        Prometheus' instrumentation guide: initialise the label values you know in advance.
        A series born on the first request holds a whole burst in its first sample when the burst
        falls between two scrapes, and rate() over it then sees no increase at all (the promotion
        gate read "p99 unknown" after 240 shadow requests that way).
        """
        self._children(handler, method, status)

    def observe_request(self, handler: str, method: str, status: int, seconds: float) -> None:
        counter, histogram = self._children(handler, method, status)
        counter.inc()
        histogram.observe(seconds)


class MetricsEndpoint:
    """``GET /metrics``: prometheus_client's ASGI exposition (``make_asgi_app``) of one registry.

    Always the text format 0.0.4, uncompressed, whatever the scraper asks for. Prometheus prefers
    OpenMetrics, which carries the same series (names, labels) but costs prometheus_client 0.26
    about 60 % more time per scrape (measured: 1.6 ms instead of 1.0 ms for this registry), all of
    it on the event loop that serves /predict, for features nothing here uses (exemplars, native
    created timestamps); gzip would add 0.3 ms per scrape to shrink a few kB on a local network.
    So the Accept header is not passed on and compression is off: measured end to end (uvicorn,
    2000 requests each), /predict and /metrics then answer as fast as the former FastAPI route.

    A class rather than the function ``make_asgi_app`` returns, because Starlette calls a function
    endpoint as ``endpoint(request)`` and an object as an ASGI app. FastAPI records only its own
    routes as ``scope["route"]``, so ``path`` names the route for the ``handler`` label.
    """

    __slots__ = ("_app", "path")

    def __init__(self, registry: CollectorRegistry, path: str = "/metrics") -> None:
        self.path = path
        self._app = make_asgi_app(registry, disable_compression=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [header for header in scope["headers"] if header[0] != b"accept"]
        await self._app({**scope, "headers": headers}, receive, send)


def handler_label(scope: Scope) -> str:
    """The route template of the request, or ``other`` when no route matched."""
    route = scope.get("route")
    if route is not None:
        return getattr(route, "path", OTHER)
    endpoint = scope.get("endpoint")
    return endpoint.path if isinstance(endpoint, MetricsEndpoint) else OTHER


class ObservabilityMiddleware:
    """Adds the replica/variant headers to every response, times and counts requests,
    and turns any unhandled exception into a generic JSON 500 (the text is only logged)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, replica: str, variant: str) -> None:
        self.app = app
        self.metrics = metrics
        self.headers: list[tuple[bytes, bytes]] = [
            (b"x-replica", replica.encode("latin-1")),
            (b"x-variant", variant.encode("latin-1")),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500
        started = False
        extra_headers = self.headers

        async def send_with_headers(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            status = 500
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", JSON.encode()),
                        (b"content-length", str(len(INTERNAL_ERROR_BODY)).encode()),
                        *extra_headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
        finally:
            elapsed = perf_counter() - start
            method = scope["method"] if scope["method"] in KNOWN_METHODS else OTHER
            self.metrics.observe_request(handler_label(scope), method, status, elapsed)
