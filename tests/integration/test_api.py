"""The API containers: replicas, variants, bad input, hardening (reached on the backend network)."""

from __future__ import annotations

import json

import pytest
from conftest import inspect


def api_url(manifest, name: str, path: str = "/predict") -> str:
    return f"http://{name}:{manifest['api_port']}{path}"


def v1_names(manifest) -> list[str]:
    return [f"api-v1-{i}" for i in range(1, manifest["v1_replicas"] + 1)]


def test_every_api_container_runs_and_is_healthy(host, manifest):
    for name in [*v1_names(manifest), "api-v2"]:
        state = inspect(host, f"{manifest['project']}-{name}")["State"]
        assert state["Running"], f"{name}: {state}"
        assert state["Health"]["Status"] == "healthy", f"{name}: {state['Health']}"


def test_v1_replicas_answer_with_distinct_replica_ids(manifest, backend_client):
    seen = {}
    for name in v1_names(manifest):
        r = backend_client.one(
            api_url(manifest, name),
            body='{"sentence": "I love it"}',
            headers={"Content-Type": "application/json"},
        )
        assert r["status"] == 200, r
        seen[name] = r["headers"].get("x-replica")
    assert sorted(seen.values()) == sorted(seen), f"replica ids: {seen}"


def test_v1_returns_the_label_without_probabilities(manifest, backend_client):
    r = backend_client.one(
        api_url(manifest, "api-v1-1"),
        body='{"sentence": "what a great day"}',
        headers={"Content-Type": "application/json"},
    )
    assert r["status"] == 200, r
    body = json.loads(r["body"])
    assert isinstance(body["prediction value"], str) and body["prediction value"], body
    assert "prediction_proba_dict" not in body, body
    assert r["headers"]["x-variant"] == "v1"


def test_v2_returns_probabilities_for_every_class_summing_to_one(manifest, backend_client):
    r = backend_client.one(
        api_url(manifest, "api-v2"),
        body='{"sentence": "this is awful"}',
        headers={"Content-Type": "application/json"},
    )
    assert r["status"] == 200, r
    body = json.loads(r["body"])
    probs = body["prediction_proba_dict"]
    assert len(probs) >= 2, body
    assert abs(sum(probs.values()) - 1.0) < 1e-6, probs
    assert body["prediction value"] in probs, body
    assert body["prediction value"] == max(probs, key=probs.get), body
    assert r["headers"]["x-variant"] == "v2"


BAD_INPUT = [
    ("invalid json", '{"sentence": ', "application/json", 400),
    ("missing field", '{"text": "hi"}', "application/json", 422),
    ("wrong type", '{"sentence": 42}', "application/json", 422),
    ("empty sentence", '{"sentence": ""}', "application/json", 422),
    ("whitespace sentence", '{"sentence": "   \\n\\t "}', "application/json", 422),
    ("too long", json.dumps({"sentence": "a" * 20000}), "application/json", 422),
    ("wrong content type", "<sentence>hi</sentence>", "application/xml", 415),
]


@pytest.mark.parametrize(
    ("case", "body", "ctype", "status"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT]
)
def test_bad_input_gets_a_4xx_json_error(manifest, backend_client, case, body, ctype, status):
    r = backend_client.one(
        api_url(manifest, "api-v1-1"), body=body, headers={"Content-Type": ctype}
    )
    assert r["status"] == status, (case, r)
    err = json.loads(r["body"])
    assert err["error"] and err["detail"], (case, err)


def test_health_and_metrics_endpoints_answer(manifest, backend_client):
    health = backend_client.one(api_url(manifest, "api-v2", "/health"), method="GET")
    assert health["status"] == 200 and json.loads(health["body"])["status"] == "ok", health
    metrics = backend_client.one(api_url(manifest, "api-v2", "/metrics"), method="GET")
    assert metrics["status"] == 200, metrics
    assert "api_requests_total" in metrics["body"] and "api_model_info" in metrics["body"]


def test_each_variant_serves_its_model_version_read_only(host, manifest, backend_client):
    """Models are mounted per variant (models/<digest>/ on the host, read-only at /app/model)."""
    models = manifest["api_models"]
    for name in [*v1_names(manifest), "api-v2"]:
        variant = "v2" if name == "api-v2" else "v1"
        health = backend_client.one(api_url(manifest, name, "/health"), method="GET")
        assert health["status"] == 200, health
        assert json.loads(health["body"])["model_version"] == models[variant]["version"], (
            name,
            health["body"],
            models,
        )
        mounts = inspect(host, f"{manifest['project']}-{name}")["Mounts"]
        model = [m for m in mounts if m["Destination"] == "/app/model"]
        assert len(model) == 1 and model[0]["RW"] is False, mounts
        assert model[0]["Source"].endswith(f"/models/{models[variant]['digest']}"), model


def test_api_containers_are_hardened_and_not_published(host, manifest):
    for name in [*v1_names(manifest), "api-v2"]:
        info = inspect(host, f"{manifest['project']}-{name}")
        hc = info["HostConfig"]
        assert info["Config"]["User"] not in ("", "0", "root", "0:0"), name
        assert hc["ReadonlyRootfs"] is True, name
        assert hc["CapDrop"] == ["ALL"], name
        assert "no-new-privileges" in hc["SecurityOpt"], name
        assert hc["Memory"] > 0, name
        assert hc["LogConfig"]["Config"].get("max-size"), name
        assert hc["RestartPolicy"]["Name"] == "unless-stopped", name
        assert not any((info["NetworkSettings"]["Ports"] or {}).values()), f"{name} is published"
