"""Validation of the ``POST /predict`` body, by hand for precise errors and low overhead.

The body must be JSON holding exactly ``{"sentence": "<text>"}``. For compatibility with the
original exercise's clients (``curl -d '{"sentence": ...}'`` sends no JSON content type), a missing
Content-Type and ``application/x-www-form-urlencoded`` are read as JSON too; any other media type
(``text/xml``, ``multipart/form-data``, ...) is refused with 415. A sentence
that is empty or whitespace only, or longer than ``API_MAX_SENTENCE_CHARS`` characters, is
answered with **422** (not 413): the request is well formed but its content is not acceptable.
A body too large to possibly hold a valid sentence is refused with 413 before it is parsed.
"""

from __future__ import annotations

import orjson

from api.errors import ApiError

# Worst case JSON spends 12 bytes per character (an escaped surrogate pair).
_BYTES_PER_CHAR = 12
_ENVELOPE_BYTES = 1024


def max_body_bytes(max_sentence_chars: int) -> int:
    return max_sentence_chars * _BYTES_PER_CHAR + _ENVELOPE_BYTES


# Media types whose body is parsed as JSON (see the module docstring).
ACCEPTED_MEDIA_TYPES = frozenset({"", "application/json", "application/x-www-form-urlencoded"})


def check_content_type(content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise ApiError(415, "unsupported_media_type", "Content-Type must be application/json")


def check_content_length(content_length: str | None, max_sentence_chars: int) -> None:
    """Refuse a declared body size that no valid request can have, before reading it."""
    if (
        content_length is not None
        and content_length.isdigit()
        and int(content_length) > max_body_bytes(max_sentence_chars)
    ):
        raise ApiError(413, "payload_too_large", "request body is too large")


def parse_sentence(body: bytes, max_sentence_chars: int) -> str:
    """Return the sentence of a ``{"sentence": ...}`` body or raise ApiError."""
    if len(body) > max_body_bytes(max_sentence_chars):
        raise ApiError(413, "payload_too_large", "request body is too large")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid_utf8", "request body is not valid UTF-8") from None
        raise ApiError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_body", 'body must be a JSON object {"sentence": "..."}')
    if "sentence" not in payload:
        raise ApiError(422, "missing_field", 'field "sentence" is required')
    if len(payload) != 1:
        raise ApiError(
            422, "extra_fields", f'only "sentence" is allowed; got {len(payload) - 1} more field(s)'
        )
    sentence = payload["sentence"]
    if not isinstance(sentence, str):
        raise ApiError(422, "invalid_type", 'field "sentence" must be a string')
    if not sentence or sentence.isspace():
        raise ApiError(422, "empty_sentence", 'field "sentence" must not be empty')
    if len(sentence) > max_sentence_chars:
        raise ApiError(
            422,
            "sentence_too_long",
            f'field "sentence" must be at most {max_sentence_chars} characters',
        )
    return sentence
