"""The gateway's key, chain and password file on the swarm: Docker secrets and a config made on the
first manager, handed to each gateway task in memory; no other node keeps the key or the passwords.
A password change is a new secret version that the gateway service rolls to."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from collections import Counter

from conftest import ROOT, nodes, predict, runner_docker, running_nodes

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from playbook import run_playbook


def container_spec(host, service: str) -> dict:
    return json.loads(
        host.check_output(
            "docker service inspect --format '{{json .Spec.TaskTemplate.ContainerSpec}}' %s",
            service,
        )
    )


def secret_names(spec: dict) -> dict[str, str]:
    """Target path inside the task -> secret or config name."""
    return {
        ref["File"]["Name"]: ref.get("SecretName") or ref.get("ConfigName")
        for ref in spec.get("Secrets", []) + spec.get("Configs", [])
    }


def test_the_gateway_tasks_get_key_chain_and_passwords_from_the_swarm(host, manifest, report):
    project, gateway = manifest["project"], manifest["gateway"]["container"]
    spec = container_spec(host, gateway)
    refs = secret_names(spec)
    report(f"gateway secrets and configs: {refs}")
    names = sorted(refs.values())
    assert [n.rsplit("_v", 1)[0] for n in names] == [
        f"{project}_htpasswd",
        f"{project}_tls_chain",
        f"{project}_tls_key",
    ], refs
    # No bind mount brings a certificate or password file in from the node.
    binds = [m["Source"] for m in spec.get("Mounts", []) if m.get("Type") == "bind"]
    assert all("/certs" not in b and "/auth" not in b for b in binds), binds
    # Inside the task the key is on a tmpfs (the swarm's), readable by nginx's uid only.
    task = host.check_output(
        "docker ps -q --filter label=com.docker.swarm.service.name=%s", gateway
    ).split()[0]
    key = next(path for path, name in refs.items() if "_tls_key_" in name)
    seen = host.check_output("docker exec %s stat -f -c %%T -L %s", task, key)
    mode = host.check_output("docker exec %s stat -c '%%a %%u' %s", task, key)
    report(f"{key} in the gateway task: file system {seen}, mode/owner {mode}")
    assert seen.strip() == "tmpfs" and mode.split()[0] == "400", (seen, mode)


def test_no_other_node_keeps_the_key_or_the_passwords(host, manifest, report):
    data = manifest["data_dir"]
    others = [n["name"] for n in nodes(host) if n["name"] != manifest["swarm"]["leader"]]
    for node in others:
        listing = runner_docker(
            "exec", node, "sh", "-c", f"ls {data}/certs {data}/auth 2>/dev/null; true"
        )
        report(f"{node}: {' '.join(listing.split()) or 'no certificate or password file'}")
        assert "server.key" not in listing and "htpasswd" not in listing, listing


def test_a_new_password_is_a_new_secret_version_the_gateway_rolls_to(
    host, gateway, manifest, report
):
    """A second user added, then removed again: each a new version of the password secret, the
    gateway service updated to it, the second user's password accepted, then refused."""
    name = manifest["gateway"]["container"]
    # The inventory's one user (the suite's client), as the vault sets it.
    users = [{"name": os.environ["FORTRESS_USER"], "password": os.environ["FORTRESS_PASSWORD"]}]
    extra = {"name": "rotation-check", "password": base64.b16encode(time.ctime().encode()).decode()}
    creds = {
        "Authorization": "Basic "
        + base64.b64encode(f"{extra['name']}:{extra['password']}".encode()).decode()
    }
    for wanted, status in (([*users, extra], 200), (users, 401)):
        before = secret_names(container_spec(host, name))
        started = time.monotonic()
        stats = run_playbook(manifest, {"htpasswd_users": wanted}, "secrets,gateway")
        took = time.monotonic() - started
        after = secret_names(container_spec(host, name))
        answers = Counter(predict(gateway, creds)["status"] for _ in range(3))
        report(
            f"{len(wanted)} users: {sorted(set(after.values()) - set(before.values()))} in "
            f"{took:.0f} s, gateway on {running_nodes(host, name)}, second user: {dict(answers)}"
        )
        assert sum(s.get("changed", 0) for s in stats.values()) > 0, stats
        assert set(after.values()) != set(before.values()), after
        assert answers == {status: 3}, answers
