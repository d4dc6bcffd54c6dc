"""The model file: a fitted TF-IDF + LogisticRegression pipeline as safetensors, safe to load.

A pickle (``joblib``) runs whatever code the file names when it is loaded, so a model file would
be as dangerous as a script. A safetensors file is a JSON header and raw little-endian arrays:
loading it runs no code from the file. It holds the fitted state the API needs and nothing else:
for each TF-IDF block of the ``FeatureUnion`` its parameters, its terms in index order and
``idf_``; the classifier's ``classes_``, ``coef_``, ``intercept_`` and parameters. ``load``
rebuilds the same scikit-learn ``Pipeline`` from them, so the API's fast path and its check
against the pipeline stay as they are.

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


def _parts(pipeline: Any) -> tuple[list[tuple[str, Any]], Any]:
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
    for name, vectorizer in union.transformer_list:
        if not isinstance(vectorizer, TfidfVectorizer):
            raise ModelFileError(f"block {name!r} is not a TfidfVectorizer")
        params = vectorizer.get_params()
        changed = [key for key, value in _VECTORIZER_DEFAULTS.items() if params[key] != value]
        if changed or params["analyzer"] not in ("word", "char", "char_wb"):
            raise ModelFileError(f"block {name!r}: unsupported settings {changed or ['analyzer']}")
    return union.transformer_list, classifier


def save(pipeline: Any, path: Path) -> None:
    """Write ``pipeline`` to ``path`` (byte-deterministic for the same fitted pipeline)."""
    blocks, classifier = _parts(pipeline)
    tensors: dict[str, np.ndarray] = {
        "classifier.coef": np.ascontiguousarray(classifier.coef_, dtype=np.float64),
        "classifier.intercept": np.ascontiguousarray(classifier.intercept_, dtype=np.float64),
    }
    header_blocks = []
    for name, vectorizer in blocks:
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        if any(_SEPARATOR in term for term in terms):
            raise ModelFileError(f"block {name!r} has a term with a NUL character")
        joined = _SEPARATOR.join(terms).encode("utf-8")
        tensors[f"{name}.terms"] = np.frombuffer(joined, dtype=np.uint8)
        tensors[f"{name}.idf"] = np.ascontiguousarray(vectorizer.idf_, dtype=np.float64)
        params = vectorizer.get_params()
        header_blocks.append({"name": name, **{key: params[key] for key in _VECTORIZER_PARAMS}})
    classifier_params = classifier.get_params()
    structure = {
        "format": FORMAT,
        "blocks": header_blocks,
        "classes": [str(label) for label in classifier.classes_],
        "classifier": {key: classifier_params[key] for key in _CLASSIFIER_PARAMS},
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


def load(path: Path) -> Any:
    """The scikit-learn Pipeline stored in ``path``; ModelFileError when it is not such a file."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    try:
        structure = _structure(path)
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise ModelFileError(f"not a safetensors file: {exc}") from exc
    try:
        blocks = structure["blocks"]
        classes = np.array(structure["classes"])
        classifier_params = structure["classifier"]
        transformers = []
        for block in blocks:
            name = block.pop("name")
            block["ngram_range"] = tuple(block["ngram_range"])
            vectorizer = TfidfVectorizer(**block, dtype=np.float64)
            terms = tensors[f"{name}.terms"].tobytes().decode("utf-8").split(_SEPARATOR)
            vectorizer.vocabulary_ = {term: index for index, term in enumerate(terms)}
            vectorizer.fixed_vocabulary_ = False
            vectorizer.idf_ = tensors[f"{name}.idf"]
            transformers.append((name, vectorizer))
        classifier = LogisticRegression(**classifier_params)
        classifier.classes_ = classes
        classifier.coef_ = tensors["classifier.coef"]
        classifier.intercept_ = tensors["classifier.intercept"]
        classifier.n_features_in_ = classifier.coef_.shape[1]
        if sum(len(v.vocabulary_) for _, v in transformers) != classifier.n_features_in_:
            raise ModelFileError("the blocks' terms do not match the classifier's features")
        if classifier.coef_.shape[0] != len(classes) or classifier.intercept_.shape != (
            len(classes),
        ):
            raise ModelFileError("coef/intercept do not match the classes")
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(f"inconsistent model file: {type(exc).__name__}: {exc}") from exc
    return Pipeline([("features", FeatureUnion(transformers)), ("clf", classifier)])
