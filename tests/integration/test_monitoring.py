"""Monitoring of a deployed stack: targets, per-variant series, statuses, dashboards, exposure.

Prometheus is queried from the target itself (it listens on the target's loopback only).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import PurePosixPath

import pytest
from conftest import (
    Prober,
    api_url,
    auth_header,
    burst_over_the_limit,
    component_containers,
    instances,
    request_interval,
    start_client,
    variants,
)
from cryptography import x509

from monitoring import dashboards as dash

SENTENCE = '{"sentence": "monitoring sees this"}'
# One Prometheus scrape interval (15 s) plus a margin.
SCRAPE_SECONDS = 17


@pytest.fixture(scope="module")
def mon(manifest):
    if not manifest["monitoring"]["enabled"]:
        pytest.fail("monitoring is disabled in this deployment; these tests need it")
    return manifest["monitoring"]


@pytest.fixture(scope="module")
def promql(on_host: Prober, mon):
    def query(expr: str) -> list[dict]:
        url = f"{mon['prometheus_url']}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        r = on_host.one(url, method="GET")
        assert r["status"] == 200, (expr, r)
        body = json.loads(r["body"])
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    return query


def value(result: list[dict]) -> float:
    return sum(float(s["value"][1]) for s in result)


# Its panels need a deployed candidate (fortress_candidate_enabled).
CANDIDATE_DASHBOARD = "fortress-candidate.json"


def wait_for(check, timeout: float = 60, step: float = 2):
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(step)


@pytest.fixture(scope="module")
def send(on_host: Prober, manifest, credentials):
    auth = auth_header(*credentials)
    url = f"https://localhost:{manifest['gateway']['https_port']}/predict"

    def call(count: int = 1, headers: dict | None = None, interval: float | None = None):
        if interval is None:  # 0.15 s at 10 r/s: host clients share one rate-limit bucket
            interval = request_interval(manifest, margin=1.5)
        hdrs = {"Content-Type": "application/json", **auth, **(headers or {})}
        return on_host(
            url,
            body=SENTENCE,
            headers=hdrs,
            cafile=manifest["ca_cert"],
            count=count,
            interval=interval,
        )

    return call


def test_prometheus_answers_runtimeinfo(on_host, mon):
    r = on_host.one(f"{mon['prometheus_url']}/api/v1/status/runtimeinfo", method="GET")
    assert r["status"] == 200, r


def test_every_scrape_target_is_up(promql, manifest):
    def all_up():
        result = promql("up")
        return result if result and all(s["value"][1] == "1" for s in result) else None

    result = wait_for(all_up, timeout=60)
    assert result, promql("up")
    replicas = {s["metric"].get("replica") for s in result if s["metric"].get("job") == "api"}
    expected = {i["name"] for i in instances(manifest)}
    assert replicas == expected, result
    jobs = {s["metric"]["job"] for s in result}
    assert len(jobs) >= 4, jobs  # api, nginx exporter, mtail, prometheus
    assert value(promql("nginx_up")) == 1


def test_the_gateway_probe_verifies_tls_and_reports_the_certificate_expiry(host, promql, manifest):
    """The blackbox exporter probes the gateway's TLS listener as a client would (chain verified
    against the project's CA, then GET /healthz); its probe_ssl_earliest_cert_expiry, the input of
    GatewayCertificateExpiresSoon, is the notAfter of the certificate the gateway serves."""

    def probed():
        result = promql('probe_success{job="gateway-probe"}')
        return result if result and result[0]["value"][1] == "1" else None

    assert wait_for(probed, timeout=60), promql('{job="gateway-probe"}')
    expiry = value(promql('probe_ssl_earliest_cert_expiry{job="gateway-probe"}'))
    served = host.file(str(PurePosixPath(manifest["ca_cert"]).with_name("server.crt")))
    cert = x509.load_pem_x509_certificate(served.content_string.encode())
    assert expiry == cert.not_valid_after_utc.timestamp(), (expiry, cert.not_valid_after_utc)
    days = (expiry - time.time()) / 86400
    assert days > 14, f"the gateway certificate expires in {days:.1f} days"
    assert not promql('ALERTS{alertname="GatewayCertificateExpiresSoon"}')


def test_debug_traffic_moves_the_v2_series_and_not_v1(promql, send, manifest, api_v2):
    v1 = 'sum(api_requests_total{handler="/predict",variant="v1"})'
    v2 = 'sum(api_requests_total{handler="/predict",variant="v2"})'
    time.sleep(SCRAPE_SECONDS)  # let earlier tests' traffic reach Prometheus first
    before_v1, before_v2 = value(promql(v1)), value(promql(v2))
    results = send(count=5, headers={"X-Experiment-Group": manifest["gateway"]["experiment_value"]})
    assert all(r["status"] == 200 for r in results), results
    moved = wait_for(lambda: value(promql(v2)) >= before_v2 + 5, timeout=45)
    assert moved, (before_v2, promql(v2))
    time.sleep(SCRAPE_SECONDS)  # every v1 replica has been scraped again since
    assert value(promql(v1)) == before_v1, "debug traffic reached v1"


def test_a_429_shows_up_in_the_gateway_status_metric(promql, send, manifest):
    expr = 'sum(gateway_http_requests_total{status="429"}) or vector(0)'
    before = value(promql(expr))
    burst = send(count=burst_over_the_limit(manifest, floor=30), interval=0)
    assert any(r["status"] == 429 for r in burst), [r["status"] for r in burst]
    assert wait_for(lambda: value(promql(expr)) > before, timeout=45), promql(expr)
    time.sleep(2)


def test_request_rate_per_variant_is_queryable(promql, send, manifest):
    interval = request_interval(manifest, margin=2.0)  # 0.2 s at 10 r/s
    send(count=6, interval=interval)
    if manifest["v2_enabled"]:
        debug = {"X-Experiment-Group": manifest["gateway"]["experiment_value"]}
        send(count=3, headers=debug, interval=interval)
    expected = set(variants(manifest))

    def every_variant():
        result = promql('sum by (variant) (rate(api_requests_total{handler="/predict"}[1m]))')
        return result if {s["metric"].get("variant") for s in result} >= expected else None

    assert wait_for(every_variant, timeout=45), (
        expected,
        promql("sum by (variant) (api_requests_total)"),
    )


def test_every_dashboard_panel_query_returns_data(promql, manifest, report):
    problems = []
    queries = dash.panel_queries()
    if not manifest.get("candidate_enabled"):  # its series exist only with a candidate deployed
        unchecked = [q for q in queries if q.dashboard == CANDIDATE_DASHBOARD]
        queries = [q for q in queries if q.dashboard != CANDIDATE_DASHBOARD]
        report(
            f"dashboards: {len(unchecked)} {CANDIDATE_DASHBOARD} queries unchecked (no candidate)"
        )
    for query in queries:
        try:
            if not promql(query.promql):
                problems.append(f"{query}: empty result for {query.promql}")
        except AssertionError as exc:
            problems.append(f"{query}: {exc}")
    assert not problems, "\n".join(problems)


def test_backends_and_monitoring_are_not_reachable_from_the_public_side(
    host, manifest, gateway_inside
):
    """From a client on the public network only the gateway's HTTP/HTTPS listeners answer."""
    client = start_client(
        host, manifest["api_image"], manifest["networks"]["public"], manifest["project"]
    )
    try:
        probe = Prober(host, client)
        for url in (
            *(f"http://{i['name']}:{manifest['api_port']}/metrics" for i in instances(manifest)),
            "http://nginx-exporter:9113/metrics",
            "http://prometheus:9090/-/ready",
            "http://gateway-mtail:3903/metrics",
        ):
            r = probe.one(url, method="GET", timeout=3)
            assert r["status"] is None, f"{url} answered from the public network: {r}"
        status_url = manifest["gateway"]["status_url"]
        status = probe.one(status_url, method="GET", timeout=3)
        assert status["status"] in (None, 403), (status_url, status)
        healthz = probe.one(f"{gateway_inside}/healthz", method="GET", insecure=True)
        assert healthz["status"] == 200, healthz
    finally:
        host.run("docker rm -f %s", client)


