"""Single-sentence scoring of a TF-IDF + LogisticRegression model straight from its fitted state.

``Pipeline.predict([s])`` costs over a millisecond, nearly all of it input validation, dataframe
detection and FeatureUnion's joblib dispatch around ~0.1 ms of real work, and importing
scikit-learn costs most of the API's start. ``LinearTextScorer`` does the same arithmetic from
the model file's data (``api.modelfile.LinearTextModel``): the vectorizers' analyzers
(``api.analyzers``), vocabularies and ``idf_``, then ``coef_``/``intercept_`` and a softmax, as
sklearn does for a multinomial LogisticRegression. ``api.model`` checks its scores against the
ones training recorded with scikit-learn before serving with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from api.analyzers import build_analyzer
from api.modelfile import LinearTextModel


@dataclass(frozen=True, slots=True)
class _Block:
    """One TF-IDF vectorizer and the slice of the coefficients its features map to."""

    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear_tf: bool
    weights: np.ndarray  # (n_features_of_block, n_classes), C-contiguous
    counts_words: bool  # the word block: its unigram tokens tell the vocabulary coverage


class LinearTextScorer:
    __slots__ = ("_blocks", "_intercept")

    def __init__(self, blocks: list[_Block], intercept: np.ndarray) -> None:
        self._blocks = blocks
        self._intercept = intercept

    @classmethod
    def from_model(cls, model: LinearTextModel) -> LinearTextScorer:
        """The scorer of ``model`` (one ``api.modelfile.check_servable`` accepted)."""
        coef = np.asarray(model.coef, dtype=np.float64)
        blocks: list[_Block] = []
        offset = 0
        words_counted = False
        for block in model.blocks:
            size = len(block.terms)
            counts_words = block.params["analyzer"] == "word" and not words_counted
            blocks.append(
                _Block(
                    analyzer=build_analyzer(block.params),
                    vocabulary={term: index for index, term in enumerate(block.terms)},
                    idf=np.asarray(block.idf, dtype=np.float64),
                    sublinear_tf=bool(block.params["sublinear_tf"]),
                    weights=np.ascontiguousarray(coef[:, offset : offset + size].T),
                    counts_words=counts_words,
                )
            )
            offset += size
            words_counted = words_counted or counts_words
        return cls(blocks, np.asarray(model.intercept, dtype=np.float64))

    def decision(self, sentence: str) -> np.ndarray:
        """Class scores, as ``LogisticRegression.decision_function`` on the TF-IDF row."""
        return self.score(sentence)[0]

    def score(self, sentence: str) -> tuple[np.ndarray, int, int]:
        """Class scores, and the word tokens (unigrams) of the sentence: known to the
        vocabulary, all. The counts come from the lookups scoring does anyway (drift signal)."""
        scores = self._intercept.copy()
        known = words = 0
        for block in self._blocks:
            vocabulary = block.vocabulary
            indices: list[int] = []
            counts: list[int] = []
            for term, count in Counter(block.analyzer(sentence)).items():
                index = vocabulary.get(term)
                if block.counts_words and " " not in term:
                    words += count
                    if index is not None:
                        known += count
                if index is not None:
                    indices.append(index)
                    counts.append(count)
            if not indices:
                continue
            columns = np.array(indices, dtype=np.intp)
            values = np.array(counts, dtype=np.float64)
            if block.sublinear_tf:
                values = np.log(values) + 1.0
            values *= block.idf[columns]
            values /= np.sqrt(values @ values)
            scores += values @ block.weights[columns]
        return scores, known, words

    def predict_index(self, sentence: str) -> int:
        return int(self.decision(sentence).argmax())

    def predict_proba(self, sentence: str) -> np.ndarray:
        """Softmax of the class scores (multinomial logistic regression)."""
        return softmax(self.decision(sentence))


def softmax(scores: np.ndarray) -> np.ndarray:
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()
