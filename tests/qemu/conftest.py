"""A real QEMU VM for the VM handoff (issue 12): booted once per session from the cached image,
air-gapped (QEMU lets nothing out; the host reaches it only through 127.0.0.1 forwards), driven
over SSH as ops would (host key from the VM's console, key-only login, become), destroyed at the
end. The offline bundle is made once per session with `make bundle`. Timings go to the terminal
summary ("fortress VM figures")."""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from fortress_vm import image, machine
from integration.playbook import failed_tasks

ROOT = Path(__file__).resolve().parents[2]
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("fortress VM figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def figure():
    return FIGURES.append


@pytest.fixture(scope="session")
def vm(figure):
    started = time.monotonic()
    cached = (image.CACHE / image.digest() / "disk.qcow2").exists()
    img = image.build()
    figure(
        f"image: {'cached' if cached else 'built'} in {time.monotonic() - started:.0f} s ({img})"
    )
    vm = machine.Machine(name=f"fortress-test-{os.getpid()}", air_gapped=True)
    try:
        vm.create(img)
        figure(f"boot -> SSH: {vm.wait_ssh(timeout=420):.0f} s ({' '.join(machine.accelerator())})")
        yield vm
    finally:
        vm.destroy()


@pytest.fixture(scope="session")
def bundle(figure) -> Path:
    """`make bundle` on this machine (the control node): the images built here, then saved."""
    started = time.monotonic()
    out = subprocess.run(
        ["make", "bundle"], cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    path = ROOT / "dist" / "fortress-bundle.tar"
    figure(f"make bundle: {time.monotonic() - started:.0f} s, {path.stat().st_size / 1e6:.0f} MB")
    return path


class Gateway:
    """The VM's gateway as a client on the host sees it: https://127.0.0.1:<forward> with the
    deployment's CA (fetched by the playbook), http://127.0.0.1:<forward> for the redirect."""

    def __init__(self, vm: machine.Machine):
        self.vm = vm
        ca = ROOT / "artifacts" / "fortress" / vm.name / "ca.crt"
        self.client = httpx.Client(verify=str(ca), timeout=30)
        self.base = f"https://127.0.0.1:{vm.ports['https']}"
        secret = vm.secrets()
        self.auth = (secret["vault_gateway_user"], secret["vault_gateway_password"])

    def http(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.vm.ports['http']}{path}", timeout=30)

    def predict(self, auth: bool = True, headers: dict | None = None) -> httpx.Response:
        return self.client.post(
            f"{self.base}/predict",
            json={"sentence": "the VM handoff works"},
            auth=self.auth if auth else None,
            headers=headers,
        )

    def burst(self, count: int) -> list[int]:
        """`count` requests from 8 threads at once; their statuses."""
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: self.predict().status_code, range(count)))

    def wait_until_serving(self, timeout: float) -> float | None:
        """Seconds until /predict answers 200 (None when it does not within `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.predict().status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(2)
        return None


@pytest.fixture(scope="module")
def gateway(vm) -> Gateway:
    return Gateway(vm)


def prometheus_query(vm: machine.Machine, query: str, at: float | None = None, timeout: float = 60):
    """An instant query to the VM's Prometheus (127.0.0.1:9090 inside the VM), over SSH; [] while it
    does not answer (within `timeout`)."""
    params = {"query": query, **({"time": f"{at:.3f}"} if at else {})}
    script = (
        "import sys,urllib.parse,urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:9090/api/v1/query?'"
        f"+urllib.parse.urlencode({params!r}),timeout=20).read().decode())"
    )
    deadline = time.monotonic() + timeout
    while True:
        out = vm.ssh(f'python3 -c "{script}"', check=False, timeout=60)
        if out.returncode == 0:
            return json.loads(out.stdout)["data"]["result"]
        if time.monotonic() > deadline:
            return []
        time.sleep(5)


BOOT_TIMELINE = r"""
cut -d' ' -f1 /proc/uptime | sed 's/^/uptime /'
for unit in containerd docker ssh; do
  echo "$unit active at $(systemctl show -p ActiveEnterTimestampMonotonic --value $unit) us"
done
# dockerd's restore: stale network sandboxes of the containers the shutdown killed, the restarts
sudo journalctl -b -u docker -o short-monotonic --no-pager \
  | grep -E 'Loading containers|Removing stale sandbox|Default bridge|Started docker' | cut -c1-110
sudo docker ps -aq | xargs -r sudo docker inspect \
  -f '{{.Name}} started {{.State.StartedAt}} {{if .State.Health}}{{.State.Health.Status}}{{end}}'
date -u +'now %Y-%m-%dT%H:%M:%S'
"""


def boot_timeline(vm: machine.Machine) -> str:
    """Since boot: when containerd, docker and ssh came up, when each container started, its
    health (for a reboot test's report)."""
    return vm.ssh(BOOT_TIMELINE, check=False, timeout=120).stdout


def playbook(vm: machine.Machine, *args: str, group_vars: dict, log: str) -> dict:
    """ansible-playbook over SSH against the VM (the README's command, this run's inventory); the
    play's results as data (ansible.posix.json), failing the test with the failed tasks."""
    inventory, vault_env = vm.inventory(group_vars)
    env = dict(
        os.environ,
        **vault_env,
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json",
        PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
    )
    cmd = ["ansible-playbook", "-i", str(inventory), "playbooks/site.yml", *args]
    out = vm.dir / f"{log}.json"
    started = time.monotonic()
    with out.open("w") as stdout, (vm.dir / f"{log}.log").open("w") as stderr:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=stdout, stderr=stderr, timeout=2400)
    result = json.loads(out.read_text() or "{}")
    result["seconds"] = time.monotonic() - started
    stats = result.get("stats", {}).get(vm.name, {})
    failed = failed_tasks(result)
    tail = (vm.dir / f"{log}.log").read_text()[-2000:]
    assert proc.returncode == 0 and stats, (
        f"playbook failed (rc {proc.returncode}): {failed}\n{tail}"
    )
    result["recap"] = stats
    return result
