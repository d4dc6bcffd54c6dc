"""`make bench-shadow`: what mirroring v1 traffic to a candidate costs clients, in one run.

The private fbench stack with a candidate (fortress_candidate_enabled), the benchmark client
exempt from the rate limit; then, over --rounds, the gateway re-rendered with each
nginx_gateway_shadow_percent of --shadow-percents (default 0, 25, 100: 100 copies every v1
request), and wrk through the gateway at each --levels concurrency. Printed side by side: client
req/s, p50, p99, errors, their ratios to no shadow, and the CPU the gateway, the v1 replicas and
the candidate spent per client request (the copies cost the candidate's CPU, on the same cores).
Results: bench/shadow-results.json. Load goes only to fbench containers.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import Any

from . import config, deploy
from .measure import CpuMeter, Load, basic_auth
from .proc import log

RESULTS = config.BENCH / "shadow-results.json"


def stack_vars(args: argparse.Namespace, client_ip: str | None, percent: int) -> dict[str, Any]:
    extra: dict[str, Any] = {
        "fortress_candidate_enabled": True,
        "nginx_gateway_shadow_percent": percent,
    }
    if args.candidate:
        extra["sentiment_api_candidate_model_dir"] = args.candidate
    if client_ip:
        extra[config.RATE_LIMIT_EXEMPT_VAR] = [f"{client_ip}/32"]
    return extra


def measure(load: Load, levels: list[int], duration: int, auth: str) -> dict[int, dict]:
    found = {}
    for c in levels:
        g = load.gateway(c, duration, auth=auth)
        found[c] = g
        cpu = g["cpu_us_per_request"]
        log(
            f"  c={c:<3} {g['rps']:8.1f} req/s p50 {g['p50_ms']:.2f} p99 {g['p99_ms']:.2f} "
            f"err {g['errors']} | CPU us/request gateway {cpu['gateway']} api {cpu['api']} "
            f"candidate {cpu['candidate']}"
        )
    return found


def summarise(runs: dict[str, list[dict[int, dict]]], levels: list[int]) -> list[dict[str, Any]]:
    """Median over rounds per share and level, and each share's ratios to no shadow (0 %)."""
    rows = []
    for c in levels:
        row: dict[str, Any] = {"concurrency": c}
        for mode, rounds in runs.items():
            pick = [r[c] for r in rounds]
            row[mode] = {
                key: statistics.median(p[key] for p in pick)
                for key in ("rps", "p50_ms", "p99_ms", "errors")
            }
            row[mode]["cpu_us_per_request"] = {
                g: statistics.median(p["cpu_us_per_request"][g] for p in pick)
                for g in ("gateway", "api", "candidate")
            }
        base = row["0"]
        for mode in runs:
            row[mode]["ratios_to_0"] = {
                key: round(row[mode][key] / base[key], 3) for key in ("rps", "p50_ms", "p99_ms")
            }
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], modes: list[str]) -> str:
    lines = [
        "| c | shadow % | req/s | p50 ms | p99 ms | errors | req/s, p50, p99 vs 0 % "
        "| gateway CPU us/req | v1 CPU us/req | candidate CPU us/req |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        for mode in modes:
            m, cpu, r = row[mode], row[mode]["cpu_us_per_request"], row[mode]["ratios_to_0"]
            lines.append(
                f"| {row['concurrency']} | {mode} | {m['rps']:.1f} | {m['p50_ms']:.2f} | "
                f"{m['p99_ms']:.2f} | {m['errors']:.0f} | {r['rps']:.2f}, {r['p50_ms']:.2f}, "
                f"{r['p99_ms']:.2f} | {cpu['gateway']:.0f} | {cpu['api']:.0f} | "
                f"{cpu['candidate']:.0f} |"
            )
    return "\n".join(lines)


def run_shadow(args: argparse.Namespace) -> int:
    levels = [int(x) for x in args.levels.split(",")]
    image = deploy.client_image()
    percents = [int(x) for x in args.shadow_percents.split(",")]
    if percents[0] != 0:
        raise SystemExit("--shadow-percents starts with 0 (the baseline)")
    runs: dict[str, list[dict[int, dict]]] = {str(p): [] for p in percents}
    try:
        deploy.playbook("site.yml", stack_vars(args, None, 0), "shadow-deploy")
        client_ip = deploy.start_clients(image)
        deploy.playbook("site.yml", stack_vars(args, client_ip, 0), "shadow-exempt", tags="gateway")
        deploy.wait_gateway()
        load = Load(CpuMeter(), replicas=len(deploy.api_v1_containers()))
        auth = basic_auth(config.USER, config.PASSWORD)
        load.gateway(8, 3, auth=auth)  # warm-up
        load.meter.measure_idle(config.CLIENT_PUBLIC)
        for rnd in range(1, args.rounds + 1):
            for percent in percents:
                extra = stack_vars(args, client_ip, percent)
                deploy.playbook("site.yml", extra, f"shadow-{percent}-{rnd}", tags="gateway")
                deploy.wait_gateway()
                log(f"round {rnd}, shadow {percent}% of v1 requests copied")
                runs[str(percent)].append(measure(load, levels, args.duration, auth))
    finally:
        if not args.keep:
            deploy.teardown(image, purge=args.purge)
    rows = summarise(runs, levels)
    RESULTS.write_text(json.dumps({"levels": rows, "rounds": runs}, indent=2, default=str) + "\n")
    print(table(rows, list(runs)))
    log(f"wrote {RESULTS.relative_to(config.ROOT)}")
    return 0