def test_monitoring_ports_bind_to_the_configured_address(host, manifest):
    bind = manifest["monitoring"]["prometheus_url"].split("//")[1].split(":")[0]
    found = component_containers(host, manifest, "prometheus")
    assert len(found) == 1, [c["Name"] for c in found]
    bindings = [b for ports in found[0]["HostConfig"]["PortBindings"].values() for b in ports]
    assert bindings and all(b["HostIp"] == bind for b in bindings), bindings


# The model's domain: short English posts to and about airlines (the corpus is airline tweets).
IN_DISTRIBUTION = (
    "@united thanks for the quick response, the crew was great",
    "my flight was delayed again and nobody at the gate could tell us why",
    "@AmericanAir lost my bag on the way to Chicago, still waiting for an update",
    "the seats were comfortable and the flight attendants were so friendly",
    "can you help me change my reservation to tomorrow morning",
    "worst customer service ever, on hold for two hours",
)
# Another language, and random tokens.
OFF_DISTRIBUTION = (
    "Der Zug nach Hamburg fährt heute wegen Bauarbeiten später ab",
    "Lentokone laskeutui myöhässä Helsinkiin sumun vuoksi",
    "qzxv wplok mrrtn gsdfh ujkiq zzvbn",
    "xkcd qwop vbnm lkjh asdf zxcv poiu",
)


