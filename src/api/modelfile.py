"""The model file: a fitted TF-IDF + LogisticRegression pipeline as safetensors, safe to load.

A pickle (``joblib``) runs whatever code the file names when it is loaded, so a model file would
be as dangerous as a script. A safetensors file is a JSON header and raw little-endian arrays:
loading it runs no code from the file. It holds the fitted state the API needs and nothing else:
for each TF-IDF block of the ``FeatureUnion`` its parameters, its terms in index order and
``idf_``; the classifier's ``classes_``, ``coef_``, ``intercept_`` and parameters. ``read`` gives
them back as data (``LinearTextModel``) without importing scikit-learn, which is what the API
scores with (``api.fastpath``); ``load`` rebuilds the same scikit-learn ``Pipeline`` from them
(training, tests, benchmarks).

Why not ``skops.io`` (scikit-learn objects with a trusted-types list): measured on this model
(``bench/modelfile.py``), its load is several times slower than joblib's (each of the 222k
vocabulary entries is a node of its tree) and its zip archive is not byte-deterministic, while
the model version is the file's sha256. safetensors is Hugging Face's format for exactly this
(weights without code); what it cannot know is the structure, which is written here.

The file is only ever loaded after its sha256 matched the one recorded at training time
(``api.model.load_model``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

FORMAT = "fortress-linear-text/1"
MODEL_FILE = "model.safetensors"

# TfidfVectorizer parameters that shape transform(); the others must keep their defaults (a
# callable preprocessor, tokenizer or analyzer cannot be stored as data).
_VECTORIZER_PARAMS = (
    "analyzer",
    "binary",
    "lowercase",
    "ngram_range",
    "norm",
    "smooth_idf",
    "strip_accents",
    "sublinear_tf",
    "token_pattern",
    "use_idf",
)
_VECTORIZER_DEFAULTS = {
    "input": "content",
    "encoding": "utf-8",
    "decode_error": "strict",
    "preprocessor": None,
    "tokenizer": None,
    "stop_words": None,
    "vocabulary": None,
    "dtype": np.float64,
}
_CLASSIFIER_PARAMS = ("C", "class_weight", "fit_intercept", "solver", "tol", "max_iter")
# Terms are stored joined by NUL, which no analyzer of the supported ones produces.
_SEPARATOR = "\0"
_METADATA_KEY = "fortress"


class ModelFileError(ValueError):
    """The pipeline cannot be written in this format, or the file is not one."""


@dataclass(frozen=True)
class Block:
    """One fitted TfidfVectorizer: its parameters (``_VECTORIZER_PARAMS``), its terms in index
    order and ``idf_``."""

    name: str
    params: dict[str, Any]
    terms: list[str]
    idf: np.ndarray


@dataclass(frozen=True)
class LinearTextModel:
    """A fitted TF-IDF blocks + multinomial LogisticRegression pipeline, as data."""

    blocks: list[Block]
    classes: list[str]
    classifier_params: dict[str, Any]
    coef: np.ndarray  # (n_classes, n_features): the blocks' features in order
    intercept: np.ndarray  # (n_classes,)


def check_servable(model: LinearTextModel) -> None:
    """ModelFileError unless the API's scoring path (api.fastpath) computes exactly this model:
    each block an l2-normalised, idf-weighted, non-binary TF-IDF of a supported analyzer, and a
    multinomial classifier (three classes or more; a binary LogisticRegression has one row of
    coefficients and a sigmoid) whose features are the blocks'."""
    from api.analyzers import build_analyzer

    for block in model.blocks:
        params = block.params
        if not params["use_idf"] or params["norm"] != "l2" or params["binary"]:
            raise ModelFileError(f"block {block.name!r}: only l2-normalised idf-weighted TF-IDF")
        try:
            build_analyzer(params)
        except ValueError as exc:
            raise ModelFileError(f"block {block.name!r}: {exc}") from exc
        if len(block.terms) != len(block.idf):
            raise ModelFileError(
                f"block {block.name!r}: {len(block.terms)} terms, {len(block.idf)} idf"
            )
    if len(model.classes) < 3:
        raise ModelFileError(
            f"{len(model.classes)} classes: a multinomial classifier needs 3 or more"
        )
    features = sum(len(block.terms) for block in model.blocks)
    if model.coef.shape != (len(model.classes), features):
        raise ModelFileError(
            f"coef has shape {model.coef.shape}, the classes and blocks make "
            f"{(len(model.classes), features)}"
        )
    if model.intercept.shape != (len(model.classes),):
        raise ModelFileError("the intercept does not match the classes")


