"""Rolling update of the API image under load: playbooks/site.yml re-run from the test runner with a
new image revision, then rolled back, while default and debug traffic flow (traffic.py).

Opt-in (two playbook runs take minutes): on in the Molecule scenarios, FORTRESS_ROLLOUT_TEST=1
elsewhere. What the playbook did is read as data from the ansible.posix.json stdout callback.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from typing import Any

from conftest import docker, inspect, instances, request_interval
from playbook import opt_in, run_playbook
from traffic import Load, assert_no_failure

pytestmark = opt_in


class HealthWatch:
    """Polls the api-v1 replicas' health while a rollout runs; remembers the fewest healthy ones."""

    def __init__(self, host, project: str) -> None:
        self.host, self.project = host, project
        self.fewest: int | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        deadline = time.monotonic() + 900
        while not self._stop.is_set() and time.monotonic() < deadline:
            out = self.host.run(
                "docker ps -a --filter label=fortress.project=%s "
                "--filter label=fortress.component=api-v1 --format '{{.Status}}'",
                self.project,
            ).stdout
            healthy = out.count("(healthy)")
            self.fewest = healthy if self.fewest is None else min(self.fewest, healthy)
            self.samples += 1
            time.sleep(0.5)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def api_containers(host, manifest) -> dict[str, dict[str, Any]]:
    return {i["name"]: inspect(host, i["container"]) for i in instances(manifest)}


def image_labels(host, image: str) -> dict[str, str]:
    return json.loads(docker(host, "image", "inspect", image))[0]["Config"].get("Labels") or {}


def rollout(host, manifest, clients, url, basic_auth, revision: str) -> dict[str, Any]:
    """Run the playbook with a new image revision while default and debug traffic flow."""
    close = {**basic_auth, "Connection": "close"}  # each request its own connection (see reloads)
    debug = {**close, "X-Experiment-Group": manifest["gateway"]["experiment_value"]}
    interval = request_interval(manifest)
    started = time.monotonic()
    with (
        HealthWatch(host, manifest["project"]) as watch,
        Load(clients[:2], url, close, batch=25, interval=interval, max_batches=300) as default,
        Load(clients[2:], url, debug, batch=25, interval=interval, max_batches=300) as debug_load,
    ):
        # The plays a new API image concerns: credentials (the gateway needs the certificate
        # fingerprint), the API containers, then the gateway (reloaded with the new addresses).
        stats = run_playbook(
            manifest, {"sentiment_api_image_revision": revision}, "secrets,api,gateway"
        )
    return {
        "seconds": time.monotonic() - started,
        "default": default,
        "debug": debug_load,
        "watch": watch,
        "changed": sum(s.get("changed", 0) for s in stats.values()),
    }


def test_rolling_update_replaces_replicas_one_at_a_time_without_failed_requests(
    host, manifest, load_clients, gateway_inside, basic_auth, report
):
    """A new API image (here: a new revision label) rolls through the replicas one at a time, each
    healthy before the next, under load; then the previous revision rolls back the same way.
    api-v2 is a single container: debug requests get an error while it is replaced (reported)."""
    replicas = len(instances(manifest, "v1"))
    url = f"{gateway_inside}/predict"
    before = api_containers(host, manifest)
    revision = f"rollout-test-{uuid.uuid4().hex[:8]}"
    forward = rollout(host, manifest, load_clients, url, basic_auth, revision)
    after = api_containers(host, manifest)

    # Roll back to what ran before (its revision label, if the image had one), also under load.
    some = next(iter(after))
    labels = image_labels(host, after[some]["Image"])
    label = next((k for k, v in labels.items() if v == revision), None)
    previous = image_labels(host, before[some]["Image"]).get(label, "") if label else ""
    back = rollout(host, manifest, load_clients, url, basic_auth, previous)

    for name, run in (("rolling update", forward), ("rollback", back)):
        debug_statuses = dict(Counter(r["status"] for r in run["debug"].results))
        report(
            f"{name} ({revision if run is forward else repr(previous)}): {run['seconds']:.0f} s, "
            f"{run['changed']} changed tasks; default traffic {run['default'].summary()}; "
            f"fewest healthy api-v1 {run['watch'].fewest}/{replicas} "
            f"({run['watch'].samples} samples); debug traffic statuses {debug_statuses}"
        )
    assert label, f"the new API image carries no label with the revision {revision!r}"
    replaced = [n for n in before if after[n]["Id"] != before[n]["Id"]]
    assert sorted(replaced) == sorted(before), f"not replaced: {set(before) - set(replaced)}"
    assert all(image_labels(host, c["Image"])[label] == revision for c in after.values())
    for name, run in (("rolling update", forward), ("rollback", back)):
        assert run["changed"] > 0, f"{name}: the playbook changed nothing"
        assert run["watch"].fewest == replicas - 1, (
            f"{name}: fewest healthy api-v1 replicas {run['watch'].fewest} "
            f"(one at a time means {replicas - 1})"
        )
        assert_no_failure(run["default"], name)
