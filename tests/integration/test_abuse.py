"""Abuse of the gateway's edge (issue 11), bounded: every probe has a fixed socket or request
count and a time limit, and talks only to 127.0.0.1's published ports or to the gateway on the
project's own networks, from throwaway client containers removed by id at the end.

Slow and idle clients are closed within 15 s, one client's connections cannot crowd out another's,
paths are routed exactly, the client's Host header is never reflected, every gateway error is JSON,
HTTP/2 is off (nginx 1.22 has no rapid-reset mitigation), credentials sent over plain HTTP are
refused, and stub_status answers the exporter only.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from conftest import Prober, docker, request_interval, start_client

ABUSE_SOURCE = (Path(__file__).parent / "abuse_probe.py").read_text()
SENTENCE = '{"sentence": "the service was great"}'
JSON = {"Content-Type": "application/json"}
CLOSE_WITHIN = 15.0  # seconds the gateway may keep an idle or slow connection
FOREIGN_HOST = "evil.example"
# The gateway's command line (roles/nginx_gateway/vars/main.yml: _nginx_gateway_command).
NGINX = ["nginx", "-e", "stderr", "-c", "/etc/nginx/fortress/nginx.conf"]


@pytest.fixture(scope="module")
def gw(manifest):
    return manifest["gateway"]


@pytest.fixture(scope="module")
def clients(host, manifest):
    """Client containers by role: attacker and bystander on the public network, watcher on the
    monitoring network."""
    networks = {"attacker": "public", "bystander": "public", "watcher": "monitoring"}
    image, project = manifest["api_image"], manifest["project"]
    names = {
        role: start_client(host, image, manifest["networks"][net], project)
        for role, net in networks.items()
    }
    ids = [docker(host, "inspect", "-f", "{{.Id}}", name).strip() for name in names.values()]
    yield names
    host.run("docker rm -f " + " ".join(["%s"] * len(ids)), *ids)


def abuse(host, spec: dict, container: str | None = None) -> dict:
    """Run abuse_probe.py with `spec` on the target, or in a client container."""
    args = ["python3", "-c", ABUSE_SOURCE, json.dumps(spec)]
    if container:
        args = ["docker", "exec", container, *args]
    cmd = host.run(" ".join(["%s"] * len(args)), *args)
    assert cmd.rc == 0, f"abuse probe {spec['mode']} failed: {cmd.stderr}"
    return json.loads(cmd.stdout)


def inside(gw, **spec) -> dict:
    """A probe spec aimed at the gateway's HTTPS listener on the public network."""
    return {"host": gw["alias"], "port": gw["internal_https_port"], **spec}


def redirect_base(gw) -> str:
    port = "" if gw["https_port"] == 443 else f":{gw['https_port']}"
    return f"https://{gw['public_host']}{port}"


def test_fifty_idle_sockets_neither_stop_another_client_nor_outlive_15s(
    host, gw, clients, basic_auth, report
):
    held: dict = {}
    spec = inside(gw, mode="hold", plain=20, tls=20, kept=10, max_wait=CLOSE_WITHIN + 5)
    worker = threading.Thread(target=lambda: held.update(abuse(host, spec, clients["attacker"])))
    worker.start()
    time.sleep(3)  # the attacker's 50 sockets are open and idle now
    other = Prober(host, clients["bystander"])
    url = f"https://{gw['alias']}:{gw['internal_https_port']}"
    health = other.one(f"{url}/healthz", method="GET", insecure=True, timeout=5)
    predict = other.one(
        f"{url}/predict", body=SENTENCE, headers={**JSON, **basic_auth}, insecure=True, timeout=5
    )
    worker.join(timeout=60)
    assert not worker.is_alive(), "the hold probe did not end within its bound"
    closed = held["closed"]
    report(
        f"abuse: 50 idle sockets held by one client; other client /healthz {health['status']} "
        f"in {health['elapsed_ms']:.0f} ms, /predict {predict['status']} "
        f"in {predict['elapsed_ms']:.0f} ms; "
        f"closed by the gateway after (s): no TLS hello {closed.get('plain')}, "
        f"TLS idle {closed.get('tls')}, keep-alive idle {closed.get('kept')}"
    )
    assert held["opened"] == 50, held
    for r in (health, predict):
        assert r["status"] == 200 and r["elapsed_ms"] < 1000, r
    times = [t for kind in closed.values() for t in kind]
    assert None not in times, f"sockets still open after {CLOSE_WITHIN + 5} s: {closed}"
    assert max(times) <= CLOSE_WITHIN, closed


def test_a_slow_header_is_closed_within_15s(host, gw, clients, report):
    r = abuse(host, inside(gw, mode="slow_header", interval=2, max_wait=25), clients["attacker"])
    report(f"abuse: header dribbled a line every 2 s: closed after {r['closed']} s ({r})")
    assert r["closed"] is not None and r["closed"] <= CLOSE_WITHIN, r


def test_a_stalled_body_is_closed_within_15s(host, gw, clients, basic_auth, report):
    spec = inside(gw, mode="slow_body", sent=1, max_wait=25, auth=basic_auth["Authorization"])
    r = abuse(host, spec, clients["attacker"])
    report(f"abuse: authenticated body stalled after 1 byte: closed after {r['closed']} s")
    assert r["closed"] is not None and r["closed"] <= CLOSE_WITHIN, r


