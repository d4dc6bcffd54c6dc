"""Shared fixtures: apps built from the real committed model, one per variant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

REPO = Path(__file__).resolve().parents[2]
MODEL_PATH = REPO / "model" / "model.safetensors"
METRICS_PATH = REPO / "model" / "metrics.json"


def make_settings(variant: str = "v1", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "variant": variant,
        "replica_id": f"test-{variant}",
        "model_path": MODEL_PATH,
        "metrics_path": METRICS_PATH,
        "max_sentence_chars": 5000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def v1_client() -> Iterator[TestClient]:
    with TestClient(create_app(make_settings("v1")), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def v2_client() -> Iterator[TestClient]:
    with TestClient(create_app(make_settings("v2")), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(params=["v1", "v2"])
def client(
    request: pytest.FixtureRequest, v1_client: TestClient, v2_client: TestClient
) -> TestClient:
    return v1_client if request.param == "v1" else v2_client


@pytest.fixture(scope="session")
def model_classes() -> tuple[str, ...]:
    import json

    return tuple(json.loads(METRICS_PATH.read_text(encoding="utf-8"))["classes"])
