"""The certs role skips its full check (keys, CSRs, signatures) while the record of the last one
holds, and does the full check again as soon as a watched file changes: a key made readable by
all is found and put back to 0600 on the next run, with the same key and certificate.

Opt-in like the other playbook re-runs: on in the Molecule scenarios.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from playbook import opt_in, run_playbook

pytestmark = opt_in


def test_a_changed_key_mode_ends_the_fast_path_and_is_repaired(host, manifest, report):
    certs = PurePosixPath(manifest["ca_cert"]).parent
    key, crt = host.file(str(certs / "server.key")), host.file(str(certs / "server.crt"))
    record = host.file(str(certs / ".fortress-certs.json"))
    assert record.exists and record.mode == 0o600, "no record of the last full check"
    before = (key.sha256sum, crt.sha256sum, record.sha256sum)

    assert host.run("chmod 0644 %s", str(certs / "server.key")).rc == 0
    try:
        repaired = run_playbook(manifest, {}, "secrets")
    finally:
        host.run("chmod 0600 %s", str(certs / "server.key"))
    assert all(s["changed"] >= 1 for s in repaired.values()), (
        f"the mode change went unseen: {repaired}"
    )
    assert key.mode == 0o600, f"server.key mode {oct(key.mode)} after the run"
    assert (key.sha256sum, crt.sha256sum, record.sha256sum) == before, (
        "key, certificate or record changed"
    )

    # The repaired state is the recorded one: the next run takes the fast path (fewer tasks).
    again = run_playbook(manifest, {}, "secrets")
    assert all(s["changed"] == 0 for s in again.values()), f"after the repair: {again}"
    host_name = next(iter(again))
    assert again[host_name]["ok"] < repaired[host_name]["ok"], (again, repaired)
    report(f"certs record: after chmod 0644 {repaired}; then {again}")
