"""A candidate model next to production: the user canary, shadow copies of v1 traffic, the promotion
gate (playbooks/promote.yml) refusing a bad candidate and promoting a good one, and a rollout that
puts an unhealthy container back as it was.

Candidates are trained here on the control node (candidate_models.py: gen_model.py --C, no CV,
about 30 s each): a good one (another seed) and a bad one (shuffled training labels). Each phase
re-runs the playbook (tags api, gateway), so the module is opt-in like the rollout test; the stack
is put back as the inventory has it at the end.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from candidate_models import binomial_range, held_out_sentences, relabelled, train
from conftest import Prober, api_url, auth_header, inspect, instances, request_interval
from playbook import (
    REPO,
    opt_in,
    run_playbook,
    run_playbook_refused,
    run_playbook_result,
    task_messages,
)

pytestmark = opt_in

USERS = 20  # canary "users": one account's clients, each with its own X-Client-Id
CANARY_PERCENT = 25
# The gate's minimum in these tests (sentiment_api_promote_min_shadow_requests).
SHADOW_REQUESTS = 240
# `make promote`'s tags: the plays a new API model concerns (as the rolling-update test's).
PROMOTE_TAGS = "secrets,api,gateway"
SENTENCE = "I love this phone, the battery lasts forever"


@pytest.fixture(scope="module")
def deployed(manifest):
    if not manifest.get("candidate_enabled"):
        pytest.skip("no candidate in this deployment (fortress_candidate_enabled: false)")
    if manifest.get("images_from") == "bundle":
        pytest.skip("a bundle deployment is not where candidates are tried")
    return manifest


@pytest.fixture(scope="module")
def candidates(deployed, tmp_path_factory):
    """Train the good and the bad candidate side by side (2 processes), then a relabelled copy."""
    root = tmp_path_factory.mktemp("candidates")
    with ThreadPoolExecutor(2) as pool:
        good = pool.submit(train, root / "good", "--seed", "7", "--C", "2.0")
        bad = pool.submit(train, root / "bad", "--seed", "7", "--C", "2.0", "--shuffle-labels")
        found = {"good": good.result(), "bad": bad.result()}
    found["relabelled"] = relabelled(root / "good", root / "relabelled")
    return {name: (root / name, metrics) for name, metrics in found.items()}


@pytest.fixture(scope="module")
def stack(deployed, candidates):
    """The bad candidate deployed, the user canary on; the inventory's stack again at the end."""
    extra = {
        "sentiment_api_candidate_model_dir": str(candidates["bad"][0]),
        "nginx_gateway_canary_percent": CANARY_PERCENT,
    }
    run_playbook(deployed, extra, "api,gateway")
    yield extra
    run_playbook(deployed, {}, PROMOTE_TAGS)


def gateway_url(manifest) -> str:
    return f"https://localhost:{manifest['gateway']['https_port']}/predict"


def send(on_host: Prober, manifest, auth, headers=None, count=1, sentence=SENTENCE):
    return on_host(
        gateway_url(manifest),
        body=json.dumps({"sentence": sentence}),
        headers={"Content-Type": "application/json", **auth, **(headers or {})},
        cafile=manifest["ca_cert"],
        count=count,
        interval=request_interval(manifest, margin=1.5),
    )


def comparisons(backend_client: Prober, manifest) -> Counter:
    """The candidate's api_candidate_comparisons_total by (traffic, from, to), from /metrics."""
    candidate = instances(manifest, "candidate")[0]["name"]
    body = backend_client.one(api_url(manifest, candidate, "/metrics"), method="GET")["body"]
    found: Counter = Counter()
    for line in body.splitlines():
        if line.startswith("api_candidate_comparisons_total{"):
            labels, value = line[len("api_candidate_comparisons_total{") :].rsplit("} ", 1)
            pairs = dict(p.split("=", 1) for p in labels.split(","))
            key = tuple(pairs[k].strip('"') for k in ("traffic", "from", "to"))
            found[key] += float(value)
    return found


@pytest.fixture(scope="module")
def canary(stack, on_host, manifest, credentials):
    """Each of USERS client ids, 3 requests: the variant each got every time."""
    auth = auth_header(*credentials)
    seen: dict[str, list[str]] = {}
    bodies: dict[str, dict] = {}
    for i in range(USERS):
        client = f"user-{i:02d}"
        results = send(on_host, manifest, auth, {"X-Client-Id": client}, count=3)
        assert all(r["status"] == 200 for r in results), results
        seen[client] = [r["headers"].get("x-variant") for r in results]
        bodies[client] = json.loads(results[0]["body"])
    return seen, bodies


