"""Where the gateway's time goes: one stage added at a time, TLS handshakes, hash verification."""

from __future__ import annotations

from typing import Any

from . import config, hashing
from .experiments import GatewayFiles
from .measure import Load, basic_auth, s_time
from .proc import log

BREAKDOWN_CONCURRENCY = (1, 32)
DIRECT_STAGE = "direct to api-v1 (HTTP, no gateway)"
ECDSA_STAGE = "POST /predict → 200, Connection: close, ECDSA P-256 certificate"
# (name, handshake options of openssl s_time), in the order they are measured and reported.
HANDSHAKES = (
    ("TLS 1.3 full", ["-new", "-tls1_3"]),
    ("TLS 1.3 resumed", ["-reuse", "-tls1_3"]),
    ("TLS 1.2 full", ["-new", "-tls1_2"]),
    ("TLS 1.2 resumed", ["-reuse", "-tls1_2"]),
)
ECDSA_HANDSHAKES = (
    ("TLS 1.3 full, ECDSA P-256 certificate", ["-new", "-tls1_3"]),
    ("TLS 1.2 full, ECDSA P-256 certificate", ["-new", "-tls1_2"]),
)
HANDSHAKE_ORDER = tuple(name for name, _ in (*HANDSHAKES, *ECDSA_HANDSHAKES))


def stages(auth: str) -> list[tuple[str, dict[str, Any], str]]:
    """(name, wrk options, note): each stage adds one thing to the one before."""
    wrong = basic_auth(config.USER, config.PASSWORD + "-wrong")
    return [
        (
            "GET /healthz (TLS keep-alive, nginx answers itself)",
            {"path": "/healthz", "method": "GET"},
            "no auth, no proxy",
        ),
        ("POST /predict without credentials → 401", {}, "location, limit_req; no hash computed"),
        ("POST /predict wrong password → 401", {"auth": wrong}, "+ one password-hash verification"),
        (
            "POST /predict → 200 (keep-alive)",
            {"auth": auth},
            "+ proxy to api-v1 and the API itself",
        ),
        (
            "POST /predict → 200, Connection: close",
            {"auth": auth, "close": True},
            "+ TCP + full TLS handshake per request",
        ),
    ]


def _stage_rows(load: Load, by_c: dict[int, dict], duration: int, auth: str) -> list[dict]:
    rows = []
    for c in BREAKDOWN_CONCURRENCY:
        direct = by_c.get(c, {}).get("direct") or load.direct(c, duration)
        rows.append({"name": DIRECT_STAGE, "concurrency": c, **direct, "note": "the API alone"})
        for name, options, note in stages(auth):
            r = load.gateway(c, duration, **options)
            rows.append({"name": name, "concurrency": c, **r, "note": note})
            log(
                f"  c={c:<3} {name}: {r['rps']:.1f} req/s p50 {r['p50_ms']:.2f} "
                f"p99 {r['p99_ms']:.2f}"
            )
    return rows


def _handshakes(handshakes: tuple[tuple[str, list[str]], ...], seconds: int) -> dict[str, Any]:
    measured = {}
    for name, extra in handshakes:
        measured[name] = s_time(extra, seconds)
        log(f"  s_time {name}: {measured[name]}")
    return measured


def hash_costs() -> dict[str, float]:
    """ms per verification: the deployed hash, sha512-crypt at 1000 and 5000 rounds, {SSHA}."""
    deployed = hashing.deployed_hash(config.HTPASSWD.read_text(), config.USER)
    label = f"deployed ({hashing.hash_label(deployed)})"
    costs = {label: hashing.time_hash(deployed, config.PASSWORD)}
    for rounds in (1000, 5000):
        hashed = hashing.sha512_crypt(config.PASSWORD, rounds)
        costs[f"sha512-crypt, {rounds} rounds"] = hashing.time_hash(hashed, config.PASSWORD)
    hashed = hashing.ssha(config.PASSWORD)
    costs["{SSHA} (salted SHA-1, nginx built-in)"] = hashing.time_hash(hashed, config.PASSWORD)
    return costs


def run_breakdown(load: Load, by_c: dict[int, dict], duration: int, auth: str) -> dict[str, Any]:
    """The `breakdown` section of bench/results.json."""
    log("breakdown of the gateway's cost")
    handshake_seconds = max(3, duration // 2)
    bd: dict[str, Any] = {"wrk": _stage_rows(load, by_c, duration, auth)}
    bd["s_time"] = _handshakes(HANDSHAKES, handshake_seconds)
    bd["hash_ms"] = hash_costs()
    # Same handshakes with an ECDSA P-256 certificate instead of the deployed RSA one.
    files = GatewayFiles()
    try:
        files.use_ecdsa_certificate()
        bd["s_time"].update(_handshakes(ECDSA_HANDSHAKES, handshake_seconds))
        r = load.gateway(32, duration, auth=auth, close=True)
        note = "full handshake with a cheaper signature"
        bd["wrk"].append({"name": ECDSA_STAGE, "concurrency": 32, **r, "note": note})
        log(f"  c=32  close + ECDSA: {r['rps']:.1f} req/s p50 {r['p50_ms']:.2f}")
    finally:
        files.restore()
    bd["summary"] = summary(bd)
    return bd


def summary(bd: dict[str, Any]) -> str:
    """One paragraph: gateway CPU per request split into stages (c=32, differences of CPU)."""
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
        "Gateway CPU per request at c=32 (µs): TLS record layer + nginx answering itself ≈ "
        f"{tls:.0f}; /predict location, limit_req and the 401 ≈ {nocred:.0f}; **basic-auth hash "
        f"verification ≈ {wrong - nocred:.0f}**; proxying to the API (upstream keep-alive) ≈ "
        f"{ok - wrong:.0f}; a full TLS handshake per request (Connection: close) adds ≈ "
        f"{close - ok:.0f} with the RSA-2048 certificate and ≈ {ecdsa - ok:.0f} with an ECDSA "
        f"P-256 one. The wrk client spends ≈ {client_ok:.0f} µs per request on its side of TLS, "
        "on the same cores."
    )
