"""Run the steps and write ``model.safetensors``, ``metrics.json`` and ``MODEL_CARD.md``."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import data, evaluation, features, training
from .card import render_model_card

DESCRIPTION = (
    "Train the sentiment model: ``model.safetensors``, ``metrics.json`` and ``MODEL_CARD.md``."
)
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "model"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=42)
    # A candidate for the shadow/canary flow, trained in seconds: fixed hyperparameters, no CV.
    parser.add_argument(
        "--C", type=float, dest="c", help="train with this C and --beta, without cross-validation"
    )
    parser.add_argument("--beta", type=float, default=0.5, help="NB beta with --C (default 0.5)")
    parser.add_argument(
        "--shuffle-labels",
        action="store_true",
        help="shuffle the training labels (seeded): a deliberately bad model, for the gate",
    )
    return parser.parse_args(argv)


def fixed_choice(beta: float, c: float, classes: Sequence[str]) -> dict[str, Any]:
    """The ``cv`` record of a model trained with given hyperparameters (no CV, no offsets)."""
    return {
        "beta": beta,
        "C": c,
        "cv_macro_f1": {},
        "offsets": {str(label): 0.0 for label in sorted(set(classes))},
        "oof_macro_f1_before_offsets": None,
        "oof_macro_f1_after_offsets": None,
    }


def hyperparameters(cv: dict[str, Any]) -> dict[str, Any]:
    """The ``hyperparameters`` section of metrics.json: fixed settings and what CV chose."""
    grid = training.OFFSET_GRID
    return {
        "word_ngram_range": list(features.WORD_NGRAM_RANGE),
        "char_wb_ngram_range": list(features.CHAR_WB_NGRAM_RANGE),
        "sublinear_tf": True,
        "min_df": features.MIN_DF,
        "C": cv["C"],
        "class_weight": "balanced",
        "solver": features.SOLVER,
        "tol": features.TOL,
        "nb_beta": cv["beta"],
        "nb_alpha": features.NB_ALPHA,
        "decision_offsets": cv["offsets"],
        "C_grid": list(training.C_GRID),
        "nb_beta_grid": list(training.BETA_GRID),
        "offset_grid": [grid[0], grid[-1], round(grid[1] - grid[0], 2)],
        "cv_folds": training.CV_FOLDS,
        "cv_macro_f1": cv["cv_macro_f1"],
        "oof_macro_f1_before_offsets": cv["oof_macro_f1_before_offsets"],
        "oof_macro_f1_after_offsets": cv["oof_macro_f1_after_offsets"],
    }


def build_metrics(
    *,
    model_path: Path,
    pipeline: Any,
    scores: dict[str, Any],
    split: tuple[list[str], list[str], list[str], list[str]],
    cv: dict[str, Any],
    seed: int,
    data_summary: dict[str, Any],
    timings: dict[str, Any],
    reference: dict[str, Any],
) -> dict[str, Any]:
    """metrics.json; every key but ``timings`` is reproducible from the same inputs."""
    x_train, x_test, y_train, _ = split
    digest = data.sha256_file(model_path)
    return {
        # The API loads the model file only when its sha256 is this one (api.model).
        "model_file": model_path.name,
        "model_sha256": digest,
        "model_version": digest[:12],
        "model_version_source": f"first 12 hex of sha256 of {model_path.name} (byte-deterministic)",
        "classes": [str(label) for label in pipeline.classes_],
        **scores,
        "train_size": len(x_train),
        "test_size": len(x_test),
        "train_label_counts": dict(sorted(Counter(y_train).items())),
        # Exported by the API as api_model_reference_*: the drift rules compare traffic with it.
        "reference": reference,
        # The API serves the model only when its own scores of these sentences match (api.model).
        "scoring_check": evaluation.scoring_check(pipeline),
        "seed": seed,
        "hyperparameters": hyperparameters(cv),
        "data": data_summary,
        "license_note": data.LICENSE_NOTE,
        "library_versions": evaluation.library_versions(),
        # Wall-clock measurements: the only keys that differ between two runs.
        "timings": {
            "note": "wall clock on the training machine; not reproducible, unlike the rest",
            **timings,
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    from api import modelfile

    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    corpus = data.locate_corpus()
    texts, labels, stats = data.deduplicate(data.read_corpus(corpus))
    split = data.split(texts, labels, args.seed)
    x_train, x_test, y_train, y_test = split
    if args.shuffle_labels:
        import random

        y_train = random.Random(args.seed).sample(y_train, len(y_train))
        split = (x_train, x_test, y_train, y_test)
    if args.c is None:
        cv = training.cross_validate(x_train, y_train, args.seed)
    else:
        cv = fixed_choice(args.beta, args.c, y_train)
    pipeline = training.train(x_train, y_train, cv["beta"], cv["C"], cv["offsets"], args.seed)
    training_seconds = time.perf_counter() - started

    model_path = args.out / modelfile.MODEL_FILE
    modelfile.save(pipeline, model_path)
    scores = evaluation.evaluate(pipeline, x_test, y_test)
    latency = evaluation.measure_latency(pipeline, x_test)

    metrics = build_metrics(
        model_path=model_path,
        pipeline=pipeline,
        scores=scores,
        split=split,
        cv=cv,
        seed=args.seed,
        data_summary=data.data_summary(corpus, stats),
        timings={"training_seconds": round(training_seconds, 1), "latency": latency},
        reference=evaluation.drift_reference(pipeline, x_test),
    )
    metrics["training_mode"] = (
        "cross-validated" if args.c is None else "fixed hyperparameters (candidate)"
    ) + (", shuffled training labels (deliberately bad)" if args.shuffle_labels else "")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (args.out / "MODEL_CARD.md").write_text(render_model_card(metrics), encoding="utf-8")
    print(
        f"accuracy {scores['accuracy']:.4f} macro-F1 {scores['macro_f1']:.4f} "
        f"beta {cv['beta']} C {cv['C']} offsets {cv['offsets']} "
        f"model {metrics['model_version']} in {training_seconds:.0f}s -> {args.out}"
    )
    return 0