def test_the_canary_is_sticky_per_user_and_its_share_binomial(canary, report):
    seen, bodies = canary
    unstable = {c: v for c, v in seen.items() if len(set(v)) != 1}
    assert not unstable, f"users that changed variant between requests: {unstable}"
    on_candidate = sorted(c for c, v in seen.items() if v[0] == "candidate")
    assert {v[0] for v in seen.values()} <= {"v1", "candidate"}, seen
    low, high = binomial_range(USERS, CANARY_PERCENT / 100)
    report(
        f"canary {CANARY_PERCENT}%: {len(on_candidate)}/{USERS} users on the candidate "
        f"(99.9% binomial range {low}-{high}), every user on one variant over 3 requests"
    )
    assert low <= len(on_candidate) <= high, (on_candidate, (low, high))
    for client in on_candidate:  # v1's shape: the label only, no debug fields
        assert set(bodies[client]) == {"prediction value"}, bodies[client]


def test_shadow_copies_of_v1_traffic_reach_the_candidate_only(
    canary, on_host, backend_client, manifest, credentials, report
):
    seen, _ = canary
    v1_client = next(c for c, v in seen.items() if v[0] == "v1")
    auth = auth_header(*credentials)
    count = 30
    before = comparisons(backend_client, manifest)
    answers = send(on_host, manifest, auth, {"X-Client-Id": v1_client}, count=count)
    debug = send(
        on_host, manifest, auth, {"X-Experiment-Group": manifest["gateway"]["experiment_value"]}
    )
    time.sleep(1)  # the last copies are answered after their client requests
    after = comparisons(backend_client, manifest)
    assert all(r["status"] == 200 and r["headers"].get("x-variant") == "v1" for r in answers)
    assert all(set(json.loads(r["body"])) == {"prediction value"} for r in answers)
    assert debug[0]["headers"].get("x-variant") == "v2", debug
    shadow = sum(n - before[k] for k, n in after.items() if k[0] == "shadow")
    expected = count * manifest["gateway"]["shadow_percent"] / 100
    report(f"shadow: {shadow:.0f} copies of {count} v1 requests (share {expected / count:.0%})")
    if manifest["gateway"]["shadow_percent"] == 100:
        assert shadow == count, (before, after)
    else:
        assert 0 < shadow <= count, (before, after)


def shadow_traffic(load_clients, url, manifest, credentials, v1_client: str, total: int) -> None:
    """`total` v1 requests of held-out sentences from the load clients (each its own bucket)."""
    sentences = held_out_sentences(total)
    headers = {
        "Content-Type": "application/json",
        **auth_header(*credentials),
        "X-Client-Id": v1_client,
    }
    share = math.ceil(total / len(load_clients))
    spec = {"headers": headers, "insecure": True, "interval": request_interval(manifest)}
    with ThreadPoolExecutor(len(load_clients)) as pool:
        runs = [
            pool.submit(
                client,
                url,
                **spec,
                sentences=sentences[i * share : (i + 1) * share],
                count=len(sentences[i * share : (i + 1) * share]),
            )
            for i, client in enumerate(load_clients)
        ]
        results = [r for run in runs for r in run.result()]
    assert len(results) >= total and all(r["status"] == 200 for r in results), Counter(
        r["status"] for r in results
    )


def gate(manifest, stack: dict, minimum: int, refused: bool):
    """playbooks/promote.yml on the deployed candidate, the gate's minimum at `minimum` requests."""
    extra = {**stack, "sentiment_api_promote_min_shadow_requests": minimum}
    if refused:
        return run_playbook_refused(manifest, extra, PROMOTE_TAGS, playbook="promote.yml")
    result = run_playbook_result(manifest, extra, PROMOTE_TAGS, playbook="promote.yml")
    return result["stats"], task_messages(result, "Gate the promotion on the shadow traffic")


def wait_scraped(on_host, manifest, version: str, least: int, timeout: float = 60) -> float:
    """Until Prometheus has at least `least` shadow comparisons of candidate `version`."""
    expr = (
        'sum(api_candidate_comparisons_total{traffic="shadow"} * on (instance) group_left() '
        f'api_model_info{{variant="candidate",version="{version}"}})'
    )
    url = f"{manifest['monitoring']['prometheus_url']}/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr}
    )
    deadline = time.monotonic() + timeout
    while True:
        result = json.loads(on_host.one(url, method="GET")["body"])["data"]["result"]
        seen = float(result[0]["value"][1]) if result else 0.0
        if seen >= least or time.monotonic() > deadline:
            return seen
        time.sleep(3)


