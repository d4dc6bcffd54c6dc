"""Command line of `make bench` (`python bench/run.py` or `python -m bench`)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import __doc__ as package_doc
from . import report
from .compare import run_compare
from .drive import run_benchmark
from .shadow import run_shadow


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    summary = " ".join((package_doc or "").split("\n\n")[0].split())
    ap = argparse.ArgumentParser(description=summary)
    ap.add_argument("--levels", default="1,8,32,64", help="concurrency levels (default 1,8,32,64)")
    ap.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    ap.add_argument(
        "--no-deploy", action="store_true", help="use the running fbench stack as it is"
    )
    ap.add_argument("--keep", action="store_true", help="leave the fbench stack running afterwards")
    ap.add_argument(
        "--purge", action="store_true", help="also remove fbench images, volumes and /opt/fbench"
    )
    ap.add_argument("--skip-breakdown", action="store_true")
    ap.add_argument("--skip-experiments", action="store_true")
    ap.add_argument(
        "--skip-repeat", action="store_true", help="skip the repeated (warm) deployment run"
    )
    ap.add_argument(
        "--compare",
        metavar="REV",
        help="before/after: the same load on the tree at REV and on this one (fbench/compare.py)",
    )
    ap.add_argument("--rounds", type=int, default=2, help="rounds of --compare (default 2: ABAB)")
    ap.add_argument(
        "--shadow",
        action="store_true",
        help="shadow traffic off vs on, side by side (fbench/shadow.py); --levels 8,32 suits it",
    )
    ap.add_argument("--candidate", help="with --shadow: the candidate's model directory")
    ap.add_argument(
        "--shadow-percents", default="0,25,100", help="with --shadow: shares to compare (0 first)"
    )
    ap.add_argument(
        "--render",
        action="store_true",
        help="only re-render docs/BENCHMARK.md from bench/results.json",
    )
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        report.render_committed()
        return 0
    if args.compare:
        return run_compare(args)
    if args.shadow:
        return run_shadow(args)
    return run_benchmark(args)