def drive(client: Prober, manifest, variant: str, sentences, count: int) -> None:
    """`count` requests per sentence to every instance of `variant`, straight at the API."""
    for instance in instances(manifest, variant):
        for sentence in sentences:
            answers = client(
                api_url(manifest, instance["name"]),
                body=json.dumps({"sentence": sentence}),
                headers={"Content-Type": "application/json"},
                count=count,
            )
            assert [a["status"] for a in answers] == [200] * count, answers[-1]


def test_input_drift_fires_for_off_distribution_text_only(
    backend_client, manifest, promql, on_host, mon
):
    """In-distribution text to v1, another language and random tokens to v2: v2's share of words
    outside the vocabulary goes over twice the model's held-out share and InputDrift goes pending
    for v2; v1 stays under it and raises nothing. Only counts reach Prometheus."""
    if not manifest["v2_enabled"]:
        pytest.skip("the debug variant is disabled: v2 carries the off-distribution traffic")
    reference = value(promql('variant:api_model_reference_oov_share:max{variant="v1"}'))
    assert 0 < reference < 0.5, f"held-out share of unknown words: {reference}"
    # v2: 4 sentences x 60 x ~7 words, ~1700 words: over the alert's 0.5 words/s over 10 minutes.
    drive(backend_client, manifest, "v1", IN_DISTRIBUTION, 60)
    drive(backend_client, manifest, "v2", OFF_DISTRIBUTION, 60)

    def shares() -> dict[str, float] | None:
        found = {
            s["metric"]["variant"]: float(s["value"][1])
            for s in promql("variant:api_oov_share:rate10m")
        }
        return found if found.get("v2", 0) > 2 * reference and "v1" in found else None

    moved = wait_for(shares, timeout=120, step=5)
    assert moved, f"v2's share of unknown words did not pass {2 * reference:.3f}: {shares()}"
    assert moved["v1"] < 2 * reference, f"in-distribution v1 at {moved['v1']:.3f}: {moved}"

    # Earlier tests may have left v1 pending on odd words (probes, bad input); the in-distribution
    # batch above brings its share under the line, and the next rule evaluation clears it.
    # The rule manager's own state, not the ALERTS series: test_faults stops Prometheus, which
    # writes no stale marker on shutdown, so an ALERTS sample from before the stop stays
    # visible for 5 minutes.
    def drifting() -> set[str]:
        r = on_host.one(f"{mon['prometheus_url']}/api/v1/alerts", method="GET")
        assert r["status"] == 200, r
        alerts = json.loads(r["body"])["data"]["alerts"]
        return {a["labels"]["variant"] for a in alerts if a["labels"]["alertname"] == "InputDrift"}

    settled = wait_for(lambda: drifting() == {"v2"}, timeout=90, step=5)
    assert settled, f"InputDrift should be raised for v2 only: {drifting()}, shares {shares()}"
    v2 = instances(manifest, "v2")[0]["name"]
    exposed = backend_client.one(api_url(manifest, v2, "/metrics"), method="GET")["body"]
    assert "Hamburg" not in exposed and "qzxv" not in exposed, "a sentence is in /metrics"
