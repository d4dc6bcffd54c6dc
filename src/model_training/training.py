"""Model selection by cross-validation on the training part, then the final fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .evaluation import macro_f1_of_indices
from .features import build_features, fit_weighted_classifier, nb_weights

CV_FOLDS = 3
C_GRID: tuple[float, ...] = (1.0, 2.0)  # 4.0 was never better in CV (all betas), and slowest
BETA_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)  # 0.0: no NB weighting
OFFSET_GRID: tuple[float, ...] = tuple(round(-1.0 + 0.05 * i, 2) for i in range(41))
OFFSET_ROUNDS = 3
N_JOBS = 2

Fold = tuple[Any, Any, list[str]]


def tune_offsets(
    scores: Any,
    y: Any,
    grid: Sequence[float] = OFFSET_GRID,
    rounds: int = OFFSET_ROUNDS,
) -> tuple[Any, float]:
    """Additive per-class offsets to decision scores maximising macro-F1 of the argmax.

    Coordinate search over ``grid`` (class 0 stays at 0: only differences matter); a change is
    kept only when it strictly improves the score, so ties keep the smaller move."""
    import numpy as np

    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    n_classes = scores.shape[1]
    offsets = np.zeros(n_classes)
    best = macro_f1_of_indices(y, (scores + offsets).argmax(axis=1), n_classes)
    for _ in range(rounds):
        improved = False
        for k in range(1, n_classes):
            for value in grid:
                candidate = offsets.copy()
                candidate[k] = value
                score = macro_f1_of_indices(y, (scores + candidate).argmax(axis=1), n_classes)
                if score > best + 1e-12:
                    best, offsets, improved = score, candidate, True
        if not improved:
            break
    return offsets, best


def _fold_features(x: list[str], y: list[str], train: Any, valid: Any) -> Fold:
    features = build_features()
    x_fit = features.fit_transform([x[i] for i in train])
    return x_fit, features.transform([x[i] for i in valid]), [y[i] for i in train]


def _fold_scores(fold: Fold, beta: float, c: float, seed: int) -> tuple[Any, list[str]]:
    x_fit, x_valid, y_fit = fold
    classifier = fit_weighted_classifier(x_fit, y_fit, nb_weights(x_fit, y_fit, beta), c, seed)
    return classifier.decision_function(x_valid), [str(label) for label in classifier.classes_]


def _config_key(config: tuple[float, float]) -> str:
    return f"beta={config[0]},C={config[1]}"


def cross_validate(x_train: list[str], y_train: list[str], seed: int) -> dict[str, Any]:
    """Choose (beta, C) by stratified k-fold CV macro-F1, then decision offsets on the
    out-of-fold scores of that choice. Training part only; the held-out part is never seen."""
    import numpy as np
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    splits = list(
        StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed).split(x_train, y_train)
    )
    configs = [(beta, c) for beta in BETA_GRID for c in C_GRID]
    with Parallel(n_jobs=N_JOBS) as parallel:
        folds = parallel(
            delayed(_fold_features)(x_train, y_train, train, valid) for train, valid in splits
        )
        results = parallel(
            delayed(_fold_scores)(fold, beta, c, seed) for beta, c in configs for fold in folds
        )
    classes = results[0][1]
    y_index = np.searchsorted(classes, y_train)
    cv_scores: dict[str, float] = {}
    oof_of: dict[tuple[float, float], Any] = {}
    for i, config in enumerate(configs):
        oof = np.zeros((len(y_train), len(classes)))
        fold_f1 = []
        for (_, valid), (scores, fold_classes) in zip(
            splits, results[i * CV_FOLDS : (i + 1) * CV_FOLDS], strict=True
        ):
            assert fold_classes == classes
            oof[valid] = scores
            fold_f1.append(macro_f1_of_indices(y_index[valid], scores.argmax(axis=1), len(classes)))
        oof_of[config] = oof
        cv_scores[_config_key(config)] = round(float(np.mean(fold_f1)), 6)
    best = max(configs, key=lambda config: cv_scores[_config_key(config)])
    offsets, tuned = tune_offsets(oof_of[best], y_index)
    pooled = macro_f1_of_indices(y_index, oof_of[best].argmax(axis=1), len(classes))
    return {
        "beta": best[0],
        "C": best[1],
        "cv_macro_f1": cv_scores,
        "offsets": {label: round(float(o), 2) for label, o in zip(classes, offsets, strict=True)},
        "oof_macro_f1_before_offsets": round(pooled, 6),
        "oof_macro_f1_after_offsets": round(tuned, 6),
    }


def train(
    x_train: list[str],
    y_train: list[str],
    beta: float,
    c: float,
    offsets: dict[str, float],
    seed: int,
) -> Any:
    """Final model on the whole training part: a plain TF-IDF + LogisticRegression Pipeline
    with the NB weights folded into ``coef_`` and the decision offsets into ``intercept_``."""
    import numpy as np
    from sklearn.pipeline import Pipeline

    features = build_features()
    x_fit = features.fit_transform(x_train)
    classifier = fit_weighted_classifier(x_fit, y_train, nb_weights(x_fit, y_train, beta), c, seed)
    classifier.intercept_ = classifier.intercept_ + np.array(
        [offsets[str(label)] for label in classifier.classes_]
    )
    return Pipeline([("features", features), ("clf", classifier)])
