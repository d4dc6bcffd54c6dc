"""api.analyzers gives the tokens scikit-learn's TfidfVectorizer gives, for every setting a model
file can hold, on the corpus and on edge cases."""

from __future__ import annotations

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from api.analyzers import build_analyzer
from api.modelfile import _VECTORIZER_PARAMS

EDGES = [
    "",
    " ",
    "a",
    "ab",
    "  leading and   inner\t\twhite\n\nspace  ",
    "Ça va très bien, merci 😀",
    "ÄÖÜ ß ﬁ ﬀ Ǆ 東京 Ⅻ x²",  # compatibility forms NFKD splits, combining marks
    "e\u0301 n\u0303 naïve café",
    "@united thanks for nothing #fail http://t.co/x",
    "I  I  I",
    "x" * 40,
]

SETTINGS = [
    {"analyzer": "word", "ngram_range": (1, 2)},
    {"analyzer": "word", "ngram_range": (1, 1), "lowercase": False},
    {"analyzer": "word", "ngram_range": (2, 3), "strip_accents": "unicode"},
    {"analyzer": "word", "ngram_range": (1, 3), "token_pattern": r"(?u)\b(\w)\w*\b"},
    {"analyzer": "word", "ngram_range": (1, 2), "token_pattern": r"[#@]?\w+"},
    {"analyzer": "char", "ngram_range": (1, 3), "strip_accents": "ascii"},
    {"analyzer": "char", "ngram_range": (2, 5)},
    {"analyzer": "char_wb", "ngram_range": (2, 5)},
    {"analyzer": "char_wb", "ngram_range": (1, 4), "lowercase": False, "strip_accents": "unicode"},
    {"analyzer": "char_wb", "ngram_range": (3, 3), "strip_accents": "ascii"},
]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    from model_training import data

    texts, _, _ = data.deduplicate(data.read_corpus(data.locate_corpus()))
    return texts[::25]  # ~1.5k real sentences, spread over the file


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(map(str, s.values())))
def test_the_tokens_are_scikit_learns(settings: dict, corpus: list[str]) -> None:
    vectorizer = TfidfVectorizer(**settings)
    params = {key: vectorizer.get_params()[key] for key in _VECTORIZER_PARAMS}
    ours, theirs = build_analyzer(params), vectorizer.build_analyzer()
    for text in [*EDGES, *corpus]:
        assert ours(text) == theirs(text), text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"analyzer": "bytes"}, "analyzer 'bytes'"),
        ({"strip_accents": "greek"}, "strip_accents 'greek'"),
        ({"token_pattern": r"(a)(b)"}, "more than one capturing group"),
    ],
)
def test_other_settings_are_refused(change: dict, message: str) -> None:
    params = {key: TfidfVectorizer().get_params()[key] for key in _VECTORIZER_PARAMS}
    with pytest.raises(ValueError, match=message):
        build_analyzer({**params, **change})
