"""api-v1's tasks all on one node vs spread over the rehearsal's three nodes, same run.

Against the running swarm rehearsal (Molecule scenario swarm kept up with `molecule converge -s
swarm`) whose gateway was deployed with a rate limit no benchmark reaches (the rehearsal's 10r/s per
client would answer 429): `--tags gateway -e nginx_gateway_rate_limit=100000r/s`. Placement changes
with `docker service update --constraint-add/--constraint-rm` on the manager (the swarm moves the
tasks), measured in the order spread, one node, spread (ABA), each with ApacheBench (`ab`,
apache2-utils: keep-alive POSTs) from this machine to the manager's published HTTPS port on
127.0.0.1. Every node is a container of this machine: the 2 cores are shared by the three nodes, the
gateway and the load generator, so "spread" adds no CPU; it shows what the overlay and DNS round
robin across nodes cost, not what more hardware brings.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("swarm-results.json")


def sh(*argv: str, timeout: float = 300) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout).stdout


def on_manager(manager: str, *argv: str, timeout: float = 300) -> str:
    return sh("docker", "exec", manager, *argv, timeout=timeout)


def placement(manager: str, service: str) -> dict[str, int]:
    out = on_manager(
        manager,
        "docker",
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Node}} {{.CurrentState}}",
        service,
    )
    nodes: dict[str, int] = {}
    for line in out.splitlines():
        node, state = line.split(" ", 1)
        if state.startswith("Running"):
            nodes[node] = nodes.get(node, 0) + 1
    return dict(sorted(nodes.items()))


def place(manager: str, service: str, node: str | None, replicas: int) -> dict[str, int]:
    """All tasks on `node`, or (None) no constraint; waits until `replicas` tasks run."""
    constraint = f"node.hostname=={node}" if node else None
    current = (
        json.loads(
            on_manager(
                manager,
                "docker",
                "service",
                "inspect",
                "--format",
                "{{json .Spec.TaskTemplate.Placement.Constraints}}",
                service,
            )
        )
        or []
    )
    args = [f"--constraint-rm={c}" for c in current if c.startswith("node.hostname")]
    if constraint:
        args.append(f"--constraint-add={constraint}")
    else:
        # A removed constraint moves nothing: reschedule every task, the scheduler spreads them.
        args.append("--force")
    on_manager(
        manager,
        "docker",
        "service",
        "update",
        "--quiet",
        "--detach=false",
        *args,
        service,
        timeout=600,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = placement(manager, service)
        if sum(found.values()) == replicas and (not node or list(found) == [node]):
            return found
        time.sleep(2)
    raise SystemExit(f"{service} did not settle: {placement(manager, service)}")


def ab(port: int, auth: str, concurrency: int, duration: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as body:
        body.write('{"sentence": "the crew was friendly and the flight on time"}')
        body.flush()
        out = sh(
            "ab",
            "-q",
            "-k",
            "-c",
            str(concurrency),
            "-t",
            str(duration),
            "-n",
            "10000000",
            "-p",
            body.name,
            "-T",
            "application/json",
            "-A",
            auth,
            f"https://127.0.0.1:{port}/predict",
            timeout=duration + 120,
        )

    def number(pattern: str) -> float:
        m = re.search(pattern, out, re.MULTILINE)
        return float(m[1]) if m else float("nan")

    return {
        "rps": number(r"^Requests per second:\s+([0-9.]+)"),
        "p50_ms": number(r"^\s+50%\s+([0-9]+)"),
        "p99_ms": number(r"^\s+99%\s+([0-9]+)"),
        "failed": number(r"^Failed requests:\s+([0-9]+)"),
        "non_2xx": number(r"^Non-2xx responses:\s+([0-9]+)") if "Non-2xx" in out else 0.0,
        "complete": number(r"^Complete requests:\s+([0-9]+)"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manager", default="fortress-swarm-1")
    ap.add_argument("--service", default="fortress-api-v1")
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--port", type=int, default=28444)
    ap.add_argument("--auth", required=True, help="user:password of the gateway")
    # Under the gateway's per-client connection limit (nginx_gateway_limit_conn): one client here.
    ap.add_argument("--levels", default="4,8")
    ap.add_argument("--duration", type=int, default=15)
    args = ap.parse_args()
    rows = []
    for label, node in (("spread", None), ("one node", args.manager), ("spread again", None)):
        found = place(args.manager, args.service, node, args.replicas)
        time.sleep(5)  # the gateway's DNS answers (5 s) follow the moved tasks
        for c in (int(x) for x in args.levels.split(",")):
            rows.append(
                {
                    "placement": label,
                    "tasks": found,
                    "c": c,
                    **ab(args.port, args.auth, c, args.duration),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    place(args.manager, args.service, None, args.replicas)
    spread = {r["c"]: r["rps"] for r in rows if r["placement"] == "spread"}
    print("\n| placement | tasks by node | c | req/s | vs spread | p50 ms | p99 ms | non-2xx |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['placement']} | {r['tasks']} | {r['c']} | {r['rps']:.1f} | "
            f"{r['rps'] / spread[r['c']]:.2f} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} | "
            f"{r['non_2xx']:.0f} |"
        )
    RESULTS.write_text(json.dumps({"rows": rows, "doc": __doc__}, indent=2) + "\n")


if __name__ == "__main__":
    main()
