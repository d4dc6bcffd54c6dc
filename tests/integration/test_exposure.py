"""Port exposure: only the gateway's listeners and the monitoring UIs are published, each bound
to the address the manifest records; loopback-only ports refuse connections from the public network.
"""

from __future__ import annotations

import json

from conftest import docker, stack_containers, start_client


def expected_bindings(manifest) -> dict[str, set[tuple[str, str]]]:
    gateway, monitoring = manifest["gateway"], manifest["monitoring"]
    expected = {
        "gateway": {
            (gateway["bind_address"], str(gateway["http_port"])),
            (gateway["bind_address"], str(gateway["https_port"])),
        }
    }
    for component in ("prometheus", "grafana"):
        address, port = monitoring[f"{component}_url"].split("//")[1].rsplit(":", 1)
        expected[component] = {(address, port)}
    return expected


def test_published_ports_bind_as_the_manifest_says(host, manifest, report):
    expected = expected_bindings(manifest)
    problems, seen = [], {}
    for c in stack_containers(host, manifest):
        component = c["Config"]["Labels"].get("fortress.component", c["Name"])
        actual = {
            ("0.0.0.0" if b["HostIp"] in ("", "::") else b["HostIp"], b["HostPort"])
            for bindings in (c["NetworkSettings"]["Ports"] or {}).values()
            for b in bindings or []
        }
        seen[c["Name"].lstrip("/")] = sorted(actual)
        wanted = expected.get(component, set())
        if actual != wanted:
            problems.append(f"{c['Name']}: published {sorted(actual)}, expected {sorted(wanted)}")
    report(f"published ports: {seen}")
    assert "gateway" in {
        c["Config"]["Labels"].get("fortress.component") for c in stack_containers(host, manifest)
    }
    assert not problems, "\n".join(problems)


def test_loopback_only_ports_refuse_connections_from_the_public_network(host, manifest):
    """A neighbour on the public network reaches the host's bridge address: the ports bound to the
    loopback must refuse it there, the ones bound to every address must accept it."""
    public = manifest["networks"]["public"]
    bridge = json.loads(docker(host, "network", "inspect", public))[0]["IPAM"]["Config"][0][
        "Gateway"
    ]
    ports = {
        port: address
        for bindings in expected_bindings(manifest).values()
        for address, port in bindings
        if address in ("127.0.0.1", "0.0.0.0")
    }
    client = start_client(host, manifest["api_image"], public, manifest["project"])
    try:
        code = (
            "import json, socket, sys\n"
            "out = {}\n"
            "for port in json.loads(sys.argv[1]):\n"
            "    s = socket.socket(); s.settimeout(3)\n"
            "    out[port] = s.connect_ex((sys.argv[2], int(port))) == 0\n"
            "    s.close()\n"
            "print(json.dumps(out))\n"
        )
        out = docker(host, "exec", client, "python3", "-c", code, json.dumps(sorted(ports)), bridge)
    finally:
        host.run("docker rm -f %s", client)
    reachable = json.loads(out)
    wrong = {
        port: f"bound to {ports[port]}, {'reachable' if reachable[port] else 'refused'} at {bridge}"
        for port in ports
        if reachable[port] != (ports[port] == "0.0.0.0")
    }
    assert not wrong, wrong


# Components that publish a port and so need a network with a route out (the others have none).
PUBLISHING = {"gateway", "prometheus", "grafana"}


def test_backend_and_monitoring_networks_are_internal(host, manifest):
    for key in ("backend", "monitoring"):
        network = json.loads(docker(host, "network", "inspect", manifest["networks"][key]))[0]
        assert network["Internal"] is True, f"{network['Name']} is not internal"


def test_containers_that_publish_nothing_are_on_internal_networks_only(host, manifest, report):
    """The engine drops what leaves an internal network's bridge for anywhere outside its subnet
    (and what enters it from outside): the APIs, the exporter and mtail reach nothing beyond the
    stack. (A route check would not do: Docker 20.10 still gives them a default route, and its
    isolation rules stop the packets; tests must not send traffic outside to prove it.)"""
    internal = {
        n["Name"]
        for n in json.loads(docker(host, "network", "inspect", *manifest["networks"].values()))
        if n["Internal"]
    }
    checked, problems = [], {}
    for c in stack_containers(host, manifest):
        if (c["Config"]["Labels"] or {}).get("fortress.component", "") in PUBLISHING:
            continue
        name, networks = c["Name"].lstrip("/"), set(c["NetworkSettings"]["Networks"])
        if networks - internal:
            problems[name] = sorted(networks - internal)
        checked.append(name)
    assert checked, "no container without a published port found"
    assert not problems, f"on networks with a way out: {problems}"
    report(f"on internal networks only: {sorted(checked)}; internal networks {sorted(internal)}")