@pytest.fixture(scope="module")
def mirrored(canary, load_clients, gateway_inside, on_host, manifest, credentials):
    """Send SHADOW_REQUESTS v1 requests as a v1 user, until Prometheus has the candidate `version`'s
    comparisons of them."""
    seen, _ = canary
    v1_client = next(c for c, v in seen.items() if v[0] == "v1")
    url = f"{gateway_inside}/predict"

    def send_to(version: str) -> None:
        shadow_traffic(load_clients, url, manifest, credentials, v1_client, SHADOW_REQUESTS)
        assert wait_scraped(on_host, manifest, version, SHADOW_REQUESTS) >= SHADOW_REQUESTS

    return send_to


def test_the_gate_refuses_a_candidate_trained_on_shuffled_labels(
    mirrored, stack, candidates, backend_client, manifest, report
):
    mirrored(candidates["bad"][1]["model_version"])
    failed = gate(manifest, stack, SHADOW_REQUESTS, refused=True)
    verdict = [f for f in failed if "Not promoting candidate" in f]
    assert verdict, failed
    report(f"gate, bad candidate: {verdict[0]}")
    assert "agreement with production" in verdict[0] and "is under" in verdict[0], verdict
    v1 = instances(manifest, "v1")
    assert {model_of(backend_client, manifest, i["name"]) for i in v1} == {production(manifest)}


def model_of(backend_client: Prober, manifest, name: str) -> str:
    """The model version an API instance reports on /health."""
    answer = backend_client.one(api_url(manifest, name, "/health"), method="GET")
    return json.loads(answer["body"])["model_version"]


def production(manifest) -> str:
    return json.loads((REPO / "model" / "metrics.json").read_text())["model_version"]


def test_an_unhealthy_candidate_runs_again_as_before(stack, candidates, host, manifest, report):
    """A model with other classes than production's: the candidate API refuses it (503 /health),
    the rollout puts the previous container back and says so."""
    candidate = instances(manifest, "candidate")[0]
    before = inspect(host, candidate["container"])
    extra = {**stack, "sentiment_api_candidate_model_dir": str(candidates["relabelled"][0])}
    started = time.monotonic()
    # Its API answers 503 on /health from the start: a short wait is enough to see it fail.
    failed = run_playbook_refused(manifest, {**extra, "sentiment_api_healthy_timeout": 60}, "api")
    rolled = [f for f in failed if "did not become healthy" in f]
    assert rolled, failed
    report(f"unhealthy candidate, {time.monotonic() - started:.0f} s: {rolled[0][:400]}")
    assert "It runs again as before" in rolled[0], rolled
    after = inspect(host, candidate["container"])
    assert after["Id"] != before["Id"], "the candidate was not replaced at all"
    mounts = {m["Destination"]: m["Source"] for m in after["Mounts"]}
    assert mounts == {m["Destination"]: m["Source"] for m in before["Mounts"]}, mounts
    assert after["Config"]["Image"] == before["Config"]["Image"]
    assert after["State"]["Health"]["Status"] == "healthy", after["State"]["Health"]


def test_the_gate_passes_a_retrained_candidate_and_promotes_it_replica_by_replica(
    mirrored, stack, candidates, backend_client, manifest, report
):
    good, metrics = candidates["good"]
    run_playbook(manifest, {**stack, "sentiment_api_candidate_model_dir": str(good)}, "api")
    mirrored(metrics["model_version"])
    started = time.monotonic()
    stats, verdict = gate(
        manifest,
        {**stack, "sentiment_api_candidate_model_dir": str(good)},
        SHADOW_REQUESTS,
        refused=False,
    )
    changed = sum(s.get("changed", 0) for s in stats.values())
    report(
        f"gate, retrained candidate: {verdict}; promoted in "
        f"{time.monotonic() - started:.0f} s, {changed} changed"
    )
    assert verdict and verdict[0].startswith(f"Promoting candidate {metrics['model_version']}")
    v1 = instances(manifest, "v1")
    assert {model_of(backend_client, manifest, i["name"]) for i in v1} == {metrics["model_version"]}
    assert model_of(backend_client, manifest, instances(manifest, "v2")[0]["name"]) == production(
        manifest
    )
