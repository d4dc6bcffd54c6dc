"""Bad input through the gateway (HTTPS + basic auth, from a client container on the public
network, which has a rate-limit bucket of its own) and directly at the API (from a client on the
backend network, against the first v1 instance and api-v2). The cases are in bad_input_cases.py.

Every case must get its documented 4xx status with a JSON error body, never a 5xx, and the service
must keep answering afterwards. Two media types are deliberately accepted as JSON for curl
compatibility (no Content-Type and application/x-www-form-urlencoded, see src/api/validation.py).

At the API, requests that break HTTP itself (unknown methods, control characters in header values)
are answered by uvicorn's parser with a plain-text 400 before the application runs; the gateway is
the only client of the API, and the gateway cases prove it never forwards such requests.

Each side runs as one probe process (a batch of requests paced under the rate limit), so the ~150
cases take seconds, not minutes; each case is still reported as its own test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from bad_input_cases import VALID, api_cases, body_cases, gateway_cases
from conftest import PROBE_SOURCE, inspect, instances, request_interval

JSON_CT = "application/json"
# The API variants the direct cases run against (the first instance of each).
API_VARIANTS = ("v1", "v2")

# Runs a list of probe specs in one process; "{pad}" in a spec's url, body or header values is
# replaced there by pad[0] * pad[1] (values too large for a command-line argument).
BATCH_SOURCE = r"""
import contextlib, io, json, sys, time
probe = {"__name__": "fortress_probe"}
exec(sys.argv[2], probe)
answers = []
for spec in json.loads(sys.argv[1]):
    pad = spec.pop("pad", None)
    if pad:
        fill = pad[0] * pad[1]
        spec["url"] = spec["url"].replace("{pad}", fill)
        if spec.get("body") is not None:
            spec["body"] = spec["body"].replace("{pad}", fill)
        spec["headers"] = {k: v.replace("{pad}", fill) for k, v in spec["headers"].items()}
    pause = spec.pop("pause", 0)
    sys.argv[1:] = [json.dumps(spec)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        probe["main"]()
    answers.append(json.loads(out.getvalue()))
    time.sleep(pause)
print(json.dumps(answers))
"""


def max_sentence_chars(host, manifest) -> int:
    env = inspect(host, instances(manifest, "v1")[0]["container"])["Config"]["Env"]
    values = [e.split("=", 1)[1] for e in env if e.startswith("API_MAX_SENTENCE_CHARS=")]
    return int(values[0]) if values else 5000


def run_batch(host, container: str | None, specs: list[dict[str, Any]]) -> list[list[dict]]:
    args = ["python3", "-c", BATCH_SOURCE, json.dumps(specs), PROBE_SOURCE]
    if container:
        args = ["docker", "exec", container, *args]
    cmd = host.run(" ".join(["%s"] * len(args)), *args)
    assert cmd.rc == 0, f"batch probe failed on {container or 'host'}: {cmd.stderr[-3000:]}"
    return json.loads(cmd.stdout)


def to_spec(c: dict[str, Any], base_url: str, headers: dict[str, str], **extra) -> dict[str, Any]:
    request = dict(c["request"])
    merged = {**headers, **request.pop("headers")}
    return {
        "url": base_url + request.pop("path"),
        "headers": {k: v for k, v in merged.items() if v is not None},
        **extra,
        **request,
    }


@pytest.fixture(scope="module")
def restarts_before(host, manifest) -> dict[str, int]:
    """Restart counts of the API containers and the gateway before any bad input was sent."""
    names = [i["container"] for i in instances(manifest)] + [manifest["gateway"]["container"]]
    return {n: inspect(host, n)["RestartCount"] for n in names}


@pytest.fixture(scope="module")
def api_targets(manifest) -> dict[str, str]:
    """Variant -> the instance the direct cases run against."""
    return {v: instances(manifest, v)[0]["name"] for v in API_VARIANTS if instances(manifest, v)}


@pytest.fixture(scope="module")
def gateway_cases_run(host, manifest, credentials, basic_auth, public_client, gateway_inside,
                      restarts_before):  # fmt: skip
    cases = body_cases(max_sentence_chars(host, manifest)) + gateway_cases(credentials)
    headers = {"Content-Type": JSON_CT, **basic_auth}
    # insecure: the client has no CA file; the certificate is checked in test_security.
    pause = request_interval(manifest, margin=1.5)  # 0.15 s at 10 r/s
    specs = [
        to_spec(c, gateway_inside, headers, insecure=True, pause=pause, timeout=15) for c in cases
    ]
    answers = run_batch(host, public_client.container, specs)
    return {c["id"]: (c, a) for c, a in zip(cases, answers, strict=True)}


@pytest.fixture(scope="module")
def api_cases_run(host, manifest, backend_client, api_targets, restarts_before):
    cases = body_cases(max_sentence_chars(host, manifest)) + api_cases()
    out = {}
    for variant, target in api_targets.items():
        base = f"http://{target}:{manifest['api_port']}"
        specs = [to_spec(c, base, {"Content-Type": JSON_CT}, timeout=15) for c in cases]
        answers = run_batch(host, backend_client.container, specs)
        for c, a in zip(cases, answers, strict=True):
            out[f"{variant}:{c['id']}"] = (c, a)
    return out


def check(c: dict[str, Any], answers: list[dict[str, Any]]) -> None:
    assert answers, c["id"]
    for r in answers:
        shown = {k: r[k] for k in ("status", "error", "body", "elapsed_ms")}
        shown["content-type"] = r["headers"].get("content-type")
        assert r["status"] is not None, f"{c['id']}: no answer: {shown}"
        assert r["status"] < 500, f"{c['id']}: server error: {shown}"
        assert r["status"] in c["status"], f"{c['id']}: expected {c['status']}: {shown}"
        assert (r["headers"].get("content-type") or "").startswith(JSON_CT), shown
        if c["request"]["method"] == "HEAD":
            continue
        body = json.loads(r["body"])
        if r["status"] >= 400:
            assert isinstance(body, dict) and body.get("error"), f"{c['id']}: {shown}"
            if c["error"]:
                assert body["error"] == c["error"], f"{c['id']}: {shown}"
    if c["status"] == (405,):
        assert answers[0]["headers"].get("allow"), f"{c['id']}: 405 without Allow: {answers[0]}"


GATEWAY_IDS = [c["id"] for c in body_cases(5000) + gateway_cases(("u", "p"))]
API_IDS = [f"{v}:{c['id']}" for v in API_VARIANTS for c in body_cases(5000) + api_cases()]


@pytest.mark.parametrize("case_id", GATEWAY_IDS)
def test_bad_input_through_the_gateway_gets_a_documented_4xx_json(gateway_cases_run, case_id):
    check(*gateway_cases_run[case_id])


@pytest.mark.parametrize("case_id", API_IDS)
def test_bad_input_at_the_api_gets_a_documented_4xx_json(manifest, api_cases_run, case_id):
    if case_id.startswith("v2:") and not manifest["v2_enabled"]:
        pytest.skip("v2 is disabled in this deployment (fortress_v2_enabled: false)")
    check(*api_cases_run[case_id])


@pytest.mark.parametrize(
    "content_type", [None, "application/x-www-form-urlencoded", "application/json; charset=utf-8"]
)
def test_curl_default_content_types_are_read_as_json(
    public_client, gateway_inside, basic_auth, content_type
):
    """`curl -d '{"sentence": ...}'` sends no JSON content type: read as JSON on purpose."""
    headers = {**basic_auth, **({"Content-Type": content_type} if content_type else {})}
    r = public_client.one(f"{gateway_inside}/predict", body=VALID, headers=headers, insecure=True)
    assert r["status"] == 200, r
    assert json.loads(r["body"])["prediction value"], r


def test_the_service_keeps_answering_after_the_bad_input(
    host, manifest, on_host, backend_client, basic_auth, gateway_cases_run, api_cases_run,
    restarts_before, report,
):  # fmt: skip
    responses = [r for _, answers in [*gateway_cases_run.values(), *api_cases_run.values()]
                 for r in answers]  # fmt: skip
    server_errors = [r for r in responses if r["status"] is None or r["status"] >= 500]
    report(
        f"bad input: {len(gateway_cases_run)} gateway cases + {len(api_cases_run)} API cases "
        f"({len(responses)} responses), {len(server_errors)} without answer or 5xx"
    )
    assert not server_errors, server_errors[:5]

    https = f"https://localhost:{manifest['gateway']['https_port']}/predict"
    routes = [("", "v1")]
    if manifest["v2_enabled"]:
        routes.append((manifest["gateway"]["experiment_value"], "v2"))
    for group, variant in routes:
        headers = {"Content-Type": JSON_CT, **basic_auth}
        if group:
            headers["X-Experiment-Group"] = group
        r = on_host.one(https, body=VALID, headers=headers, cafile=manifest["ca_cert"])
        assert r["status"] == 200 and r["headers"]["x-variant"] == variant, r
    for instance in instances(manifest):
        url = f"http://{instance['name']}:{manifest['api_port']}/predict"
        r = backend_client.one(url, body=VALID, headers={"Content-Type": JSON_CT})
        assert r["status"] == 200, (instance["name"], r)
    for name, restarts in restarts_before.items():
        info = inspect(host, name)
        assert info["RestartCount"] == restarts, f"{name} restarted"
        assert info["State"]["Health"]["Status"] == "healthy", (name, info["State"]["Health"])
