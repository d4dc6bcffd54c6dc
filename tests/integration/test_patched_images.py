"""Patched images (issue 11, finding 2): right after a deploy, `apt-get -s upgrade` in every image
the project builds lists no security upgrade, judged against the target's own package index (the
one the patch level is read from), copied into a throwaway container without network. A target
deployed from the offline bundle has no index (it is air-gapped): its images are judged on the
control node that made the bundle, against the index they were built with, after checking that the
control node's images are the target's (same image ids).
"""

from __future__ import annotations

import json

import pytest
import testinfra
from conftest import docker, stack_containers

LISTS = "/var/lib/apt/lists"
# The target's Debian sources (third-party ones, with keys the images lack, are left out).
SOURCES = ("etc/apt/sources.list", "etc/apt/sources.list.d/debian.sources")
# The project builds every image but Grafana's (pulled, not Debian-based).
NOT_BUILT = {"grafana"}


@pytest.fixture(scope="module")
def project_images(host, manifest) -> dict[str, str]:
    images = {}
    for c in stack_containers(host, manifest):
        component = (c["Config"]["Labels"] or {}).get("fortress.component", "")
        if component not in NOT_BUILT:
            images.setdefault(c["Config"]["Image"], component)
    return images


@pytest.fixture(scope="module")
def apt_host(host, manifest, project_images):
    """Where the images are judged: the target, or for a bundle deployment the control node."""
    if manifest.get("images_from") != "bundle":
        return host
    local = testinfra.get_host("local://")
    for image in project_images:
        target_id = docker(host, "image", "inspect", "--format", "{{.Id}}", image).strip()
        local_id = local.run("docker image inspect --format '{{.Id}}' %s", image).stdout.strip()
        assert local_id == target_id, f"{image}: {target_id} on the target, {local_id!r} here"
    return local


def simulated_upgrade(host, image: str) -> list[str]:
    """The `Inst` lines of `apt-get -s upgrade` in `image`, with the target's Debian sources and
    package index in place of the image's own (which may lack a suite)."""
    sources = [p for p in SOURCES if host.file("/" + p).exists]
    script = (
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/* && tar -C / -x "
        "&& apt-get -s -q -o Debug::NoLocking=1 upgrade | grep '^Inst ' || true"
    )
    cmd = host.run(
        "tar -C / -c --exclude=lock --exclude=partial %s"
        + " %s" * len(sources)
        + " | docker run -i --rm --network none --user 0 --entrypoint sh %s -c %s",
        LISTS.lstrip("/"),
        *sources,
        image,
        script,
    )
    assert cmd.rc == 0, f"apt-get -s upgrade in {image} failed: {cmd.stderr[-1000:]}"
    return cmd.stdout.splitlines()


def test_the_target_index_has_the_security_suite(apt_host):
    host = apt_host
    found = host.run("ls %s | grep -c -- '-security_.*Packages' || true", LISTS).stdout.strip()
    assert int(found or 0) > 0, f"no security suite in {LISTS}: the check below would prove nothing"
    configured = [host.file("/" + p).content_string for p in SOURCES if host.file("/" + p).exists]
    assert any("-security" in text for text in configured), f"no security suite in {SOURCES}"


def test_no_project_image_misses_a_security_fix(apt_host, project_images, report):
    host = apt_host
    pending = {}
    for image, component in sorted(project_images.items()):
        lines = simulated_upgrade(host, image)
        security = [line for line in lines if "security" in line.lower()]
        pending[image] = {"component": component, "upgrades": len(lines), "security": security}
    report(
        "apt-get -s upgrade per image: "
        + json.dumps(
            {
                i: {
                    "component": p["component"],
                    "upgrades": p["upgrades"],
                    "security": len(p["security"]),
                }
                for i, p in pending.items()
            }
        )
    )
    assert project_images, "no project image found"
    missing = {i: p["security"][:5] for i, p in pending.items() if p["security"]}
    assert not missing, f"security upgrades pending: {json.dumps(missing, indent=1)}"
