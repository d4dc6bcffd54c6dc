"""The stack on a 3-node swarm: nodes, placement, the gateway's contract, a lost node, a rolling
update."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter

import pytest
from conftest import (
    ROOT,
    START_ARGS,
    START_DOCKERD,
    Gateway,
    api_replicas,
    nodes,
    predict,
    rate_per_second,
    runner_docker,
    running_nodes,
    scrape_targets,
    targets_up,
    tasks,
    wait_until,
)

# The playbook runner of the integration suite (the json callback, the manifest's variables).
sys.path.insert(0, str(ROOT / "tests" / "integration"))
from playbook import run_playbook


def service(manifest, variant: str) -> str:
    return next(s["service"] for s in manifest["swarm"]["services"] if s["variant"] == variant)


def test_the_swarm_has_every_node_ready_and_the_edge_labelled(host, manifest, report):
    found = nodes(host)
    report(f"swarm nodes: {found}")
    assert len(found) == 3 and all(n["status"] == "Ready" for n in found), found
    assert [n["name"] for n in found if n["manager"] == "Leader"] == [manifest["swarm"]["leader"]]
    labelled = host.check_output(
        "docker node ls -q | xargs docker node inspect "
        "--format '{{.Description.Hostname}} {{index .Spec.Labels \"fortress.edge\"}}'"
    ).splitlines()
    edge = sorted(line.split()[0] for line in labelled if line.endswith(" true"))
    assert edge == sorted(manifest["swarm"]["edge_nodes"]), labelled


def test_api_v1_replicas_are_spread_over_the_nodes(host, manifest, report):
    v1 = running_nodes(host, service(manifest, "v1"))
    report(f"api-v1 tasks by node: {dict(Counter(v1))}")
    assert len(v1) == manifest["v1_replicas"], tasks(host, service(manifest, "v1"))
    assert len(set(v1)) >= 2, f"all api-v1 tasks on one node: {v1}"
    gateway = running_nodes(host, manifest["gateway"]["container"])
    assert sorted(gateway) == sorted(manifest["swarm"]["edge_nodes"]), gateway


def test_the_gateway_keeps_the_contract_tls_auth_and_routing(gateway, auth, manifest, report):
    anonymous = predict(gateway, {})
    assert anonymous["status"] == 401, anonymous
    assert json.loads(anonymous["body"])["error"], anonymous
    answers = []
    for _ in range(30):  # paced under the per-client rate limit
        answers.append(predict(gateway, auth))
        time.sleep(1.2 / rate_per_second(manifest))
    assert all(a["status"] == 200 for a in answers), Counter(a["status"] for a in answers)
    assert all(a["headers"]["x-variant"] == "v1" for a in answers)
    assert all(set(json.loads(a["body"])) == {"prediction value"} for a in answers), answers[0]
    replicas = Counter(a["headers"].get("x-replica") for a in answers)
    report(f"30 v1 answers through the swarm gateway by replica: {dict(replicas)}")
    assert len(replicas) == manifest["v1_replicas"], replicas
    debug = predict(gateway, auth, {"X-Experiment-Group": manifest["gateway"]["experiment_value"]})
    assert debug["status"] == 200 and debug["headers"]["x-variant"] == "v2", debug
    body = json.loads(debug["body"])
    assert set(body["prediction_proba_dict"]) and body["prediction value"], body


def test_the_gateway_rate_limits_a_client(gateway, auth, manifest, report):
    burst = 2 * (int(manifest["gateway"]["rate_limit_burst"]) + int(rate_per_second(manifest)))
    statuses = Counter(predict(gateway, auth)["status"] for _ in range(max(40, burst)))
    report(f"{sum(statuses.values())} back-to-back requests: {dict(statuses)}")
    assert statuses[429] > 0 and statuses[200] > 0, statuses
    time.sleep(2)  # the bucket refills before the next test


class Load:
    """One client sending v1 requests at ~60 % of its rate limit from the runner until stopped
    (at most `limit` seconds)."""

    def __init__(self, ca_file: str, port: int, auth, manifest, limit: float = 240) -> None:
        self.gateway = Gateway(ca_file, port)
        self.auth, self.interval, self.limit = auth, 1 / (0.6 * rate_per_second(manifest)), limit
        self.results: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            self.results.append(predict(self.gateway, self.auth))
            time.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.gateway.close()

    def failed(self) -> list[dict]:
        return [r for r in self.results if r["status"] != 200]

    def summary(self) -> str:
        return f"{len(self.failed())} failed of {len(self.results)}, statuses " + str(
            dict(Counter(r["status"] for r in self.results))
        )


@pytest.fixture
def load(ca_file, auth, manifest):
    port = int(os.environ.get("FORTRESS_TLS_PORT", "28444"))
    return lambda: Load(ca_file, port, auth, manifest)


def test_a_lost_worker_costs_no_request_and_its_tasks_move(host, manifest, load, report):
    v1 = service(manifest, "v1")
    workers = [n["name"] for n in nodes(host) if not n["manager"]]
    victim = max(workers, key=lambda w: running_nodes(host, v1).count(w))
    before = running_nodes(host, v1)
    assert victim in before, f"no api-v1 task on a worker: {before}"
    with load() as traffic:
        time.sleep(5)
        started = time.monotonic()
        runner_docker("stop", "--time", "5", victim)
        try:
            moved = wait_until(
                lambda: (lambda now: len(now) == manifest["v1_replicas"] and victim not in now)(
                    running_nodes(host, v1)
                ),
                timeout=120,
            )
            rescheduled = time.monotonic() - started
            # Prometheus follows: every API task up again as a target, none on the lost node.
            followed = wait_until(
                lambda: (lambda up: up is not None and victim not in {t["node"] for t in up})(
                    targets_up(host, "api", len(api_replicas(manifest)))
                ),
                timeout=60,
                step=5,
            )
            time.sleep(5)
        finally:
            runner_docker("start", victim)
    report(
        f"node loss ({victim} stopped, api-v1 {before} -> {running_nodes(host, v1)} in "
        f"{rescheduled:.0f} s): {traffic.summary()}"
    )
    # The node comes back: its engine starts as the engine role starts it; it rejoins by itself.
    runner_docker("cp", str(START_DOCKERD), f"{victim}:/usr/local/sbin/start-dockerd")
    runner_docker("exec", victim, "sh", "/usr/local/sbin/start-dockerd", *START_ARGS)
    back = wait_until(
        lambda: any(n["name"] == victim and n["status"] == "Ready" for n in nodes(host)), 90
    )
    report(f"{victim} back and Ready: {bool(back)}; Prometheus followed: {bool(followed)}")
    assert moved, f"api-v1 tasks not rescheduled off {victim}: {tasks(host, v1)}"
    assert followed, f"Prometheus' api targets after the move: {scrape_targets(host, 'api')}"
    assert traffic.results, "no request was sent"
    assert not traffic.failed(), f"{traffic.summary()}: {traffic.failed()[:3]}"
    assert back, nodes(host)


def service_env(host, name: str) -> list[str]:
    return json.loads(
        host.check_output(
            "docker service inspect --format '{{json .Spec.TaskTemplate.ContainerSpec.Env}}' %s",
            name,
        )
    )


def test_a_rolling_update_across_the_nodes_costs_no_request(host, manifest, load, report):
    """The API services' spec changes (the sentence limit, the way an image or a model change
    reaches the tasks): the swarm replaces each task, the new one healthy before the old one
    stops, under steady load; then back."""
    v1 = service(manifest, "v1")
    limit = manifest["api_max_sentence_chars"]
    for value in (limit - 1, limit):
        with load() as traffic:
            started = time.monotonic()
            stats = run_playbook(manifest, {"sentiment_api_max_sentence_chars": value}, "api")
            took = time.monotonic() - started
        changed = sum(s.get("changed", 0) for s in stats.values())
        report(
            f"rolling update to API_MAX_SENTENCE_CHARS={value} over "
            f"{dict(Counter(running_nodes(host, v1)))} in {took:.0f} s ({changed} changed): "
            f"{traffic.summary()}"
        )
        assert f"API_MAX_SENTENCE_CHARS={value}" in service_env(host, v1)
        assert len(running_nodes(host, v1)) == manifest["v1_replicas"], tasks(host, v1)
        assert not traffic.failed(), f"{traffic.summary()}: {traffic.failed()[:3]}"
