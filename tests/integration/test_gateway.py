"""The gateway: TLS, redirect, auth, A/B routing, load balancing, rate limits, errors, failover."""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
from conftest import (
    Prober,
    auth_header,
    burst_over_the_limit,
    docker,
    gateway_secret_dirs,
    inspect,
    instances,
    rate_per_second,
    request_interval,
    start_client,
    v1_names,
    wait_healthy,
)

SENTENCE = '{"sentence": "the service was great"}'
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def gw(manifest):
    return manifest["gateway"]


@pytest.fixture(scope="module")
def https(gw):
    return f"https://localhost:{gw['https_port']}"


@pytest.fixture(scope="module")
def cafile(manifest):
    return manifest["ca_cert"]


@pytest.fixture(scope="module")
def predict(on_host, https, cafile, basic_auth):
    """One request (a result dict), or `count` requests over one connection (a list)."""

    def call(headers=None, body=SENTENCE, count=None, **spec):
        results = on_host(
            f"{https}/predict",
            body=body,
            cafile=cafile,
            headers={**JSON, **basic_auth, **(headers or {})},
            count=count or 1,
            **spec,
        )
        return results if count else results[0]

    return call


@pytest.fixture(autouse=True)
def rate_limit_window(manifest):
    """Host clients share one address behind port publishing: let the bucket refill (4 requests'
    worth: 0.4 s at 10 r/s)."""
    yield
    time.sleep(4 / rate_per_second(manifest))


def test_http_redirects_to_https_with_308_keeping_path_and_query(on_host, gw):
    r = on_host.one(f"http://localhost:{gw['http_port']}/predict?x=1", body=SENTENCE, headers=JSON)
    assert r["status"] == 308, r
    port = "" if gw["https_port"] == 443 else f":{gw['https_port']}"
    # The configured public host (nginx_gateway_public_host), never the client's Host header.
    expected = f"https://{gw['public_host']}{port}/predict?x=1"
    assert r["headers"]["location"] == expected, r["headers"]


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_modern_tls_versions_are_accepted(on_host, https, cafile, version):
    r = on_host.one(f"{https}/healthz", method="GET", cafile=cafile, tls_version=version)
    assert r["status"] == 200, r


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_legacy_tls_versions_are_refused(on_host, https, cafile, version):
    r = on_host.one(f"{https}/healthz", method="GET", cafile=cafile, tls_version=version)
    assert r["status"] is None and r["error"], r


def test_certificate_validates_against_the_generated_ca_for_localhost(host, gw, cafile):
    cmd = host.run(
        "echo | openssl s_client -connect 127.0.0.1:%s -servername localhost "
        "-verify_hostname localhost -CAfile %s -verify_return_error",
        str(gw["https_port"]),
        cafile,
    )
    assert "Verify return code: 0 (ok)" in cmd.stdout, cmd.stdout + cmd.stderr


def test_hsts_is_sent_and_nginx_version_is_hidden(on_host, https, cafile):
    r = on_host.one(f"{https}/healthz", method="GET", cafile=cafile)
    assert r["headers"]["strict-transport-security"].startswith("max-age=63072000"), r["headers"]
    assert r["headers"].get("server", "nginx") == "nginx", r["headers"]


def test_healthz_needs_no_credentials(on_host, https, cafile):
    r = on_host.one(f"{https}/healthz", method="GET", cafile=cafile)
    assert r["status"] == 200 and json.loads(r["body"])["status"] == "ok", r


def test_predict_without_credentials_is_401_json(on_host, https, cafile):
    r = on_host.one(f"{https}/predict", body=SENTENCE, headers=JSON, cafile=cafile)
    assert r["status"] == 401, r
    assert r["headers"]["www-authenticate"].startswith("Basic"), r["headers"]
    assert json.loads(r["body"])["error"], r


def test_predict_with_a_wrong_password_is_401(predict):
    r = predict(headers={"Authorization": "Basic YWRtaW46bm90LXRoZS1wYXNzd29yZA=="})
    assert r["status"] == 401, r


@pytest.fixture(scope="module")
def stored_hashes(host, manifest) -> dict[str, str]:
    _, auth = gateway_secret_dirs(host, manifest)  # the credentials the gateway mounts
    text = host.file(f"{auth}/htpasswd").content_string
    return dict(ln.split(":", 1) for ln in text.splitlines() if ln and not ln.startswith("#"))


@pytest.fixture(scope="module")
def token_credentials() -> tuple[str, str]:
    """A user whose password is a long generated secret (Molecule defines one)."""
    user = os.environ.get("FORTRESS_TOKEN_USER")
    if not user:
        pytest.skip("FORTRESS_TOKEN_USER / FORTRESS_TOKEN_PASSWORD not set (Molecule sets them)")
    return user, os.environ["FORTRESS_TOKEN_PASSWORD"]


def test_the_test_users_password_is_stored_with_the_scheme_its_length_calls_for(
    stored_hashes, credentials
):
    """htpasswd_scheme auto: {SSHA} from 24 characters on (generated secrets), else sha512-crypt."""
    user, password = credentials
    expected = "{SSHA}" if len(password) >= 24 else "$6$rounds=1000$"
    assert stored_hashes[user].startswith(expected), (len(password), stored_hashes)


def test_a_generated_secret_is_stored_as_ssha_and_authenticates(
    stored_hashes, token_credentials, predict
):
    user, password = token_credentials
    assert stored_hashes[user].startswith("{SSHA}"), stored_hashes
    assert predict(headers=auth_header(user, password))["status"] == 200
    assert predict(headers=auth_header(user, password[:-1] + "#"))["status"] == 401


