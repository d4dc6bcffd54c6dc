"""Measurements: wrk runs (req/s, latency, errors), CPU per request from cgroup counters,
`openssl s_time` handshakes."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .deploy import api_v1_containers, candidate_containers
from .proc import docker, run

WRK_RESULT_PREFIX = "BENCH_JSON "
WRK_MAX_THREADS = 8
CPU_GROUPS = ("client", "gateway", "dockerd", "api")


def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


def _dockerd_cpu_ns() -> int:
    pid = Path("/var/run/docker.pid").read_text().strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")


def _cgroup_cpu_ns(container_id: str) -> int:
    """CPU time (ns) of a container: cgroup v1 cpuacct, else v2 cpu.stat, else 0."""
    for base in ("/sys/fs/cgroup/cpuacct/docker", "/sys/fs/cgroup/cpu,cpuacct/docker"):
        path = Path(base) / container_id / "cpuacct.usage"
        if path.exists():
            return int(path.read_text())
    path = Path("/sys/fs/cgroup/system.slice") / f"docker-{container_id}.scope" / "cpu.stat"
    if path.exists():
        usage = re.search(r"usage_usec (\d+)", path.read_text())
        return int(usage.group(1)) * 1000 if usage else 0
    return 0


@dataclass
class CpuMeter:
    """CPU counters of the parts that work for a request: client, gateway, API replicas, engine."""

    idle_ns_per_s: dict[str, float] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict)

    def cpu_ns(self, name: str) -> int:
        """CPU time (ns) used so far by a container or, for "dockerd", by the engine."""
        if name == "dockerd":
            return _dockerd_cpu_ns()
        if name not in self._ids:
            self._ids[name] = docker("inspect", "-f", "{{.Id}}", name)
        return _cgroup_cpu_ns(self._ids[name])

    def snapshot(self, client: str) -> dict[str, int]:
        groups = {
            "client": [client],
            "gateway": [config.GATEWAY],
            "dockerd": ["dockerd"],
            "api": api_v1_containers(),
            "candidate": candidate_containers(),
        }
        return {g: sum(self.cpu_ns(n) for n in names) for g, names in groups.items()}

    def measure_idle(self, client: str, seconds: int = 10) -> dict[str, float]:
        """CPU the stack burns without load (healthchecks, Prometheus scrapes), ms per second."""
        before = self.snapshot(client)
        time.sleep(seconds)
        after = self.snapshot(client)
        self.idle_ns_per_s.update({g: (after[g] - before[g]) / seconds for g in after})
        return {g: round(v / 1e6, 1) for g, v in self.idle_ns_per_s.items()}

    def per_request_us(
        self, before: dict[str, int], after: dict[str, int], wall: float, requests: int
    ) -> dict[str, float]:
        """CPU µs per request of each group, net of the idle background over `wall` seconds."""
        return {
            g: round(
                max(after[g] - before[g] - self.idle_ns_per_s.get(g, 0) * wall, 0)
                / 1000
                / max(requests, 1),
                1,
            )
            for g in after
        }


def wrk_raw(stdout: str) -> dict[str, Any] | None:
    """The BENCH_JSON line that bench/client/wrk/post.lua prints, parsed."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(WRK_RESULT_PREFIX)), None)
    return None if line is None else json.loads(line[len(WRK_RESULT_PREFIX) :])


def wrk_summary(raw: dict[str, Any], conns: int, threads: int) -> dict[str, Any]:
    """Throughput, latency percentiles (ms) and errors of one wrk run."""
    seconds = raw["duration_us"] / 1e6
    pct, lat = raw["latency_us"]["percentiles"], raw["latency_us"]
    return {
        "concurrency": conns,
        "threads": threads,
        "seconds": round(seconds, 2),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        **{f"p{p}_ms": round(pct[p] / 1000, 3) for p in ("50", "90", "95", "99")},
        "max_ms": round(lat["max"] / 1000, 3),
        "mean_ms": round(lat["mean"] / 1000, 3),
        "errors": sum(raw["errors"].values()),
        "errors_detail": raw["errors"],
    }


