"""Train the sentiment model; write ``model.safetensors``, ``metrics.json`` and ``MODEL_CARD.md``.

Entry point of ``make model``: ``python src/gen_model.py [--out model/] [--seed 42]``.
The steps live in the ``model_training`` package (data, features, training, evaluation, card).
"""

from __future__ import annotations

from model_training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
