#!/usr/bin/env python3
"""`make bench`: deploy a private copy of the stack, load it with wrk, write the numbers, tear it down.

What it measures, in one run on the same machine:
  * POST /predict through the gateway (HTTPS, basic auth, keep-alive) from a client container on the
    public network, and directly at the api-v1 replicas (HTTP, aggregate over all replicas, no gateway)
    from a client container on the backend network, at fixed concurrency levels;
  * where the gateway's time goes: TLS (full vs resumed handshakes with `openssl s_time`, connection per
    request with wrk), basic-auth hash verification (401 without vs with a wrong password), proxying;
  * the gateway's history, replayed on the private copy only (never on the roles): each change ->
    req/s, p50, p99;
  * deployment time (first and repeated run, `changed=`), API replica memory, image sizes.

The private stack is the project `fbench` (containers fbench-*, networks fbench_*, data in /opt/fbench, its own
ports) so it never disturbs `make start-project` or Molecule. The rate limit is lifted for the benchmark's public
client address only (`nginx_gateway_rate_limit_exempt: [<client>/32]`). Load goes only to fbench containers.

Results: bench/results.json (machine-readable) and docs/BENCHMARK.md (tables); the summary is printed.
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = ROOT / ".venv" / "bin"
LOG_DIR = BENCH / "logs"

PROJECT = "fbench"
DATA_DIR = Path("/opt/fbench")
PORTS = {
    "fortress_http_port": 28081,
    "fortress_https_port": 28444,
    "fortress_prometheus_port": 29091,
    "fortress_grafana_port": 23001,
}
CLIENT_IMAGE = f"{PROJECT}/bench-client"
CLIENT_PUBLIC = f"{PROJECT}-bench-client-public"
CLIENT_BACKEND = f"{PROJECT}-bench-client-backend"
NET_PUBLIC = f"{PROJECT}_public"
NET_BACKEND = f"{PROJECT}_backend"
GATEWAY = f"{PROJECT}-gateway"
GATEWAY_URL = "https://gateway:8443"
API_PORT = 8000
BODY = '{"sentence": "I love this product"}'
# The benchmark's user: a generated secret per run, as a production vault holds (htpasswd_scheme auto stores
# such a password as {SSHA}); BENCH_PASSWORD=admin measures what a short password costs (sha512-crypt).
USER = os.environ.get("BENCH_USER", "bench")
PASSWORD = os.environ.get("BENCH_PASSWORD") or secrets.token_urlsafe(24)

GOALS = {
    "ratio_at_32": 0.80,
    "added_p50_ms_at_1": 1.0,
    "gateway_rps_at_32": 1300,
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(
    cmd: list[str], *, check: bool = True, timeout: float | None = 600, **kw
) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, timeout=timeout, text=True, capture_output=True, **kw)


def docker(*args: str, check: bool = True, timeout: float | None = 600) -> str:
    return run(["docker", *args], check=check, timeout=timeout).stdout.strip()


# ------------------------------------------------------------------------------------------------ deployment
def playbook(name: str, extra: dict | None, logname: str) -> dict:
    """Run a playbook against the local inventory with the fbench overrides; return time and recap."""
    cmd = [
        str(VENV_BIN / "ansible-playbook"),
        "-i",
        "inventory/local",
        f"playbooks/{name}",
        "-e",
        f"fortress_project={PROJECT}",
        "-e",
        f"fortress_data_dir={DATA_DIR}",
    ]
    for key, value in PORTS.items():
        cmd += ["-e", f"{key}={value}"]
    # Extra variables in a private file: they carry the benchmark user's password.
    extra_file = LOG_DIR / "extra-vars.json"
    LOG_DIR.mkdir(exist_ok=True)
    extra_file.touch(mode=0o600)
    extra_file.write_text(
        json.dumps({"htpasswd_users": [{"name": USER, "password": PASSWORD}], **(extra or {})})
    )
    cmd += ["-e", f"@{extra_file}"]
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        PATH=f"{VENV_BIN}:{os.environ['PATH']}",
    )
    LOG_DIR.mkdir(exist_ok=True)
    logfile = LOG_DIR / f"{logname}.log"
    log(f"ansible-playbook {name} ({logname}), log in {logfile.relative_to(ROOT)}")
    start = time.monotonic()
    with logfile.open("w") as out:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=1800
        )
    seconds = time.monotonic() - start
    text = logfile.read_text()
    recap = re.search(r"^localhost\s*:\s*(.*)$", text, re.M)
    counts = (
        dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))) if recap else {}
    )
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-40:])
        raise SystemExit(
            f"ansible-playbook {name} failed (rc {proc.returncode}); last lines:\n{tail}"
        )
    log(f"  {seconds:.0f} s, {counts}")
    return {"seconds": round(seconds, 1), "recap": counts}


def stack_containers() -> list[str]:
    out = docker(
        "ps", "-a", "--filter", f"label=fortress.project={PROJECT}", "--format", "{{.Names}}"
    )
    return sorted(n for n in out.splitlines() if n)


def client_image() -> str:
    """Build the wrk client image, tagged with a digest of its context (rebuilt only when it changes)."""
    context = BENCH / "client"
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0" + path.read_bytes())
    image = f"{CLIENT_IMAGE}:{digest.hexdigest()[:12]}"
    if not docker("images", "-q", image):
        log(f"building {image}")
        run(["docker", "build", "-q", "-t", image, str(context)], timeout=900)
    return image


def start_client(name: str, image: str, network: str) -> str:
    docker("rm", "-f", name, check=False)
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--label",
        f"fortress.project={PROJECT}",
        "--label",
        "fortress.role=bench-client",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--read-only",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1m",
        image,
    )
    ip = docker(
        "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}', name
    )
    log(f"client {name} on {network}: {ip}")
    return ip


def wait_gateway(timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = run(
            [
                "docker",
                "exec",
                CLIENT_PUBLIC,
                "wrk",
                "-t1",
                "-c1",
                "-d1s",
                f"{GATEWAY_URL}/healthz",
            ],
            check=False,
            timeout=30,
        )
        if res.returncode == 0 and "Requests/sec" in res.stdout and "Non-2xx" not in res.stdout:
            return
        time.sleep(1)
    raise SystemExit("gateway /healthz did not answer the benchmark client")


# ------------------------------------------------------------------------------------------------ load
def loadavg() -> float:
    return round(os.getloadavg()[0], 2)


_CGROUP_IDS: dict[str, str] = {}


def _cpu_ns(name: str) -> int:
    """CPU time (ns) used so far by a container (cgroup v1 cpuacct) or, for "dockerd", by the engine."""
    if name == "dockerd":
        pid = Path("/var/run/docker.pid").read_text().strip()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 10**9 // os.sysconf("SC_CLK_TCK")
    if name not in _CGROUP_IDS:
        _CGROUP_IDS[name] = docker("inspect", "-f", "{{.Id}}", name)
    for base in ("/sys/fs/cgroup/cpuacct/docker", "/sys/fs/cgroup/cpu,cpuacct/docker"):
        path = Path(base) / _CGROUP_IDS[name] / "cpuacct.usage"
        if path.exists():
            return int(path.read_text())
    path = Path("/sys/fs/cgroup/system.slice") / f"docker-{_CGROUP_IDS[name]}.scope" / "cpu.stat"
    if path.exists():  # cgroup v2
        usage = re.search(r"usage_usec (\d+)", path.read_text())
        return int(usage.group(1)) * 1000 if usage else 0
    return 0


IDLE_NS_PER_S: dict[str, float] = {}


def idle_cpu(seconds: int = 10) -> dict[str, float]:
    """CPU the stack burns without load (healthcheck processes, Prometheus scrapes), in ms per second."""
    before = cpu_snapshot(CLIENT_PUBLIC)
    time.sleep(seconds)
    after = cpu_snapshot(CLIENT_PUBLIC)
    IDLE_NS_PER_S.update({g: (after[g] - before[g]) / seconds for g in after})
    return {g: round(v / 1e6, 1) for g, v in IDLE_NS_PER_S.items()}


def cpu_snapshot(client: str) -> dict[str, int]:
    """CPU counters of the parts that work for a request: client, gateway, API replicas, engine (logs)."""
    groups = {
        "client": [client],
        "gateway": [GATEWAY],
        "dockerd": ["dockerd"],
        "api": [n for n in stack_containers() if re.fullmatch(rf"{PROJECT}-api-v1-\d+", n)],
    }
    return {g: sum(_cpu_ns(n) for n in names) for g, names in groups.items()}


def wrk(
    client: str,
    url: str,
    conns: int,
    duration: int,
    *,
    auth: str = "",
    close: bool = False,
    method: str = "POST",
    targets: str = "",
) -> dict:
    threads = min(conns, 8)
    env = {
        "BENCH_METHOD": method,
        "BENCH_BODY": BODY,
        "BENCH_AUTH": auth,
        "BENCH_CLOSE": "1" if close else "0",
        "BENCH_TARGETS": targets,
    }
    cmd = ["docker", "exec"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    cmd += [
        client,
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(conns),
        "-d",
        f"{duration}s",
        "--timeout",
        "5s",
        "-s",
        "/bench/post.lua",
        url,
    ]
    load_before = loadavg()
    cpu_before = cpu_snapshot(client)
    wall = time.monotonic()
    res = run(cmd, timeout=duration + 60)
    wall = time.monotonic() - wall
    cpu_after = cpu_snapshot(client)
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{res.stdout}\n{res.stderr}")
    raw = json.loads(line[len("BENCH_JSON ") :])
    seconds = raw["duration_us"] / 1e6
    pct = raw["latency_us"]["percentiles"]
    errors = sum(raw["errors"].values())
    return {
        "concurrency": conns,
        "threads": threads,
        "seconds": round(seconds, 2),
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(pct["50"] / 1000, 3),
        "p90_ms": round(pct["90"] / 1000, 3),
        "p95_ms": round(pct["95"] / 1000, 3),
        "p99_ms": round(pct["99"] / 1000, 3),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 3),
        "mean_ms": round(raw["latency_us"]["mean"] / 1000, 3),
        "errors": errors,
        "errors_detail": raw["errors"],
        "loadavg_before": load_before,
        # CPU time each part spent per request (microseconds): independent of what else runs on the machine.
        # Net of the idle background (healthchecks, scrapes) measured before the load, see idle_cpu().
        "cpu_us_per_request": {
            g: round(
                max(cpu_after[g] - cpu_before[g] - IDLE_NS_PER_S.get(g, 0) * wall, 0)
                / 1000
                / max(raw["requests"], 1),
                1,
            )
            for g in cpu_after
        },
    }


def gateway_run(conns: int, duration: int, path: str = "/predict", **kw) -> dict:
    return wrk(CLIENT_PUBLIC, f"{GATEWAY_URL}{path}", conns, duration, **kw)


def direct_run(conns: int, duration: int, replicas: int) -> dict:
    targets = ",".join(f"api-v1-{i}:{API_PORT}" for i in range(1, replicas + 1))
    return wrk(
        CLIENT_BACKEND, f"http://api-v1-1:{API_PORT}/predict", conns, duration, targets=targets
    )


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def s_time(extra: list[str], seconds: int) -> dict:
    """openssl s_time against the gateway: handshakes only (no request), new or resumed sessions."""
    cmd = [
        "docker",
        "exec",
        CLIENT_PUBLIC,
        "openssl",
        "s_time",
        "-connect",
        "gateway:8443",
        "-www",
        "/healthz",
        "-time",
        str(seconds),
        *extra,
    ]
    out = run(cmd, timeout=seconds + 60, check=False).stdout
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


# ------------------------------------------------------------------------------------------------ experiments
class GatewayFiles:
    """Edits of the private stack's rendered gateway files (restored afterwards; the roles are untouched)."""

    def __init__(self) -> None:
        self.conf = DATA_DIR / "gateway" / "conf" / "nginx.conf"
        self.htpasswd = DATA_DIR / "auth" / "htpasswd"
        self.cert = DATA_DIR / "certs" / "server.crt"
        self.key = DATA_DIR / "certs" / "server.key"
        files = (self.conf, self.htpasswd, self.cert, self.key)
        self.saved = {p: (p.read_bytes(), p.stat()) for p in files}

    def use_ecdsa_certificate(self) -> None:
        """Swap in a self-signed ECDSA P-256 certificate (the client does not verify) and reload."""
        tmp = Path("/tmp") / f"{PROJECT}-ecdsa"
        tmp.mkdir(exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", str(tmp / "k"),
             "-out", str(tmp / "c")])  # fmt: skip
        self.write(self.cert, (tmp / "c").read_text())
        self.write(self.key, (tmp / "k").read_text())
        shutil.rmtree(tmp, ignore_errors=True)
        self.reload()

    def reload(self) -> None:
        nginx = ["nginx", "-e", "stderr", "-c", "/etc/nginx/fortress/nginx.conf"]
        docker("exec", GATEWAY, *nginx, "-t", "-q")
        docker("exec", GATEWAY, *nginx, "-s", "reload")
        time.sleep(2)  # old workers finish, new ones take over

    def write(self, path: Path, text: str) -> None:
        _data, st = self.saved[path]
        path.write_text(text)
        os.chown(path, st.st_uid, st.st_gid)
        os.chmod(path, st.st_mode & 0o7777)

    def set_hash(self, hashed: str) -> None:
        self.write(self.htpasswd, f"{USER}:{hashed}\n")  # nginx reads the file on every request

    def deployed_hash(self) -> str:
        return deployed_hash(self.saved[self.htpasswd][0].decode())

    def edit_conf(self, old: str, new: str) -> None:
        text = self.conf.read_text()
        if old not in text:
            raise SystemExit(f"experiment: {old!r} not found in {self.conf}")
        self.write(self.conf, text.replace(old, new, 1))
        self.reload()

    def restore(self) -> None:
        for path, (data, st) in self.saved.items():
            path.write_bytes(data)
            os.chown(path, st.st_uid, st.st_gid)
            os.chmod(path, st.st_mode & 0o7777)
        with contextlib.suppress(subprocess.CalledProcessError):
            self.reload()


