"""Steady traffic through the gateway while a fault or a rollout happens (test_faults.py,
test_rolling_update.py).

The load comes from client containers on the public network: each has its own address, hence its own
rate-limit bucket, and sends at `interval` (request_interval(manifest): about 1.2 times under the
gateway's per-client limit). Traffic goes only to the project's own gateway container.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from conftest import Prober

SENTENCE = '{"sentence": "steady traffic while something breaks"}'


class Load:
    """Steady POST /predict traffic from client containers in background threads.

    Each client sends batches of `batch` requests `interval` apart over one keep-alive connection
    (unless the headers say `Connection: close`) until `max_batches` batches are done or the load
    is stopped; every request is bounded by the probe's timeout, so the whole load is bounded too.
    """

    def __init__(
        self,
        probers: list[Prober],
        url: str,
        headers: dict[str, str],
        batch: int,
        interval: float,
        max_batches: int = 1,
    ) -> None:
        self.spec = {
            "body": SENTENCE,
            "headers": {"Content-Type": "application/json", **headers},
            "insecure": True,  # the clients have no CA file; TLS is verified in test_tls
            "timeout": 15,
        }
        self.url, self.batch, self.max_batches = url, batch, max_batches
        self.interval = interval
        self.results: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(p,)) for p in probers]

    def _run(self, prober: Prober) -> None:
        for _ in range(self.max_batches):
            try:
                results = prober(self.url, count=self.batch, interval=self.interval, **self.spec)
            except AssertionError as exc:  # the probe process itself failed
                with self._lock:
                    self.errors.append(str(exc))
                return
            with self._lock:
                self.results.extend(results)
            if self._stop.is_set():
                return

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=self.batch * (self.interval + 15) + 30)
        self.duration = time.monotonic() - self.started
        assert not any(t.is_alive() for t in self._threads), "load threads did not finish"
        assert not self.errors, self.errors

    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] != 200]

    def summary(self) -> str:
        statuses = Counter(r["status"] for r in self.results)
        replicas = Counter(r["headers"].get("x-replica") for r in self.results)
        return (
            f"{len(self.results)} requests in {self.duration:.1f} s, "
            f"{len(self.failures())} failed, statuses {dict(statuses)}, replicas {dict(replicas)}"
        )


def assert_no_failure(load: Load, what: str) -> None:
    failed = load.failures()
    assert load.results, f"{what}: no request was sent"
    assert not failed, f"{what}: {len(failed)} of {len(load.results)} requests failed: {failed[:5]}"
    wrong = [r for r in load.results if r["headers"].get("x-variant") != "v1"]
    assert not wrong, f"{what}: default traffic answered by another variant: {wrong[:3]}"


def replica_answers_again(
    prober: Prober, url: str, headers: dict, alias: str, interval: float
) -> list[str]:
    """Send small batches until `alias` shows up in X-Replica (bounded to ~30 s)."""
    seen: list[str] = []
    spec = {"body": SENTENCE, "headers": {"Content-Type": "application/json", **headers}}
    for _ in range(6):
        results = prober(url, count=12, interval=interval, insecure=True, **spec)
        assert all(r["status"] == 200 for r in results), results
        seen = [r["headers"].get("x-replica") for r in results]
        if alias in seen:
            break
        time.sleep(3)
    return seen
