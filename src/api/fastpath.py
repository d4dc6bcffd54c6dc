"""Single-sentence scoring of a TF-IDF + LogisticRegression pipeline without sklearn overhead.

``Pipeline.predict([s])`` costs over a millisecond, nearly all of it input validation, dataframe
detection and FeatureUnion's joblib dispatch around ~0.1 ms of real work. ``LinearTextScorer``
does the same arithmetic straight from the fitted attributes: the vectorizers' own analyzers,
vocabularies and ``idf_``, then ``coef_``/``intercept_`` and a softmax, as sklearn does for a
multinomial LogisticRegression. It is built only for the exact structure it understands
(otherwise ``from_pipeline`` returns ``None``), and ``api.model`` checks it against the pipeline
at load time before using it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline


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
    def from_pipeline(cls, pipeline: Any) -> LinearTextScorer | None:
        """A scorer equivalent to ``pipeline``, or None when its structure is not supported."""
        if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
            return None
        features, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
        if not isinstance(classifier, LogisticRegression) or len(classifier.classes_) < 3:
            return None
        if isinstance(features, FeatureUnion):
            if features.transformer_weights:
                return None
            vectorizers = [transformer for _, transformer in features.transformer_list]
        else:
            vectorizers = [features]
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        blocks: list[_Block] = []
        offset = 0
        words_counted = False
        for vectorizer in vectorizers:
            if not (
                isinstance(vectorizer, TfidfVectorizer)
                and vectorizer.use_idf
                and vectorizer.norm == "l2"
                and not vectorizer.binary
            ):
                return None
            size = len(vectorizer.vocabulary_)
            blocks.append(
                _Block(
                    analyzer=vectorizer.build_analyzer(),
                    vocabulary=vectorizer.vocabulary_,
                    idf=np.asarray(vectorizer.idf_, dtype=np.float64),
                    sublinear_tf=vectorizer.sublinear_tf,
                    weights=np.ascontiguousarray(coef[:, offset : offset + size].T),
                    counts_words=vectorizer.analyzer == "word" and not words_counted,
                )
            )
            offset += size
            words_counted = words_counted or blocks[-1].counts_words
        if offset != coef.shape[1]:
            return None
        return cls(blocks, np.asarray(classifier.intercept_, dtype=np.float64))

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
