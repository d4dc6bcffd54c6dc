"""Port exposure: only the gateway's listeners and the monitoring UIs are published, each bound
to the address the manifest records; loopback-only ports refuse connections from the public network.
"""

from __future__ import annotations

import ipaddress
import json
import uuid

import pytest
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


# A LAN neighbour: a network namespace joined to the target by a veth pair, its default route via
# the target, the way a machine on the same segment would route the stack's subnets via the host.
# Its /30 comes from 198.18.0.0/15 (RFC 2544, benchmarking only) and overlaps no route of the
# target, so the probe reaches only the target and the stack's containers.
LAN_POOL = ipaddress.ip_network("198.18.0.0/15")


def free_lan_link(host) -> tuple[str, str]:
    """(host end, neighbour end) addresses of a /30 that no route of the target overlaps."""
    routes = json.loads(host.check_output("ip -j route show table all"))
    used = [
        ipaddress.ip_network(r["dst"], strict=False)
        for r in routes
        if r.get("dst", "default") != "default" and ":" not in r["dst"]
    ]
    for link in LAN_POOL.subnets(new_prefix=30):
        if not any(link.overlaps(u) for u in used):
            first, second = list(link.hosts())
            return str(first), str(second)
    raise AssertionError(f"every /30 of {LAN_POOL} is routed on the target")


LAN_PROBE = (
    "import json, socket, sys\n"
    "from concurrent.futures import ThreadPoolExecutor\n"
    "def probe(end):\n"
    "    with socket.socket() as s:\n"
    "        s.settimeout(2)\n"
    "        return f'{end[0]}:{end[1]}', s.connect_ex(tuple(end)) == 0\n"
    "with ThreadPoolExecutor(16) as pool:\n"
    "    print(json.dumps(dict(pool.map(probe, json.loads(sys.argv[1])))))\n"
)


def container_endpoints(host, manifest) -> dict[str, list[tuple[str, int]]]:
    """Every address of every stack container, with the ports it listens on (exposed or published,
    and the API port of the API containers)."""
    api = {i["container"] for i in manifest["api_instances"]}
    out = {}
    for c in stack_containers(host, manifest):
        name = c["Name"].lstrip("/")
        ports = {int(p.split("/")[0]) for p in (c["NetworkSettings"]["Ports"] or {})}
        if name in api:
            ports.add(int(manifest["api_port"]))
        networks = c["NetworkSettings"]["Networks"].values()
        addresses = [n["IPAddress"] for n in networks if n["IPAddress"]]
        out[name] = [(a, p) for a in addresses for p in sorted(ports)]
    return out


def test_a_lan_neighbour_reaches_the_stack_only_through_published_ports(host, manifest, report):
    """The neighbour reaches the gateway's published HTTPS port at the target's address (so its
    route works), and no container address at all: not Prometheus or Grafana (published on the
    loopback only), not the gateway around its published ports, not the APIs or the exporter."""
    if not manifest.get("block_routed_access", True):
        pytest.skip("fortress_block_routed_access is false: the host firewall is managed elsewhere")
    if manifest["gateway"]["bind_address"] not in ("0.0.0.0", ""):
        pytest.skip("the gateway is not published on every address: no port for a neighbour")
    endpoints = container_endpoints(host, manifest)
    tag = uuid.uuid4().hex[:6]
    lan_host, lan_peer = free_lan_link(host)
    ns, outside, inside = f"fortress-lan-{tag}", f"fl{tag}h", f"fl{tag}n"
    setup = [
        f"ip netns add {ns}",
        f"ip link add {outside} type veth peer name {inside}",
        f"ip link set {inside} netns {ns}",
        f"ip addr add {lan_host}/30 dev {outside}",
        f"ip link set {outside} up",
        f"ip -n {ns} link set lo up",
        f"ip -n {ns} addr add {lan_peer}/30 dev {inside}",
        f"ip -n {ns} link set {inside} up",
        f"ip -n {ns} route add default via {lan_host}",
    ]
    published = (lan_host, int(manifest["gateway"]["https_port"]))
    targets = [published] + [e for ends in endpoints.values() for e in ends]
    try:
        for step in setup:
            cmd = host.run(step)
            assert cmd.rc == 0, f"cannot build the LAN namespace ({step}): {cmd.stderr}"
        cmd = host.run(f"ip netns exec {ns} python3 -c %s %s", LAN_PROBE, json.dumps(targets))
        assert cmd.rc == 0, cmd.stderr
    finally:
        host.run(f"ip netns del {ns}")  # removes the veth pair with it
    reachable = json.loads(cmd.stdout)
    leaks = sorted(k for k, v in reachable.items() if v)
    report(f"LAN probe: {len(targets)} endpoints, reachable {leaks}")
    published_key = f"{published[0]}:{published[1]}"
    assert reachable.pop(published_key), f"the published port {published_key} is unreachable"
    leaks.remove(published_key)
    assert not leaks, f"container addresses reachable from the LAN: {leaks}"
