"""The API containers: replicas, variants, bad input, models, exposure (reached on the backend
network). Their hardening is asserted with every other container's in test_hardening.py."""

from __future__ import annotations

import json

import pytest
from conftest import api_url, inspect, instances, v1_names

JSON = {"Content-Type": "application/json"}


def test_every_api_container_runs_and_is_healthy(host, manifest):
    assert v1_names(manifest), f"no v1 instance in the manifest: {manifest['api_instances']}"
    for instance in instances(manifest):
        state = inspect(host, instance["container"])["State"]
        assert state["Running"], f"{instance['container']}: {state}"
        assert state["Health"]["Status"] == "healthy", f"{instance['container']}: {state['Health']}"


def test_v1_replicas_answer_with_distinct_replica_ids(manifest, backend_client):
    seen = {}
    for name in v1_names(manifest):
        r = backend_client.one(
            api_url(manifest, name), body='{"sentence": "I love it"}', headers=JSON
        )
        assert r["status"] == 200, r
        seen[name] = r["headers"].get("x-replica")
    assert sorted(seen.values()) == sorted(seen), f"replica ids: {seen}"


def test_v1_returns_the_label_without_probabilities(manifest, backend_client):
    r = backend_client.one(
        api_url(manifest, v1_names(manifest)[0]),
        body='{"sentence": "what a great day"}',
        headers=JSON,
    )
    assert r["status"] == 200, r
    body = json.loads(r["body"])
    assert isinstance(body["prediction value"], str) and body["prediction value"], body
    assert "prediction_proba_dict" not in body, body
    assert r["headers"]["x-variant"] == "v1"


def test_v2_returns_probabilities_for_every_class_summing_to_one(manifest, api_v2, backend_client):
    r = backend_client.one(
        api_url(manifest, api_v2["name"]), body='{"sentence": "this is awful"}', headers=JSON
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
        api_url(manifest, v1_names(manifest)[0]), body=body, headers={"Content-Type": ctype}
    )
    assert r["status"] == status, (case, r)
    err = json.loads(r["body"])
    assert err["error"] and err["detail"], (case, err)


def test_health_and_metrics_endpoints_answer(manifest, backend_client):
    for instance in instances(manifest):
        health = backend_client.one(api_url(manifest, instance["name"], "/health"), method="GET")
        assert health["status"] == 200, (instance["name"], health)
        assert json.loads(health["body"])["status"] == "ok", (instance["name"], health)
        metrics = backend_client.one(api_url(manifest, instance["name"], "/metrics"), method="GET")
        assert metrics["status"] == 200, (instance["name"], metrics)
        assert "api_requests_total" in metrics["body"], instance["name"]
        assert "api_model_info" in metrics["body"], instance["name"]


def test_each_variant_serves_its_model_version_read_only(host, manifest, backend_client):
    """Models are mounted per variant (models/<digest>/ on the host, read-only at /app/model)."""
    for instance in instances(manifest):
        name, model = instance["name"], instance["model"]
        health = backend_client.one(api_url(manifest, name, "/health"), method="GET")
        assert health["status"] == 200, health
        served = json.loads(health["body"])["model_version"]
        assert served == model["version"], (name, health["body"], model)
        mounts = inspect(host, instance["container"])["Mounts"]
        mounted = [m for m in mounts if m["Destination"] == "/app/model"]
        assert len(mounted) == 1 and mounted[0]["RW"] is False, mounts
        assert mounted[0]["Source"].endswith(f"/models/{model['digest']}"), mounted


def test_api_containers_are_not_published(host, manifest):
    for instance in instances(manifest):
        info = inspect(host, instance["container"])
        ports = info["NetworkSettings"]["Ports"] or {}
        assert not any(ports.values()), f"{instance['container']} is published: {ports}"


def test_api_containers_carry_their_aliases_on_the_backend_and_monitoring_networks(host, manifest):
    """The name (X-Replica, the gateway's upstream, the scrape target) is a network alias."""
    wanted = ["backend"] + (["monitoring"] if manifest["monitoring"]["enabled"] else [])
    for instance in instances(manifest):
        assert instance["name"] in instance["aliases"], instance
        attached = inspect(host, instance["container"])["NetworkSettings"]["Networks"]
        for network in (manifest["networks"][n] for n in wanted):
            aliases = (attached.get(network) or {}).get("Aliases") or []
            seen = {n: v.get("Aliases") for n, v in attached.items()}
            assert set(instance["aliases"]) <= set(aliases), (instance, network, seen)