def _crypt_module():
    """The stdlib crypt module (deprecated in 3.11, still there): the same crypt(3) nginx calls."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    return crypt


def sha512_crypt(password: str, rounds: int) -> str:
    _crypt = _crypt_module()

    salt = base64.b64encode(secrets.token_bytes(12), altchars=b"./").decode()[:16]
    return _crypt.crypt(password, f"$6$rounds={rounds}${salt}$")


def ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    return (
        "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()
    )


def deployed_hash(htpasswd_text: str) -> str:
    """The benchmark user's hash in a password file."""
    for line in htpasswd_text.splitlines():
        if line.startswith(f"{USER}:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit(f"user {USER} not in the deployed password file")


def hash_label(hashed: str) -> str:
    if hashed.startswith("{SSHA}"):
        return "{SSHA}"
    if hashed.startswith("$6$"):
        rounds = hashed.split("$")[2][7:] if "$rounds=" in hashed else "5000"
        return f"sha512-crypt, {rounds} rounds"
    return hashed.split("$")[1] if hashed.startswith("$") else "?"


def time_hash(hashed: str, password: str, n: int = 200) -> float:
    """Milliseconds to verify one password against a hash here, computed as nginx does: crypt(3) for
    $-schemes, one SHA-1 over password + salt for {SSHA}."""
    if hashed.startswith("{SSHA}"):
        salt = base64.b64decode(hashed[6:])[20:]
        n *= 100
        start = time.perf_counter()
        for _ in range(n):
            hashlib.sha1(password.encode() + salt).digest()
        return round((time.perf_counter() - start) / n * 1000, 4)
    _crypt = _crypt_module()
    start = time.perf_counter()
    for _ in range(n):
        _crypt.crypt(password, hashed)
    return round((time.perf_counter() - start) / n * 1000, 3)


def breakdown_summary(bd: dict) -> str:
    """One paragraph: gateway CPU per request split into stages (c=32 rows, differences of CPU time)."""
    rows = {r["name"]: r["cpu_us_per_request"] for r in bd["wrk"] if r["concurrency"] == 32}

    def gw(prefix: str) -> float:
        return next((v["gateway"] for k, v in rows.items() if k.startswith(prefix)), 0.0)

    tls = gw("GET /healthz")
    nocred = gw("POST /predict without")
    wrong = gw("POST /predict wrong")
    ok = gw("POST /predict → 200 (keep-alive)")
    close = next((v["gateway"] for k, v in rows.items() if k.endswith("Connection: close")), 0.0)
    ecdsa = gw("POST /predict → 200, Connection: close, ECDSA")
    client_ok = next(
        (v["client"] for k, v in rows.items() if k.startswith("POST /predict → 200 (")), 0
    )
    return (
        f"Gateway CPU per request at c=32 (µs): TLS record layer + nginx answering itself ≈ {tls:.0f}; "
        f"/predict location, limit_req and the 401 ≈ {nocred:.0f}; **basic-auth hash verification ≈ "
        f"{wrong - nocred:.0f}**; proxying to the API (upstream keep-alive) ≈ {ok - wrong:.0f}; a full TLS "
        f"handshake per request (Connection: close) adds ≈ {close - ok:.0f} with the RSA-2048 certificate and "
        f"≈ {ecdsa - ok:.0f} with an ECDSA P-256 one. The wrk client spends ≈ {client_ok:.0f} µs per "
        "request on its side of TLS, on the same cores."
    )


# ------------------------------------------------------------------------------------------------ report
def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:,.{digits}f}"


