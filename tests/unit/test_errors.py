"""Bad input always gets a 4xx JSON body {"error", "detail"}; failures never leak internals."""

from __future__ import annotations

import pytest
from conftest import make_settings
from fastapi.testclient import TestClient

from api.app import create_app

JSON_HEADERS = {"content-type": "application/json"}


def assert_error(response, status: int, error: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert body["error"] == error, body
    assert isinstance(body["detail"], str) and body["detail"], body
    assert response.headers["x-replica"] and response.headers["x-variant"], response.headers


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "invalid_json"),
        (b"", "invalid_json"),
        (b'{"sentence": "a"', "invalid_json"),
    ],
)
def test_invalid_json_is_400(client: TestClient, body: bytes, error: str) -> None:
    assert_error(client.post("/predict", content=body, headers=JSON_HEADERS), 400, error)


def test_invalid_utf8_is_400(client: TestClient) -> None:
    body = b'{"sentence": "caf\xe9"}'
    assert_error(client.post("/predict", content=body, headers=JSON_HEADERS), 400, "invalid_utf8")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_wrong_content_type_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/predict", content=b'{"sentence": "hi"}', headers=headers)
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({}, "missing_field"),
        ({"text": "hi"}, "missing_field"),
        ({"sentence": "hi", "extra": 1}, "extra_fields"),
        ({"sentence": 42}, "invalid_type"),
        ({"sentence": None}, "invalid_type"),
        ({"sentence": ["hi"]}, "invalid_type"),
        (["hi"], "invalid_body"),
        ("hi", "invalid_body"),
        ({"sentence": ""}, "empty_sentence"),
        ({"sentence": "  \t\n "}, "empty_sentence"),
        ({"sentence": "a" * 5001}, "sentence_too_long"),
    ],
)
def test_invalid_payload_is_422(client: TestClient, payload: object, error: str) -> None:
    assert_error(client.post("/predict", json=payload), 422, error)


def test_body_larger_than_any_valid_request_is_413(client: TestClient) -> None:
    response = client.post("/predict", json={"sentence": "a" * 200_000})
    assert_error(response, 413, "payload_too_large")


def test_max_sentence_chars_is_configurable() -> None:
    with TestClient(create_app(make_settings("v1", max_sentence_chars=10))) as client:
        assert client.post("/predict", json={"sentence": "a" * 10}).status_code == 200
        assert_error(client.post("/predict", json={"sentence": "a" * 11}), 422, "sentence_too_long")


def test_unknown_path_is_404(client: TestClient) -> None:
    assert_error(client.get("/does-not-exist"), 404, "not_found")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_no_api_description_is_served(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(("method", "path"), [("GET", "/predict"), ("POST", "/health")])
def test_wrong_method_is_405_with_allow_header(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path)
    assert_error(response, 405, "method_not_allowed")
    assert "allow" in response.headers, response.headers


def test_unexpected_exception_is_generic_500_without_exception_text() -> None:
    app = create_app(make_settings("v1"))
    with TestClient(app, raise_server_exceptions=False) as client:

        class ExplodingModel:
            def predict(self, _: str) -> str:
                raise RuntimeError("secret internal detail")

        app.state.loaded.model = ExplodingModel()
        response = client.post("/predict", json={"sentence": "boom"})
    assert_error(response, 500, "internal_error")
    assert response.json()["detail"] == "internal server error"
    assert "secret" not in response.text


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"])
def test_curl_default_content_types_are_read_as_json(
    client: TestClient, content_type: str | None
) -> None:
    """`curl -d '{"sentence": ...}'` (the original exercise's clients) must keep working."""
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/predict", content=b'{"sentence": "I love it"}', headers=headers)
    assert response.status_code == 200, response.text
    assert "prediction value" in response.json()
