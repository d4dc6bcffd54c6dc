"""Features (TF-IDF word + char n-grams), NB weights and the logistic regression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

NB_ALPHA = 1.0
WORD_NGRAM_RANGE = (1, 2)
CHAR_WB_NGRAM_RANGE = (2, 5)
MIN_DF = 2
SOLVER = "newton-cg"
TOL = 1e-3


def build_features() -> Any:
    """TF-IDF of word 1-2-grams and char_wb 2-5-grams (each block L2-normalised)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    ngram_range=WORD_NGRAM_RANGE, sublinear_tf=True, min_df=MIN_DF, dtype=np.float64
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=CHAR_WB_NGRAM_RANGE,
                    sublinear_tf=True,
                    min_df=MIN_DF,
                    dtype=np.float64,
                ),
            ),
        ]
    )


def build_classifier(c: float, seed: int) -> Any:
    """Multinomial logistic regression, balanced class weights."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=c,
        class_weight="balanced",
        solver=SOLVER,
        tol=TOL,
        max_iter=1000,
        random_state=seed,
    )


def build_pipeline(c: float, seed: int) -> Any:
    """Unweighted TF-IDF + logistic regression Pipeline (the structure that gets saved)."""
    from sklearn.pipeline import Pipeline

    return Pipeline([("features", build_features()), ("clf", build_classifier(c, seed))])


def nb_weights(features: Any, y: Sequence[Any], beta: float, alpha: float = NB_ALPHA) -> Any:
    """Per-feature NB weights ``(1 - beta) + beta * max_c |log-count ratio of class c|``.

    ``features`` is the (n_samples, n_features) training matrix; counts are of binarised
    features, smoothed with ``alpha``, class c against all other classes."""
    import numpy as np

    y = np.asarray(y)
    if beta == 0.0:
        return np.ones(features.shape[1])
    present = features.tocsr(copy=True)  # a copy: the input may be a read-only memmap
    present.data = (present.data > 0).astype(np.float64)
    ratio = np.zeros(features.shape[1])
    for label in np.unique(y):
        inside = alpha + np.asarray(present[y == label].sum(axis=0)).ravel()
        outside = alpha + np.asarray(present[y != label].sum(axis=0)).ravel()
        ratio = np.maximum(ratio, np.abs(np.log(inside / inside.sum() / (outside / outside.sum()))))
    return (1.0 - beta) + beta * ratio


def fit_weighted_classifier(
    features: Any, y: Sequence[Any], weights: Any, c: float, seed: int
) -> Any:
    """Fit on ``features * weights`` (column scaling) and fold the weights into ``coef_`` so
    the classifier scores the unweighted features exactly as the weighted ones."""
    import scipy.sparse

    scaling = scipy.sparse.diags(weights)
    classifier = build_classifier(c, seed).fit(features @ scaling, y)
    classifier.coef_ = classifier.coef_ * weights[None, :]
    return classifier