def markdown(res: dict) -> str:
    lines = [
        "# Benchmark (`make bench`)",
        "",
        f"Generated by `bench/run.py` on {res['meta']['date']} ({res['meta']['cpus']} CPUs, "
        f"load average at start {res['meta']['loadavg_start']}). Load generator, gateway and replicas share the "
        "same cores; numbers move with whatever else runs on the machine (see *Conditions*). "
        f"{res['meta']['duration_s']} s per measurement, wrk {res['meta']['wrk']}. Raw data: "
        "[`bench/results.json`](../bench/results.json).",
        "",
        "## Gateway vs direct (POST /predict)",
        "",
        "Gateway: HTTPS + basic auth + rate limit (benchmark client exempt) + proxy to 3 api-v1 replicas, "
        "keep-alive connections, client on the public network. Direct: plain HTTP to the 3 replicas "
        "(wrk thread *i* → replica *i* mod 3), client on the backend network. Errors = non-2xx/3xx + "
        "socket errors.",
        "",
        "| c | gateway req/s | p50 | p95 | p99 | err | direct req/s | p50 | p95 | p99 | err | "
        "ratio | added p50 | added p99 |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in res["levels"]:
        g, d = row["gateway"], row["direct"]
        lines.append(
            f"| {row['concurrency']} | {fmt(g['rps'])} | {g['p50_ms']:.2f} | {g['p95_ms']:.2f} | {g['p99_ms']:.2f} | "
            f"{g['errors']} | {fmt(d['rps'])} | {d['p50_ms']:.2f} | {d['p95_ms']:.2f} | {d['p99_ms']:.2f} | "
            f"{d['errors']} | {row['ratio']:.2f} | {row['added_p50_ms']:+.2f} | {row['added_p99_ms']:+.2f} |"
        )
    lines += [
        "",
        "Latencies in ms.",
        "",
        "## Goals",
        "",
        "| goal | target | measured | met |",
        "|---|---|---|---|",
    ]
    for goal in res["goals"]:
        lines.append(
            f"| {goal['name']} | {goal['target']} | {goal['measured']} | {'yes' if goal['met'] else '**no**'} |"
        )
    lines += [
        "",
        "CPU per request (µs, net of idle background) — gateway run: gateway / API / client / dockerd; "
        "direct run: API / client:",
        "",
        "| c | gateway | API (via gateway) | client (TLS) | dockerd | API (direct) | client (direct) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in res["levels"]:
        g, d = row["gateway"]["cpu_us_per_request"], row["direct"]["cpu_us_per_request"]
        lines.append(
            f"| {row['concurrency']} | {g['gateway']:.0f} | {g['api']:.0f} | {g['client']:.0f} | "
            f"{g['dockerd']:.0f} | {d['api']:.0f} | {d['client']:.0f} |"
        )
    at32 = next((r for r in res["levels"] if r["concurrency"] == 32), None)
    if at32:
        via = at32["gateway"]["cpu_us_per_request"]["api"]
        direct = at32["direct"]["cpu_us_per_request"]["api"] or 1
        if via > 1.5 * direct:
            lines += [
                "",
                f"Note: at c=32 the API replicas spent {via / direct:.1f} times more CPU per request when the "
                "requests came through the gateway than when they came directly. Part of it is the idle "
                "background (healthcheck processes) spread over fewer requests; the rest is unexplained "
                "by this run — upstream connection reuse (`$upstream_connect_time`, sockets in TIME_WAIT "
                "on the replicas) is the first thing to check.",
            ]
    if at32:
        g, d = at32["gateway"]["cpu_us_per_request"], at32["direct"]["cpu_us_per_request"]
        via_total = sum(g[k] for k in ("gateway", "api", "client", "dockerd"))
        direct_total = d["api"] + d["client"]
        if via_total > 0 and direct_total > 0:
            lines += [
                "",
                f"Why the ratio is what it is: at c=32 a request through the gateway costs {via_total:.0f} µs of "
                f"CPU in all (gateway {g['gateway']:.0f}, API {g['api']:.0f}, client TLS {g['client']:.0f}, "
                f"Docker engine log copying {g['dockerd']:.0f}) against {direct_total:.0f} µs direct, on the same "
                f"2 cores, so a CPU-bound run cannot exceed a ratio of about {direct_total / via_total:.2f} "
                f"(measured {at32['ratio']:.2f}). The cheaper the API "
                "per request, the larger the gateway's share: TLS, proxying and the client's TLS are fixed costs.",
            ]
    if res.get("idle_cpu_ms_per_s"):
        idle = res["idle_cpu_ms_per_s"]
        lines += [
            "",
            f"Idle background (no load), CPU ms per second: API replicas {idle['api']}, gateway "
            f"{idle['gateway']}, dockerd {idle['dockerd']}.",
        ]
    bd = res.get("breakdown")
    if bd:
        lines += [
            "",
            "## Where the gateway's time goes",
            "",
            "Each row adds one stage on top of the previous one (same client, same gateway). CPU columns: "
            "CPU time per request of the gateway container, the api-v1 containers, the wrk client and the "
            "Docker engine (which ships the containers' stdout logs), net of the idle background — these "
            "do not depend on what else runs on the machine, unlike req/s and latency.",
            "",
            "| stage | c | req/s | p50 ms | p99 ms | gateway µs | API µs | client µs | dockerd µs | note |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in bd["wrk"]:
            cpu = r["cpu_us_per_request"]
            lines.append(
                f"| {r['name']} | {r['concurrency']} | {fmt(r['rps'])} | {r['p50_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {cpu['gateway']:.0f} | {cpu['api']:.0f} | {cpu['client']:.0f} | "
                f"{cpu['dockerd']:.0f} | {r['note']} |"
            )
        lines += [
            "",
            "TLS handshakes alone (`openssl s_time`, one connection at a time, no request):",
            "",
            "| handshake | connections/s | ms each (wall) |",
            "|---|---:|---:|",
        ]
        for name, r in bd["s_time"].items():
            if "error" in r:
                lines.append(f"| {name} | error | |")
            else:
                lines.append(
                    f"| {name} | {fmt(r['handshakes_per_s_real'])} | {r['ms_per_handshake_real']:.2f} |"
                )
        lines += [
            "",
            "Password hash verification (what nginx's `auth_basic` computes on **every** request, "
            "measured with crypt(3) on this machine):",
            "",
            "| hash | ms per verification |",
            "|---|---:|",
        ]
        for name, ms in bd["hash_ms"].items():
            lines.append(f"| {name} | {ms:.3f} |")
        if bd.get("summary"):
            lines += ["", bd["summary"]]
    ex = res.get("experiments")
    if ex:
        lines += [
            "",
            "## What each change did (the gateway's history, replayed on the private stack)",
            "",
            "Cumulative: each row keeps the changes above it; the last row is what the roles deploy. Gateway POST /predict, keep-alive.",
            "",
            "| change | c=1 req/s | c=1 p50 | c=1 p99 | c=32 req/s | c=32 p50 | c=32 p99 | c=32 err "
            "| c=32 gateway CPU µs/req |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ex:
            a, b = r["c1"], r["c32"]
            lines.append(
                f"| {r['change']} | {fmt(a['rps'])} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | "
                f"{fmt(b['rps'])} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {b['errors']} | "
                f"{b['cpu_us_per_request']['gateway']:.0f} |"
            )
    dep = res.get("deployment", {})
    lines += ["", "## Deployment, memory, images", ""]
    for key, label in (
        ("first", "first run (fbench containers absent, images cached if present)"),
        ("repeat", "repeated run, same variables"),
        ("exempt", "run that adds the benchmark client to the rate-limit exemption"),
    ):
        if key in dep:
            lines.append(
                f"- Playbook {label}: {dep[key]['seconds']:.0f} s, changed={dep[key]['recap'].get('changed')}"
            )
    lines += ["", "| container | memory (docker stats) |", "|---|---:|"]
    for name, mem in res.get("memory", {}).items():
        lines.append(f"| {name} | {mem} |")
    lines += ["", "| image | size |", "|---|---:|"]
    for name, size in res.get("images", {}).items():
        lines.append(f"| {name} | {size} |")
    lines += [
        "",
        "## Method",
        "",
        "- `make bench` = `bench/run.py`: deploys the real `playbooks/site.yml` as project `fbench` (own "
        "containers, networks, ports and /opt/fbench), starts two wrk client containers (public and backend "
        "network), re-runs the playbook with `nginx_gateway_rate_limit_exempt: [<public client>/32]` (only that "
        "client skips the rate limit), measures, then removes everything with `playbooks/stop.yml` "
        "(`--keep` leaves it running, `--purge` also removes the fbench images and /opt/fbench).",
        "- Load: wrk 4.1 (Debian package) with `bench/client/wrk/post.lua`: closed loop, c connections, "
        "threads = min(c, 8), 5 s socket timeout, static request `POST /predict` "
        '`{"sentence": "I love this product"}`. Latency percentiles are wrk\'s (no coordinated-omission '
        "correction). Direct runs pin wrk thread *i* to replica *i* mod 3 (c=32: 12/12/8 connections).",
        "- Errors = socket errors (connect, read, write, timeout) + responses with status ≥ 400.",
        "- Earlier configurations are replayed in the private stack's rendered files only (htpasswd, nginx.conf, "
        "certificate; nginx reloaded) and restored afterwards; the roles are untouched.",
        "- CPU per request comes from the containers' cgroup counters (and dockerd's /proc stat) around each "
        "measurement, minus the idle rate measured for 10 s before the load.",
    ]
    cond = res["meta"]
    lines += [
        "",
        "## Conditions",
        "",
        f"- Other containers running on the engine during the run: {cond['other_containers'] or 'none'}.",
        f"- Load average (1 min) before each measurement: {cond['loadavg_min']} to {cond['loadavg_max']}.",
        "- Client and server share the CPUs, so the client's own TLS cost is in the gateway numbers."
        "",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ main
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
        "--render",
        action="store_true",
        help="only re-render docs/BENCHMARK.md from bench/results.json",
    )
    args = ap.parse_args()
    if args.render:
        (ROOT / "docs" / "BENCHMARK.md").write_text(
            markdown(json.loads((BENCH / "results.json").read_text()))
        )
        return 0
    levels = [int(x) for x in args.levels.split(",")]
    dur = args.duration
    if os.geteuid() != 0:
        raise SystemExit("run as root (the stack's data directory is root-owned)")

    others = sorted(
        n
        for n in docker("ps", "--format", "{{.Names}}").splitlines()
        if n and not n.startswith(f"{PROJECT}-")
    )
    res: dict = {
        "meta": {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "loadavg_start": loadavg(),
            "duration_s": dur,
            "levels": levels,
            "other_containers": ", ".join(others),
            "project": PROJECT,
            "body": BODY,
        },
        "deployment": {},
    }
    started_fresh = not stack_containers()
    image = client_image()
    gw_files = None
    try:
        if not args.no_deploy:
            key = "first" if started_fresh else "again"
            res["deployment"][key] = playbook("site.yml", None, f"deploy-{key}")
            if not args.skip_repeat:
                res["deployment"]["repeat"] = playbook("site.yml", None, "deploy-repeat")
        pub_ip = start_client(CLIENT_PUBLIC, image, NET_PUBLIC)
        start_client(CLIENT_BACKEND, image, NET_BACKEND)
        if not args.no_deploy:
            res["deployment"]["exempt"] = playbook(
                "site.yml", {"nginx_gateway_rate_limit_exempt": [f"{pub_ip}/32"]}, "deploy-exempt"
            )
        res["meta"]["client_public_ip"] = pub_ip
        replicas = len([n for n in stack_containers() if re.fullmatch(rf"{PROJECT}-api-v1-\d+", n)])
        res["meta"]["v1_replicas"] = replicas
        wait_gateway()
        wrk_version = run(
            ["docker", "exec", CLIENT_PUBLIC, "wrk", "-v"], check=False
        ).stdout.splitlines()
        res["meta"]["wrk"] = wrk_version[0].split()[1] if wrk_version else "?"
        auth = basic(USER, PASSWORD)

        log("warm-up (3 s each side)")
        gateway_run(8, 3, auth=auth)
        direct_run(8, 3, replicas)

        res["idle_cpu_ms_per_s"] = idle_cpu()
        log(f"idle CPU (ms per s): {res['idle_cpu_ms_per_s']}")

        res["levels"] = []
        for c in levels:
            g = gateway_run(c, dur, auth=auth)
            d = direct_run(c, dur, replicas)
            row = {
                "concurrency": c,
                "gateway": g,
                "direct": d,
                "ratio": round(g["rps"] / d["rps"], 3) if d["rps"] else 0.0,
                "added_p50_ms": round(g["p50_ms"] - d["p50_ms"], 3),
                "added_p95_ms": round(g["p95_ms"] - d["p95_ms"], 3),
                "added_p99_ms": round(g["p99_ms"] - d["p99_ms"], 3),
            }
            res["levels"].append(row)
            log(
                f"c={c:<3} gateway {g['rps']:8.1f} req/s p50 {g['p50_ms']:.2f} p99 {g['p99_ms']:.2f} err {g['errors']}"
                f" | direct {d['rps']:8.1f} req/s p50 {d['p50_ms']:.2f} p99 {d['p99_ms']:.2f} err {d['errors']}"
                f" | ratio {row['ratio']:.2f} added p50 {row['added_p50_ms']:+.2f} ms"
            )

        by_c = {r["concurrency"]: r for r in res["levels"]}
        goals = []
        if 32 in by_c:
            r = by_c[32]
            goals.append(
                {
                    "name": "gateway/direct throughput at c=32",
                    "target": "≥ 0.80",
                    "measured": f"{r['ratio']:.2f}",
                    "met": r["ratio"] >= GOALS["ratio_at_32"],
                }
            )
            goals.append(
                {
                    "name": "gateway throughput at c=32, 0 errors",
                    "target": "≥ 1,300 req/s, 0 errors",
                    "measured": f"{r['gateway']['rps']:,.0f} req/s, {r['gateway']['errors']} errors",
                    "met": r["gateway"]["rps"] >= GOALS["gateway_rps_at_32"]
                    and r["gateway"]["errors"] == 0,
                }
            )
        if 1 in by_c:
            r = by_c[1]
            goals.append(
                {
                    "name": "added p50 at c=1",
                    "target": "≤ 1.0 ms",
                    "measured": f"{r['added_p50_ms']:.2f} ms",
                    "met": r["added_p50_ms"] <= GOALS["added_p50_ms_at_1"],
                }
            )
        res["goals"] = goals

        if not args.skip_breakdown:
            log("breakdown of the gateway's cost")
            bd: dict = {"wrk": [], "s_time": {}, "hash_ms": {}}
            stages = [
                (
                    "GET /healthz (TLS keep-alive, nginx answers itself)",
                    dict(path="/healthz", method="GET"),
                    "no auth, no proxy",
                ),
                (
                    "POST /predict without credentials → 401",
                    dict(),
                    "location, limit_req; no hash computed",
                ),
                (
                    "POST /predict wrong password → 401",
                    dict(auth=basic(USER, PASSWORD + "-wrong")),
                    "+ one password-hash verification",
                ),
                (
                    "POST /predict → 200 (keep-alive)",
                    dict(auth=auth),
                    "+ proxy to api-v1 and the API itself",
                ),
                (
                    "POST /predict → 200, Connection: close",
                    dict(auth=auth, close=True),
                    "+ TCP + full TLS handshake per request",
                ),
            ]
            for c in (1, 32):
                d = by_c.get(c, {}).get("direct") or direct_run(c, dur, replicas)
                bd["wrk"].append(
                    {
                        "name": "direct to api-v1 (HTTP, no gateway)",
                        "concurrency": c,
                        **d,
                        "note": "the API alone",
                    }
                )
                for name, kw, note in stages:
                    r = gateway_run(c, dur, **kw)
                    bd["wrk"].append({"name": name, "concurrency": c, **r, "note": note})
                    log(
                        f"  c={c:<3} {name}: {r['rps']:.1f} req/s p50 {r['p50_ms']:.2f} p99 {r['p99_ms']:.2f}"
                    )
            st_seconds = max(3, dur // 2)
            for name, extra in (
                ("TLS 1.3 full", ["-new", "-tls1_3"]),
                ("TLS 1.3 resumed", ["-reuse", "-tls1_3"]),
                ("TLS 1.2 full", ["-new", "-tls1_2"]),
                ("TLS 1.2 resumed", ["-reuse", "-tls1_2"]),
            ):
                bd["s_time"][name] = s_time(extra, st_seconds)
                log(f"  s_time {name}: {bd['s_time'][name]}")
            deployed = deployed_hash((DATA_DIR / "auth" / "htpasswd").read_text())
            bd["hash_ms"][f"deployed ({hash_label(deployed)})"] = time_hash(deployed, PASSWORD)
            for rounds in (1000, 5000):
                bd["hash_ms"][f"sha512-crypt, {rounds} rounds"] = time_hash(
                    sha512_crypt(PASSWORD, rounds), PASSWORD
                )
            bd["hash_ms"]["{SSHA} (salted SHA-1, nginx built-in)"] = time_hash(
                ssha(PASSWORD), PASSWORD
            )
            # Same handshakes with an ECDSA P-256 certificate instead of the deployed RSA one.
            gw_files = GatewayFiles()
            gw_files.use_ecdsa_certificate()
            for name, extra in (
                ("TLS 1.3 full, ECDSA P-256 certificate", ["-new", "-tls1_3"]),
                ("TLS 1.2 full, ECDSA P-256 certificate", ["-new", "-tls1_2"]),
            ):
                bd["s_time"][name] = s_time(extra, st_seconds)
                log(f"  s_time {name}: {bd['s_time'][name]}")
            r = gateway_run(32, dur, auth=auth, close=True)
            bd["wrk"].append(
                {"name": "POST /predict → 200, Connection: close, ECDSA P-256 certificate",
                 "concurrency": 32, **r, "note": "full handshake with a cheaper signature"}
            )  # fmt: skip
            log(f"  c=32  close + ECDSA: {r['rps']:.1f} req/s p50 {r['p50_ms']:.2f}")
            gw_files.restore()
            gw_files = None
            bd["summary"] = breakdown_summary(bd)
            res["breakdown"] = bd

        if not args.skip_experiments:
            log("the gateway's history, replayed (private stack only)")
            gw_files = GatewayFiles()
            ex = []

            def measure(change: str) -> None:
                c1 = gateway_run(1, dur, auth=auth)
                c32 = gateway_run(32, dur, auth=auth)
                ex.append({"change": change, "c1": c1, "c32": c32})
                log(
                    f"  {change}: c1 {c1['rps']:.0f} req/s p50 {c1['p50_ms']:.2f} | c32 {c32['rps']:.0f} req/s "
                    f"p50 {c32['p50_ms']:.2f} p99 {c32['p99_ms']:.2f} err {c32['errors']}"
                )

            # The gateway's history, replayed on the private stack: the first version (sha512-crypt with
            # crypt's 5000 rounds, one access-log write per request), each change, then what is deployed.
            deployed_log = re.search(
                r"^ *access_log /dev/stdout fortress_main.*$", gw_files.conf.read_text(), re.M
            )
            unbuffered = "    access_log /dev/stdout fortress_main if=$fortress_loggable;"
            if deployed_log and deployed_log.group(0) != unbuffered:
                gw_files.edit_conf(deployed_log.group(0), unbuffered)
            gw_files.set_hash(sha512_crypt(PASSWORD, 5000))
            measure("first version: sha512-crypt 5000 rounds, unbuffered stdout access log")
            gw_files.set_hash(sha512_crypt(PASSWORD, 1000))
            measure("htpasswd: sha512-crypt 1000 rounds (what a short password still gets)")
            gw_files.set_hash(gw_files.deployed_hash())
            measure(
                f"htpasswd: {hash_label(gw_files.deployed_hash())} for a generated 32-character password"
            )
            gw_files.restore()
            measure(
                "as deployed: + buffered stdout access log ("
                + (
                    deployed_log.group(0).split("fortress_main ")[1].split(" if=")[0]
                    if deployed_log
                    else "?"
                )
                + ")"
            )
            res["experiments"] = ex
            gw_files.restore()
            gw_files = None

        # Memory and images after the load.
        mem = docker(
            "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *stack_containers()
        )
        res["memory"] = {
            ln.split("\t")[0]: ln.split("\t")[1].split(" / ")[0]
            for ln in mem.splitlines()
            if ln and "bench-client" not in ln
        }
        imgs = docker("images", "--format", "{{.Repository}}:{{.Tag}}\t{{.Size}}")
        res["images"] = {
            ln.split("\t")[0]: ln.split("\t")[1]
            for ln in sorted(imgs.splitlines())
            if ln.startswith(f"{PROJECT}/") or ln.startswith("debian:")
        }
    finally:
        if gw_files is not None:
            gw_files.restore()
        if not args.keep:
            log("teardown")
            for name in (CLIENT_PUBLIC, CLIENT_BACKEND):
                docker("rm", "-f", name, check=False)
            with contextlib.suppress(SystemExit, subprocess.SubprocessError):
                playbook("stop.yml", None, "stop")
            docker("rmi", image, check=False)
            if args.purge:
                for ln in docker("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines():
                    if ln.startswith(f"{PROJECT}/"):
                        docker("rmi", ln, check=False)
                for vol in docker("volume", "ls", "-q").splitlines():
                    if vol.startswith(f"{PROJECT}_"):
                        docker("volume", "rm", vol, check=False)
                shutil.rmtree(DATA_DIR, ignore_errors=True)

    loads = [r[k]["loadavg_before"] for r in res["levels"] for k in ("gateway", "direct")]
    res["meta"]["loadavg_min"], res["meta"]["loadavg_max"] = min(loads), max(loads)
    (BENCH / "results.json").write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    md = markdown(res)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / "docs" / "BENCHMARK.md").write_text(md)
    print(md)
    log("wrote bench/results.json and docs/BENCHMARK.md")
    return 0  # a benchmark reports its goals; it does not fail on them


if __name__ == "__main__":
    sys.exit(main())
