"""The text analyzers of scikit-learn's ``TfidfVectorizer``, for the settings a model file can hold.

Hand-written on purpose: the API scores with the fitted vocabularies and weights only, and importing
scikit-learn (with SciPy) to get these few functions cost 0.75 s of the API's 1.1 s start on the
host, 15-18x that on an emulated VM, and about 200 MB of its image. These are the same steps as
``sklearn.feature_extraction.text`` 1.x (``_preprocess``, ``strip_accents_*``, ``build_tokenizer``,
``_word_ngrams``, ``_char_ngrams``, ``_char_wb_ngrams``) for ``input="content"``, no stop words, no
custom preprocessor, tokenizer or analyzer (``api.modelfile`` refuses other settings).

They are held to scikit-learn's in two places: the unit tests compare both on the corpus and on
edge cases, and ``api.model`` refuses a model file whose scores on its check sentences differ from
the ones training recorded with scikit-learn (metrics.json ``scoring_check``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

Analyzer = Callable[[str], list[str]]

_WHITE_SPACES = re.compile(r"\s\s+")


def strip_accents_unicode(text: str) -> str:
    if text.isascii():
        return text
    normalized = unicodedata.normalize("NFKD", text)
    return "".join([c for c in normalized if not unicodedata.combining(c)])


def strip_accents_ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ASCII", "ignore").decode("ASCII")


_ACCENTS: dict[Any, Callable[[str], str] | None] = {
    None: None,
    "ascii": strip_accents_ascii,
    "unicode": strip_accents_unicode,
}


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> list[str]:
    if max_n == 1:
        return tokens
    grams = list(tokens) if min_n == 1 else []
    count = len(tokens)
    for n in range(max(min_n, 2), min(max_n + 1, count + 1)):
        for i in range(count - n + 1):
            grams.append(" ".join(tokens[i : i + n]))
    return grams


def _char_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    grams = list(text) if min_n == 1 else []
    for n in range(max(min_n, 2), min(max_n + 1, len(text) + 1)):
        for i in range(len(text) - n + 1):
            grams.append(text[i : i + n])
    return grams


def _char_wb_ngrams(text: str, min_n: int, max_n: int) -> list[str]:
    grams: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(min_n, max_n + 1):
            offset = 0
            grams.append(padded[:n])
            while offset + n < len(padded):
                offset += 1
                grams.append(padded[offset : offset + n])
            if offset == 0:  # a word shorter than n is counted once
                break
    return grams


def build_analyzer(params: dict[str, Any]) -> Analyzer:
    """The analyzer of a TfidfVectorizer with these parameters (``analyzer``, ``lowercase``,
    ``strip_accents``, ``token_pattern``, ``ngram_range``); ValueError for other settings."""
    kind = params["analyzer"]
    min_n, max_n = (int(n) for n in params["ngram_range"])
    if params["strip_accents"] not in _ACCENTS:
        raise ValueError(f"strip_accents {params['strip_accents']!r} is not supported")
    accents = _ACCENTS[params["strip_accents"]]
    lower = bool(params["lowercase"])

    def preprocess(text: str) -> str:
        if lower:
            text = text.lower()
        return accents(text) if accents is not None else text

    if kind == "word":
        pattern = re.compile(params["token_pattern"])
        if pattern.groups > 1:
            raise ValueError("token_pattern has more than one capturing group")
        return lambda text: _word_ngrams(pattern.findall(preprocess(text)), min_n, max_n)
    if kind == "char":
        return lambda text: _char_ngrams(preprocess(text), min_n, max_n)
    if kind == "char_wb":
        return lambda text: _char_wb_ngrams(preprocess(text), min_n, max_n)
    raise ValueError(f"analyzer {kind!r} is not supported")
