"""Stable upstream addresses: every API container sits at the stack contract's fixed address on
the backend network and the gateway's upstreams name those addresses, so a replica that was down
while other containers joined the network comes back at its own address and in rotation, and
default traffic never reaches another variant (nginx resolves names only when it starts).
"""

from __future__ import annotations

from collections import Counter

import pytest
from conftest import docker, inspect, instances, request_interval, start_client, wait_healthy
from traffic import SENTENCE, replica_answers_again


def backend_address(host, manifest, container: str) -> str:
    networks = inspect(host, container)["NetworkSettings"]["Networks"]
    return networks[manifest["networks"]["backend"]]["IPAddress"]


def test_api_containers_sit_at_their_fixed_backend_addresses(host, manifest, report):
    wanted = {i["container"]: i["address"] for i in instances(manifest)}
    seen = {c: backend_address(host, manifest, c) for c in wanted}
    assert seen == wanted, f"backend addresses {seen}, the contract's {wanted}"
    conf = docker(
        host, "exec", manifest["gateway"]["container"], "cat", "/etc/nginx/fortress/nginx.conf"
    )
    missing = [a for a in wanted.values() if f"server {a}:{manifest['api_port']} " not in conf]
    assert not missing, f"upstream servers missing from the gateway's configuration: {missing}"
    report(f"fixed backend addresses: {seen}")


def test_a_replica_down_while_others_join_comes_back_at_its_address_and_in_rotation(
    host, manifest, gateway_inside, load_clients, basic_auth, report
):
    v1 = instances(manifest, "v1")
    if len(v1) < 2:
        pytest.skip(f"{len(v1)} v1 replica: stopping it would leave v1 without a backend")
    victim, network, project = v1[-1], manifest["networks"]["backend"], manifest["project"]
    url, interval = f"{gateway_inside}/predict", request_interval(manifest)
    docker(host, "stop", "--time", "5", victim["container"])
    newcomers: list[str] = []
    try:
        # Three containers join the backend network while the replica is down: none gets its IP.
        newcomers = [start_client(host, manifest["api_image"], network, project) for _ in range(3)]
        taken = [backend_address(host, manifest, n) for n in newcomers]
        docker(host, "start", victim["container"])
    finally:
        if inspect(host, victim["container"])["State"]["Status"] != "running":
            docker(host, "start", victim["container"])
        if newcomers:
            host.run("docker rm -f " + " ".join(["%s"] * len(newcomers)), *newcomers)
    assert victim["address"] not in taken, f"{victim['address']} handed out to {taken}"
    wait_healthy(host, victim["container"])
    assert backend_address(host, manifest, victim["container"]) == victim["address"]
    seen = replica_answers_again(load_clients[0], url, basic_auth, victim["name"], interval)
    assert victim["name"] in seen, f"{victim['name']} is healthy but out of rotation: {seen}"
    spec = {"body": SENTENCE, "headers": {"Content-Type": "application/json", **basic_auth}}
    results = load_clients[1](url, count=30, interval=interval, insecure=True, **spec)
    variants = Counter(r["headers"].get("x-variant") for r in results)
    replicas = Counter(r["headers"].get("x-replica") for r in results)
    assert all(r["status"] == 200 for r in results), results[:3]
    assert variants == {"v1": len(results)}, f"default traffic answered by {dict(variants)}"
    assert set(replicas) == {i["name"] for i in v1}, f"replicas in rotation: {dict(replicas)}"
    report(
        f"{victim['name']} down while 3 containers joined {network} (got {taken}); back at "
        f"{victim['address']}; then 30 requests: {dict(replicas)}"
    )
