"""JSON error bodies: every error is ``{"error": "<short_code>", "detail": "<human readable>"}``.

Status codes used by the API:

| status | ``error``                | when                                                   |
| ------ | ------------------------ | ------------------------------------------------------ |
| 400    | ``invalid_json``         | the body is not valid JSON                             |
| 400    | ``invalid_utf8``         | the body is not valid UTF-8                            |
| 404    | ``not_found``            | unknown path                                           |
| 405    | ``method_not_allowed``   | known path, wrong method (``Allow`` header is set)     |
| 413    | ``payload_too_large``    | the body is larger than any valid request could be     |
| 415    | ``unsupported_media_type`` | Content-Type neither JSON nor curl's form default  |
| 422    | ``invalid_body``, ``missing_field``, ``extra_fields``, ``invalid_type`` | bad shape |
| 422    | ``empty_sentence``       | the sentence is empty or whitespace only               |
| 422    | ``sentence_too_long``    | more than ``API_MAX_SENTENCE_CHARS`` characters        |
| 500    | ``internal_error``       | anything unexpected; the exception text is only logged |
| 503    | ``model_not_loaded``     | the model failed to load at startup                    |
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

JSON = "application/json"

_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_body",
    500: "internal_error",
    503: "model_not_loaded",
}

INTERNAL_ERROR_BODY = orjson.dumps({"error": "internal_error", "detail": "internal server error"})


class ApiError(Exception):
    """Raised by handlers to answer with a JSON error body."""

    def __init__(self, status_code: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.error = error
        self.detail = detail


def error_response(
    status_code: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    body = orjson.dumps({"error": error, "detail": detail})
    return Response(body, status_code=status_code, headers=headers, media_type=JSON)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.error, exc.detail)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, detail, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    return error_response(422, "invalid_body", "request does not match the expected schema")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
