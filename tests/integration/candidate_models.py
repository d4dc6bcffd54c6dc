"""Models and traffic test_candidate.py makes on the control node: candidates trained on the
spot (gen_model.py --C, about 30 s each), a well-formed model with other classes, held-out corpus
sentences as traffic, and the binomial range the canary's count must fall in."""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
from playbook import REPO


def train(out: Path, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(REPO / "src" / "gen_model.py"), "--out", str(out), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "metrics.json").read_text())


def relabelled(source: Path, out: Path) -> dict:
    """A well-formed model whose classes are not production's ("neutral" renamed). Its metrics.json
    records its sha256, so the rollout ships it; the candidate API refuses to compare with it."""
    sys.path.insert(0, str(REPO / "src"))
    from api import modelfile

    pipeline = modelfile.load(source / modelfile.MODEL_FILE)
    classifier = pipeline.steps[-1][1]
    classifier.classes_ = np.array(["mixed" if c == "neutral" else c for c in classifier.classes_])
    out.mkdir(parents=True)
    modelfile.save(pipeline, out / modelfile.MODEL_FILE)
    digest = hashlib.sha256((out / modelfile.MODEL_FILE).read_bytes()).hexdigest()
    metrics = json.loads((source / "metrics.json").read_text())
    metrics.update(model_sha256=digest, model_version=digest[:12])
    (out / "metrics.json").write_text(json.dumps(metrics))
    return metrics


def held_out_sentences(count: int) -> list[str]:
    """Real traffic: sentences of the corpus' held-out part (the training split, seed 42)."""
    sys.path.insert(0, str(REPO / "src"))
    from model_training import data

    texts, labels, _ = data.deduplicate(data.read_corpus(data.locate_corpus()))
    return data.split(texts, labels, 42)[1][:count]


def binomial_range(n: int, p: float, mass: float = 0.999) -> tuple[int, int]:
    """The central interval of Binomial(n, p) holding at least `mass` of the probability."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    low, high, tail = 0, n, (1 - mass) / 2
    while sum(pmf[: low + 1]) < tail:
        low += 1
    while sum(pmf[high:]) < tail:
        high -= 1
    return low, high