def test_default_route_is_v1_without_probabilities(predict):
    r = predict()
    assert r["status"] == 200, r
    body = json.loads(r["body"])
    assert isinstance(body["prediction value"], str), body
    assert "prediction_proba_dict" not in body, body
    assert r["headers"]["x-variant"] == "v1", r["headers"]


def test_debug_header_routes_to_v2_with_probabilities(predict, gw, api_v2):
    r = predict(headers={"X-Experiment-Group": gw["experiment_value"]})
    assert r["status"] == 200, r
    body = json.loads(r["body"])
    assert abs(sum(body["prediction_proba_dict"].values()) - 1.0) < 1e-6, body
    assert r["headers"]["x-variant"] == "v2", r["headers"]
    assert r["headers"]["x-replica"] == api_v2["name"], r["headers"]


def test_debug_header_without_v2_gets_v1_or_a_json_error(predict, gw, manifest):
    """With v2 disabled the debug header is answered by v1 or refused with a JSON error."""
    if manifest["v2_enabled"]:
        pytest.skip("v2 is enabled in this deployment: the debug header routes to it")
    r = predict(headers={"X-Experiment-Group": gw["experiment_value"]})
    assert r["status"] is not None and r["status"] != 500, r
    if r["status"] == 200:
        assert r["headers"]["x-variant"] == "v1", r["headers"]
    else:
        assert json.loads(r["body"])["error"], r


def test_other_experiment_values_stay_on_v1(predict):
    r = predict(headers={"X-Experiment-Group": "control"})
    assert r["status"] == 200 and r["headers"]["x-variant"] == "v1", r


def test_requests_are_spread_over_every_v1_replica(predict, manifest):
    count = max(12, 4 * len(v1_names(manifest)))
    results = predict(count=count, interval=request_interval(manifest))
    assert [r["status"] for r in results] == [200] * count, results
    replicas = {r["headers"]["x-replica"] for r in results}
    assert replicas == set(v1_names(manifest)), replicas


def test_a_burst_gets_429_with_retry_after_then_recovers(predict, manifest):
    count = burst_over_the_limit(manifest)
    burst = predict(count=count)
    statuses = [r["status"] for r in burst]
    limited = [r for r in burst if r["status"] == 429]
    assert limited, (
        f"no 429 in a burst of {count} ({manifest['gateway']['rate_limit']}): {statuses}"
    )
    assert set(statuses) <= {200, 429}, statuses
    assert limited[0]["headers"]["retry-after"].isdigit(), limited[0]["headers"]
    assert json.loads(limited[0]["body"])["error"], limited[0]
    time.sleep(int(limited[0]["headers"]["retry-after"]) + 1.5)
    assert predict()["status"] == 200


def test_one_clients_burst_does_not_throttle_another_client(
    host, manifest, basic_auth, gateway_inside
):
    """Two clients with their own addresses on the public network: separate rate-limit buckets."""
    public = manifest["networks"]["public"]
    a = start_client(host, manifest["api_image"], public, manifest["project"])
    b = start_client(host, manifest["api_image"], public, manifest["project"])
    try:
        url = f"{gateway_inside}/predict"
        spec = {"body": SENTENCE, "headers": {**JSON, **basic_auth}, "insecure": True}
        burst = Prober(host, a)(url, count=burst_over_the_limit(manifest), **spec)
        assert any(r["status"] == 429 for r in burst), [r["status"] for r in burst]
        # Back to back, within what a fresh bucket admits (burst + 1).
        count = min(5, int(manifest["gateway"]["rate_limit_burst"]) + 1)
        other = Prober(host, b)(url, count=count, **spec)
        assert [r["status"] for r in other] == [200] * count, other
    finally:
        host.run("docker rm -f %s %s", a, b)


def test_oversized_body_gets_413_json(predict):
    r = predict(body=None, sentence_chars=200_000)
    assert r["status"] == 413, r
    assert json.loads(r["body"])["error"], r


@pytest.mark.parametrize("path", ["/health", "/metrics", "/docs", "/openapi.json", "/nope"])
def test_unknown_paths_are_404_json_and_leak_no_backend(on_host, https, cafile, basic_auth, path):
    r = on_host.one(f"{https}{path}", method="GET", cafile=cafile, headers=basic_auth)
    assert r["status"] == 404, r
    assert json.loads(r["body"])["error"], r
    assert "x-replica" not in r["headers"], r["headers"]


def test_get_on_predict_is_405_json(on_host, https, cafile, basic_auth):
    r = on_host.one(f"{https}/predict", method="GET", cafile=cafile, headers=basic_auth)
    assert r["status"] == 405, r
    assert json.loads(r["body"])["error"], r


def test_a_stopped_v1_replica_costs_no_request(host, manifest, predict):
    v1 = instances(manifest, "v1")
    if len(v1) < 2:
        pytest.skip(f"{len(v1)} v1 replica: stopping it would leave v1 without a backend")
    victim = v1[1]["container"]
    results: list = []

    def load():
        results.extend(predict(count=30, interval=request_interval(manifest)))

    worker = threading.Thread(target=load)
    worker.start()
    time.sleep(0.8)
    docker(host, "stop", "-t", "1", victim)
    worker.join()
    docker(host, "start", victim)
    failed = [r for r in results if r["status"] != 200]
    assert not failed, failed
    wait_healthy(host, victim, timeout=60)


def test_gateway_container_runs_healthy_as_the_configured_uid(host, manifest):
    gw = manifest["gateway"]
    info = inspect(host, gw["container"])
    assert info["State"]["Health"]["Status"] == "healthy", info["State"]
    assert info["Config"]["User"] == f"{gw['uid']}:{gw['uid']}", info["Config"]["User"]