def from_pipeline(pipeline: Any) -> LinearTextModel:
    """The fitted state of ``pipeline`` (a Pipeline of an unweighted FeatureUnion of
    TfidfVectorizers and a LogisticRegression); ModelFileError for any other structure."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise ModelFileError("expected a Pipeline of a FeatureUnion and a LogisticRegression")
    union, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(union, FeatureUnion) or union.transformer_weights:
        raise ModelFileError("the first step must be an unweighted FeatureUnion")
    if not isinstance(classifier, LogisticRegression):
        raise ModelFileError("the second step must be a LogisticRegression")
    blocks = []
    for name, vectorizer in union.transformer_list:
        if not isinstance(vectorizer, TfidfVectorizer):
            raise ModelFileError(f"block {name!r} is not a TfidfVectorizer")
        params = vectorizer.get_params()
        changed = [key for key, value in _VECTORIZER_DEFAULTS.items() if params[key] != value]
        if changed or params["analyzer"] not in ("word", "char", "char_wb"):
            raise ModelFileError(f"block {name!r}: unsupported settings {changed or ['analyzer']}")
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        blocks.append(
            Block(
                name=name,
                params={key: params[key] for key in _VECTORIZER_PARAMS},
                terms=terms,
                idf=np.ascontiguousarray(vectorizer.idf_, dtype=np.float64),
            )
        )
    classifier_params = classifier.get_params()
    model = LinearTextModel(
        blocks=blocks,
        classes=[str(label) for label in classifier.classes_],
        classifier_params={key: classifier_params[key] for key in _CLASSIFIER_PARAMS},
        coef=np.ascontiguousarray(classifier.coef_, dtype=np.float64),
        intercept=np.ascontiguousarray(classifier.intercept_, dtype=np.float64),
    )
    check_servable(model)
    return model


def save(pipeline: Any, path: Path) -> None:
    """Write ``pipeline`` to ``path`` (byte-deterministic for the same fitted pipeline)."""
    model = from_pipeline(pipeline)
    tensors: dict[str, np.ndarray] = {
        "classifier.coef": model.coef,
        "classifier.intercept": model.intercept,
    }
    header_blocks = []
    for block in model.blocks:
        if any(_SEPARATOR in term for term in block.terms):
            raise ModelFileError(f"block {block.name!r} has a term with a NUL character")
        joined = _SEPARATOR.join(block.terms).encode("utf-8")
        tensors[f"{block.name}.terms"] = np.frombuffer(joined, dtype=np.uint8)
        tensors[f"{block.name}.idf"] = block.idf
        header_blocks.append({"name": block.name, **block.params})
    structure = {
        "format": FORMAT,
        "blocks": header_blocks,
        "classes": model.classes,
        "classifier": model.classifier_params,
    }
    # One metadata entry: safetensors writes its metadata map in hash order; one key is stable.
    save_file(tensors, str(path), metadata={_METADATA_KEY: json.dumps(structure, sort_keys=True)})


def _structure(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="numpy") as handle:
        metadata = handle.metadata() or {}
    try:
        structure = json.loads(metadata.get(_METADATA_KEY, "null"))
    except ValueError as exc:
        raise ModelFileError(f"unreadable {_METADATA_KEY!r} metadata: {exc}") from exc
    if not isinstance(structure, dict) or structure.get("format") != FORMAT:
        found = structure.get("format") if isinstance(structure, dict) else None
        raise ModelFileError(f"format {found!r}, expected {FORMAT!r}")
    return structure


def read(path: Path) -> LinearTextModel:
    """The model stored in ``path``, as data (no scikit-learn); ModelFileError when it is not
    such a file or not one the API can score."""
    try:
        structure = _structure(path)
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelFileError(f"not a safetensors file: {exc}") from exc
    try:
        blocks = []
        for entry in structure["blocks"]:
            name = entry["name"]
            params = {key: entry[key] for key in _VECTORIZER_PARAMS}
            params["ngram_range"] = tuple(params["ngram_range"])
            terms = tensors[f"{name}.terms"].tobytes().decode("utf-8").split(_SEPARATOR)
            blocks.append(Block(name, params, terms, tensors[f"{name}.idf"]))
        model = LinearTextModel(
            blocks=blocks,
            classes=[str(label) for label in structure["classes"]],
            classifier_params=dict(structure["classifier"]),
            coef=tensors["classifier.coef"],
            intercept=tensors["classifier.intercept"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"inconsistent model file: {type(exc).__name__}: {exc}") from exc
    check_servable(model)
    return model


def to_pipeline(model: LinearTextModel) -> Any:
    """The scikit-learn Pipeline of ``model`` (the one training fitted)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    transformers = []
    for block in model.blocks:
        vectorizer = TfidfVectorizer(**block.params, dtype=np.float64)
        vectorizer.vocabulary_ = {term: index for index, term in enumerate(block.terms)}
        vectorizer.fixed_vocabulary_ = False
        vectorizer.idf_ = block.idf
        transformers.append((block.name, vectorizer))
    classifier = LogisticRegression(**model.classifier_params)
    classifier.classes_ = np.array(model.classes)
    classifier.coef_ = model.coef
    classifier.intercept_ = model.intercept
    classifier.n_features_in_ = model.coef.shape[1]
    return Pipeline([("features", FeatureUnion(transformers)), ("clf", classifier)])


def load(path: Path) -> Any:
    """The scikit-learn Pipeline stored in ``path``; ModelFileError when it is not such a file."""
    return to_pipeline(read(path))
