#!/usr/bin/env python3
"""`make bench-model`: the committed model in three file formats, side by side in one run.

safetensors (api.modelfile, what the API loads), joblib (the former format: a pickle, which runs
code when loaded) and skops.io (scikit-learn objects with a trusted-types list). For each: file
size, byte-determinism (two dumps, same bytes?), load time in this process (median of
``--loads``), a cold start (a fresh interpreter importing what the format's load needs and loading
the file: what a container start pays; safetensors is read as the API reads it, without
scikit-learn, the pickles need it) and the API's per-sentence inference p50/p99 (SentimentModel)
on the held-out style sentences. Ratios are against joblib.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from api import modelfile  # noqa: E402
from api.model import CHECK_SENTENCES, SentimentModel  # noqa: E402

SENTENCES = [
    *CHECK_SENTENCES,
    "@AmericanAir my bag is lost AGAIN. 3 hours on hold... #neveragain",
    "Self-driving cars will be on the road by 2020, says report",
    "Not bad at all, actually quite good :)",
    "the flight was fine I guess, nothing special",
]


def _joblib() -> Codec:
    import joblib

    return (lambda pipeline, path: joblib.dump(pipeline, path, compress=3)), joblib.load


def _skops() -> Codec:
    import skops.io

    # The trusted list is what skops reports as untrusted by default: nothing for this model (all
    # scikit-learn/numpy types skops trusts), so the load refuses nothing else.
    def load(path: Path) -> Any:
        return skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))

    return skops.io.dump, load


def _safetensors() -> Codec:
    return modelfile.save, modelfile.read


Codec = tuple[Callable[[Any, Path], None], Callable[[Path], Any]]
# name: (its dump and load, the same load as a fresh interpreter's code with `path` set)
FORMATS: dict[str, tuple[Callable[[], Codec], str]] = {
    "safetensors": (_safetensors, "from api import modelfile; modelfile.read(Path(path))"),
    "joblib": (_joblib, "import joblib; joblib.load(path)"),
    "skops": (
        _skops,
        "import skops.io as s; s.load(path, trusted=s.get_untrusted_types(file=path))",
    ),
}


def cold_start(load: str, path: Path) -> float:
    """Seconds for a fresh interpreter to import what ``load`` needs and load ``path``."""
    code = (
        "import sys, time; t = time.perf_counter(); "
        f"sys.path.insert(0, {str(ROOT / 'src')!r}); from pathlib import Path; "
        f"path = {str(path)!r}; {load}; print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return float(out.stdout.strip())


def measure(name: str, pipeline: Any, workdir: Path, loads: int, calls: int) -> dict[str, Any]:
    functions, cold_code = FORMATS[name]
    dump, load = functions()
    first, second = workdir / f"{name}.1", workdir / f"{name}.2"
    dump(pipeline, first)
    dump(pipeline, second)
    seconds = []
    loaded = None
    for _ in range(loads):
        started = time.perf_counter()
        loaded = load(first)
        seconds.append(time.perf_counter() - started)
    if isinstance(loaded, modelfile.LinearTextModel):
        model = SentimentModel(loaded, name)
    else:
        model = SentimentModel.from_pipeline(loaded, name)
    latencies = []
    for index in range(calls):
        sentence = SENTENCES[index % len(SENTENCES)]
        started = time.perf_counter()
        model.predict(sentence)
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    same = [model.predict(s) for s in SENTENCES] == [
        SentimentModel.from_pipeline(pipeline, "ref").predict(s) for s in SENTENCES
    ]
    return {
        "format": name,
        "bytes": first.stat().st_size,
        "deterministic": hashlib.sha256(first.read_bytes()).digest()
        == hashlib.sha256(second.read_bytes()).digest(),
        "load_s": statistics.median(seconds),
        "cold_s": cold_start(cold_code, first),
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "same_answers": same,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "model" / modelfile.MODEL_FILE)
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    pipeline = modelfile.load(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(name, pipeline, Path(tmp), args.loads, args.calls) for name in FORMATS]
    base = next(row for row in rows if row["format"] == "joblib")
    print(
        f"{'format':12} {'size MB':>8} {'determ.':>8} {'load s':>8} {'x joblib':>9} "
        f"{'cold s':>8} {'x joblib':>9} {'p50 us':>8} {'p99 us':>8} {'same':>5}"
    )
    for row in rows:
        print(
            f"{row['format']:12} {row['bytes'] / 1e6:8.2f} {row['deterministic']!s:>8} "
            f"{row['load_s']:8.3f} {row['load_s'] / base['load_s']:9.2f} "
            f"{row['cold_s']:8.3f} {row['cold_s'] / base['cold_s']:9.2f} "
            f"{row['p50_us']:8.1f} {row['p99_us']:8.1f} {row['same_answers']!s:>5}"
        )
    return 0 if all(row["same_answers"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