def basic_auth(user: str, password: str) -> str:
    """The Authorization header value of HTTP basic auth."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Load:
    """wrk from the two client containers: through the gateway, or directly at the replicas."""

    meter: CpuMeter
    replicas: int = 0

    def wrk(self, client: str, url: str, conns: int, duration: int, **options: Any) -> dict:
        """One closed-loop wrk run; options: auth, close, method, targets (see post.lua)."""
        threads = min(conns, WRK_MAX_THREADS)
        env = {
            "BENCH_METHOD": options.get("method", "POST"),
            "BENCH_BODY": config.BODY,
            "BENCH_AUTH": options.get("auth", ""),
            "BENCH_CLOSE": "1" if options.get("close") else "0",
            "BENCH_TARGETS": options.get("targets", ""),
        }
        cmd = ["docker", "exec"]
        for key, value in env.items():
            cmd += ["-e", f"{key}={value}"]
        cmd.append(client)
        cmd += ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{duration}s"]
        cmd += ["--timeout", "5s", "-s", "/bench/post.lua", url]
        load_before = loadavg()
        cpu_before = self.meter.snapshot(client)
        wall = time.monotonic()
        res = run(cmd, timeout=duration + 60)
        wall = time.monotonic() - wall
        cpu_after = self.meter.snapshot(client)
        raw = wrk_raw(res.stdout)
        if raw is None:
            raise SystemExit(f"wrk printed no result:\n{res.stdout}\n{res.stderr}")
        return {
            **wrk_summary(raw, conns, threads),
            "loadavg_before": load_before,
            # CPU time each part spent per request (µs), net of the idle background measured
            # before the load: independent of what else runs on the machine.
            "cpu_us_per_request": self.meter.per_request_us(
                cpu_before, cpu_after, wall, raw["requests"]
            ),
        }

    def gateway(self, conns: int, duration: int, path: str = "/predict", **options: Any) -> dict:
        url = f"{config.GATEWAY_URL}{path}"
        return self.wrk(config.CLIENT_PUBLIC, url, conns, duration, **options)

    def direct(self, conns: int, duration: int) -> dict:
        aliases = [config.api_v1_alias(i) for i in range(1, self.replicas + 1)]
        targets = ",".join(f"{alias}:{config.API_PORT}" for alias in aliases)
        url = f"http://{config.api_v1_alias(1)}:{config.API_PORT}/predict"
        return self.wrk(config.CLIENT_BACKEND, url, conns, duration, targets=targets)


def parse_s_time(out: str, seconds: int) -> dict[str, Any]:
    """Connections and wall time per handshake from `openssl s_time` output."""
    found = re.findall(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec", out)
    reused = re.search(r"(\d+) connections in (\d+) real seconds", out)
    if not found:
        return {"error": out[-500:]}
    conns, cpu_s, _per_s = found[-1]
    real = int(reused.group(2)) if reused else seconds
    return {
        "connections": int(conns),
        "real_seconds": real,
        "handshakes_per_s_real": round(int(conns) / max(real, 1), 1),
        "client_cpu_s": float(cpu_s),
        "ms_per_handshake_real": round(1000 * real / max(int(conns), 1), 3),
    }


def s_time(extra: list[str], seconds: int) -> dict[str, Any]:
    """openssl s_time against the gateway: handshakes only (no request), new or resumed."""
    cmd = ["docker", "exec", config.CLIENT_PUBLIC, "openssl", "s_time"]
    cmd += ["-connect", config.GATEWAY_TLS_ADDRESS, "-www", "/healthz", "-time", str(seconds)]
    out = run([*cmd, *extra], timeout=seconds + 60, check=False).stdout
    return parse_s_time(out, seconds)
