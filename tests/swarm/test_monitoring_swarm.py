"""Monitoring on the swarm: Prometheus on the monitoring node finds the API services' tasks in the
swarm's API (dockerswarm_sd_configs) with their variant, replica and node, and each edge node's
gateway is measured (exporter, mtail) and probed (blackbox) on its own."""

from __future__ import annotations

import time
import urllib.parse
from collections import Counter

from conftest import (
    api_replicas,
    predict,
    prometheus,
    rate_per_second,
    scrape_targets,
    targets_up,
    wait_until,
)


def query(host, promql: str) -> list[dict]:
    return prometheus(host, "/api/v1/query?query=" + urllib.parse.quote(promql))["result"]


def test_prometheus_runs_on_the_labelled_monitoring_node(host, manifest):
    assert manifest["swarm"]["monitoring_node"] == manifest["swarm"]["leader"], manifest["swarm"]
    labelled = host.check_output(
        "docker node ls -q | xargs docker node inspect "
        "--format '{{.Description.Hostname}} {{index .Spec.Labels \"fortress.monitoring\"}}'"
    ).splitlines()
    assert [line.split()[0] for line in labelled if line.endswith(" true")] == [
        manifest["swarm"]["monitoring_node"]
    ], labelled
    assert prometheus(host, "/api/v1/status/buildinfo")["version"]


def test_prometheus_discovers_every_api_task_with_its_variant_replica_and_node(
    host, manifest, report
):
    replicas = api_replicas(manifest)
    found = wait_until(lambda: targets_up(host, "api", len(replicas)), timeout=90, step=5)
    seen = scrape_targets(host, "api")
    report("api targets: " + ", ".join(sorted(f"{t['replica']}@{t['node']}" for t in seen)))
    assert found, f"expected {len(replicas)} api targets up, got {seen}"
    assert {t["replica"] for t in found} == replicas, found
    assert all(t["variant"] == t["replica"].split("-")[1] for t in found), found
    v1_nodes = {t["node"] for t in found if t["variant"] == "v1"}
    assert len(v1_nodes) >= 2, f"api-v1 targets all on one node: {found}"
    # The replica label Prometheus derives from the task's slot is the one the API reports itself.
    info = query(host, "api_model_info")
    assert len(info) == len(replicas), info
    assert all(s["metric"]["replica"] == s["metric"]["exported_replica"] for s in info), info


def test_each_edge_gateway_is_measured_and_probed(host, gateway, auth, manifest, report):
    edge = sorted(manifest["swarm"]["edge_nodes"])
    for job in ("nginx-exporter", "gateway-mtail", "gateway-probe"):
        found = wait_until(lambda job=job: targets_up(host, job, len(edge)), timeout=90, step=5)
        assert found, f"{job}: {scrape_targets(host, job)}"
        assert sorted(t["node"] for t in found) == edge, found
    predicts = 'gateway_http_requests_total{route="predict"}'
    before = sum(float(s["value"][1]) for s in query(host, predicts))
    sent: Counter[int] = Counter()
    for _ in range(10):  # at half the per-client rate: none is refused
        sent[predict(gateway, auth)["status"]] += 1
        time.sleep(2 / rate_per_second(manifest))
    assert sent[200] == 10, sent

    def counted():
        now = query(host, f"sum({predicts})")
        return now and float(now[0]["value"][1]) - before >= 10

    assert wait_until(counted, timeout=60, step=5), query(host, "gateway_http_requests_total")
    up = query(host, "nginx_up")
    # (A gateway task replaced by an earlier test leaves its last probe until discovery drops it.)
    probes = wait_until(
        lambda: (lambda r: r if len(r) == len(edge) else None)(query(host, "probe_success")), 60, 5
    ) or query(host, "probe_success")
    report(
        "gateway metrics per edge node: "
        + ", ".join(f"{s['metric']['node']} nginx_up={s['value'][1]}" for s in up)
        + "; probes "
        + ", ".join(f"{s['metric']['instance']}={s['value'][1]}" for s in probes)
    )
    assert [s["value"][1] for s in up] == ["1"] * len(edge), up
    assert [s["value"][1] for s in probes] == ["1"] * len(edge), probes