def test_requests_in_progress_per_client_are_capped_with_json_429(
    host, manifest, gw, clients, basic_auth, report
):
    limit = int(gw["limit_conn"])
    spec = inside(
        gw,
        mode="conn_limit",
        count=limit + 5,
        interval=request_interval(manifest, margin=1.5),  # under the rate limit: only the cap acts
        settle=2,
        auth=basic_auth["Authorization"],
    )
    answers = abuse(host, spec, clients["attacker"])["answers"]
    held = [a for a in answers if a["status"] is None]
    refused = [a for a in answers if a["status"] == 429]
    report(
        f"abuse: {len(answers)} stalled uploads of one client: "
        f"{len(held)} held, {len(refused)} got 429"
    )
    assert len(held) == limit and len(refused) == 5, answers
    assert all(json.loads(a["body"])["error"] == "rate_limited" for a in refused), refused


def test_every_other_path_has_a_rate_limit_too(host, gw, clients):
    time.sleep(2)  # the attacker's /predict bucket from the test above refills first
    url = f"https://{gw['alias']}:{gw['internal_https_port']}/nope"
    results = Prober(host, clients["attacker"])(url, method="GET", insecure=True, count=100)
    statuses = [r["status"] for r in results]
    assert statuses[0] == 404 and 429 in statuses, statuses
    assert set(statuses) <= {404, 429}, statuses
    assert all(json.loads(r["body"])["error"] in ("not_found", "rate_limited") for r in results)
    time.sleep(3)


@pytest.mark.parametrize("path", ["//predict", "/./predict", "/x/../predict"])
def test_non_canonical_predict_paths_get_the_gateways_json_404(on_host, gw, basic_auth, path):
    url = f"https://localhost:{gw['https_port']}{path}"
    r = on_host.one(url, body=SENTENCE, headers={**JSON, **basic_auth}, insecure=True)
    assert r["status"] == 404, r
    assert "x-replica" not in r["headers"], f"{path} reached an API replica: {r}"
    assert json.loads(r["body"])["error"] == "not_found", r
    time.sleep(0.3)


@pytest.mark.parametrize("port_key", ["http_port", "https_port"])
def test_a_foreign_host_header_is_not_reflected_in_redirects(on_host, gw, port_key):
    url = f"http://localhost:{gw[port_key]}/predict?x=1"
    r = on_host.one(url, body=SENTENCE, headers={**JSON, "Host": FOREIGN_HOST})
    assert r["status"] == 308, r
    assert r["headers"]["location"] == f"{redirect_base(gw)}/predict?x=1", r["headers"]
    assert FOREIGN_HOST not in json.dumps(r), r


def test_the_api_receives_a_fixed_host_never_the_clients(host, gw):
    conf = docker(host, "exec", gw["container"], *NGINX, "-T", "-q")
    lines = [line.split() for line in conf.splitlines() if "proxy_set_header Host " in line]
    hosts = [words[2].rstrip(";") for words in lines]
    assert hosts and set(hosts) == {gw["public_host"]}, hosts


@pytest.mark.parametrize("port_key", ["http_port", "https_port"])
def test_unknown_transfer_encoding_gets_a_json_501(on_host, gw, basic_auth, port_key):
    scheme = "https" if port_key == "https_port" else "http"
    headers = {**JSON, **basic_auth, "Transfer-Encoding": "xchunked"}
    r = on_host.one(f"{scheme}://localhost:{gw[port_key]}/predict", headers=headers, insecure=True)
    assert r["status"] == 501, r
    assert r["headers"]["content-type"].startswith("application/json"), r["headers"]
    assert json.loads(r["body"])["error"] == "not_implemented", r


def test_http2_is_not_offered(host, gw):
    if gw["http2"]:
        pytest.skip("nginx_gateway_http2 is on: ALPN offers h2 by choice (no reset probe here)")
    r = abuse(host, {"mode": "alpn", "host": "127.0.0.1", "port": gw["https_port"]})
    assert r["alpn"] != "h2", r


@pytest.mark.parametrize("port_key", ["http_port", "https_port"])
def test_credentials_over_plain_http_are_refused_not_redirected(on_host, gw, basic_auth, port_key):
    url = f"http://localhost:{gw[port_key]}/predict"
    r = on_host.one(url, body=SENTENCE, headers={**JSON, **basic_auth})
    if gw["plain_http_credentials"] == "redirect":
        assert r["status"] == 308, r
        return
    assert r["status"] == 400 and "location" not in r["headers"], r
    body = json.loads(r["body"])
    assert body["error"] == "credentials_over_http" and "HTTPS" in body["detail"], body


def test_stub_status_answers_the_exporter_only(host, manifest, gw, clients):
    watcher = Prober(host, clients["watcher"])
    refused = watcher.one(gw["status_url"], method="GET", timeout=5)
    assert refused["status"] == 403, f"stub_status answered a non-exporter container: {refused}"
    if manifest["monitoring"]["enabled"]:
        # The exporter (at its fixed address) still reads stub_status: it reports nginx_up 1.
        metrics = watcher.one("http://nginx-exporter:9113/metrics", method="GET", timeout=5)
        assert metrics["status"] == 200, metrics
        assert "\nnginx_up 1" in metrics["body"], metrics["body"][-500:]
