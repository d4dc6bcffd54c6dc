"""One whole benchmark run: deploy, measure at each concurrency level, the breakdown and the
history, memory and images, teardown; then bench/results.json and docs/BENCHMARK.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
from datetime import UTC, datetime
from typing import Any

from . import config, deploy, hashing, report
from .breakdown import run_breakdown
from .experiments import run_history
from .measure import CpuMeter, Load, basic_auth, loadavg
from .proc import docker, log, run


def meta(levels: list[int], duration: int) -> dict[str, Any]:
    others = sorted(
        n
        for n in docker("ps", "--format", "{{.Names}}").splitlines()
        if n and not n.startswith(f"{config.PROJECT}-")
    )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg(),
        "duration_s": duration,
        "levels": levels,
        "other_containers": ", ".join(others),
        "project": config.PROJECT,
        "body": config.BODY,
    }


def level_row(concurrency: int, gateway: dict[str, Any], direct: dict[str, Any]) -> dict[str, Any]:
    """Gateway vs direct at one concurrency: both runs, throughput ratio, added latency."""
    return {
        "concurrency": concurrency,
        "gateway": gateway,
        "direct": direct,
        "ratio": round(gateway["rps"] / direct["rps"], 3) if direct["rps"] else 0.0,
        **{
            f"added_{p}_ms": round(gateway[f"{p}_ms"] - direct[f"{p}_ms"], 3)
            for p in ("p50", "p95", "p99")
        },
    }


def goals(by_c: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The goals the rows at c=32 and c=1 meet or miss (a benchmark reports, it does not fail)."""
    found = []
    if 32 in by_c:
        r = by_c[32]
        gateway = r["gateway"]
        found.append({
            "name": "gateway/direct throughput at c=32",
            "target": "≥ 0.80",
            "measured": f"{r['ratio']:.2f}",
            "met": r["ratio"] >= config.GOALS["ratio_at_32"],
        })  # fmt: skip
        found.append({
            "name": "gateway throughput at c=32, 0 errors",
            "target": "≥ 1,300 req/s, 0 errors",
            "measured": f"{gateway['rps']:,.0f} req/s, {gateway['errors']} errors",
            "met": gateway["rps"] >= config.GOALS["gateway_rps_at_32"] and gateway["errors"] == 0,
        })  # fmt: skip
    if 1 in by_c:
        r = by_c[1]
        found.append({
            "name": "added p50 at c=1",
            "target": "≤ 1.0 ms",
            "measured": f"{r['added_p50_ms']:.2f} ms",
            "met": r["added_p50_ms"] <= config.GOALS["added_p50_ms_at_1"],
        })  # fmt: skip
    return found


def measure_levels(load: Load, levels: list[int], duration: int, auth: str) -> list[dict]:
    rows = []
    for c in levels:
        row = level_row(c, load.gateway(c, duration, auth=auth), load.direct(c, duration))
        g, d = row["gateway"], row["direct"]
        rows.append(row)
        log(
            f"c={c:<3} gateway {g['rps']:8.1f} req/s p50 {g['p50_ms']:.2f} p99 {g['p99_ms']:.2f} "
            f"err {g['errors']} | direct {d['rps']:8.1f} req/s p50 {d['p50_ms']:.2f} p99 "
            f"{d['p99_ms']:.2f} err {d['errors']} | ratio {row['ratio']:.2f} added p50 "
            f"{row['added_p50_ms']:+.2f} ms"
        )
    return rows


def parse_memory(stats: str) -> dict[str, str]:
    """`docker stats` lines "name\\tused / limit" -> {name: used}, bench clients left out."""
    return {
        ln.split("\t")[0]: ln.split("\t")[1].split(" / ")[0]
        for ln in stats.splitlines()
        if ln and "bench-client" not in ln
    }


def parse_images(images: str) -> dict[str, str]:
    """`docker images` lines "repo:tag\\tsize" -> {repo:tag: size}, the project's and Debian's."""
    return {
        ln.split("\t")[0]: ln.split("\t")[1]
        for ln in sorted(images.splitlines())
        if ln.startswith(f"{config.PROJECT}/") or ln.startswith("debian:")
    }


def _deploy(res: dict[str, Any], args: argparse.Namespace, started_fresh: bool) -> None:
    key = "first" if started_fresh else "again"
    res["deployment"][key] = deploy.playbook("site.yml", None, f"deploy-{key}")
    if not args.skip_repeat:
        res["deployment"]["repeat"] = deploy.playbook("site.yml", None, "deploy-repeat")


def _measure(
    res: dict[str, Any], args: argparse.Namespace, image: str, started_fresh: bool
) -> None:
    if not args.no_deploy:
        _deploy(res, args, started_fresh)
    pub_ip = deploy.start_clients(image)
    if not args.no_deploy:
        res["deployment"]["exempt"] = deploy.exempt_from_rate_limit(pub_ip, "deploy-exempt")
    load = Load(CpuMeter(), replicas=len(deploy.api_v1_containers()))
    res["meta"].update(client_public_ip=pub_ip, v1_replicas=load.replicas)
    deploy.wait_gateway()
    version = run(["docker", "exec", config.CLIENT_PUBLIC, "wrk", "-v"], check=False)
    lines = version.stdout.splitlines()
    res["meta"]["wrk"] = lines[0].split()[1] if lines else "?"
    auth, duration = basic_auth(config.USER, config.PASSWORD), args.duration

    log("warm-up (3 s each side)")
    load.gateway(8, 3, auth=auth)
    load.direct(8, 3)
    res["idle_cpu_ms_per_s"] = load.meter.measure_idle(config.CLIENT_PUBLIC)
    log(f"idle CPU (ms per s): {res['idle_cpu_ms_per_s']}")
    res["levels"] = measure_levels(load, res["meta"]["levels"], duration, auth)
    by_c = {r["concurrency"]: r for r in res["levels"]}
    res["goals"] = goals(by_c)
    if not args.skip_breakdown:
        res["breakdown"] = run_breakdown(load, by_c, duration, auth)
    if not args.skip_experiments:
        res["experiments"] = run_history(load, duration, auth)
    # Memory and images after the load.
    stats = docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}",
                   *deploy.stack_containers())  # fmt: skip
    res["memory"] = parse_memory(stats)
    images = docker("images", "--format", "{{.Repository}}:{{.Tag}}\t{{.Size}}")
    res["images"] = parse_images(images)


def run_benchmark(args: argparse.Namespace) -> int:
    levels = [int(x) for x in args.levels.split(",")]
    if os.geteuid() != 0:
        raise SystemExit("run as root (the stack's data directory is root-owned)")
    hashing.htpasswd_filters()  # before deploying: the experiments hash with the role's filter
    res: dict[str, Any] = {"meta": meta(levels, args.duration), "deployment": {}}
    started_fresh = not deploy.stack_containers()
    image = deploy.client_image()
    try:
        _measure(res, args, image, started_fresh)
    finally:
        if not args.keep:
            deploy.teardown(image, purge=args.purge)
    loads = [r[k]["loadavg_before"] for r in res["levels"] for k in ("gateway", "direct")]
    res["meta"]["loadavg_min"], res["meta"]["loadavg_max"] = min(loads), max(loads)
    config.RESULTS.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    md = report.write(res)
    print(md)
    log("wrote bench/results.json and docs/BENCHMARK.md")
    return 0  # a benchmark reports its goals; it does not fail on them
