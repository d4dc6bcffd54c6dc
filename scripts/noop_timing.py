"""Time a no-change run of playbooks/site.yml for several git refs, side by side, in one run.

For each ref: a worktree of that ref converges the local inventory (absorbing any difference left
by the previous ref), then a second converge (the no-op run) and `--check --diff` are timed.
`changed` comes from the ansible.posix.json stdout callback (results as data). Usage:

    python scripts/noop_timing.py BEFORE_REF [AFTER_REF ...] [--inventory inventory/local]

A ref may end in `@linear` to run it with FORTRESS_STRATEGY=linear (Ansible's plain linear strategy
instead of the Mitogen-accelerated one), e.g. `966e74c HEAD@linear HEAD`. WORKTREE is this checkout
as it is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def worktree(ref: str) -> Path:
    """A detached worktree of `ref` sharing this checkout's venv, wheel cache and artifacts."""
    if ref in ("WORKTREE", "."):
        return REPO
    path = Path("/tmp") / f"fortress-noop-{ref.replace('/', '_')}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=REPO, check=True)
    for shared in (".venv", ".cache", "artifacts"):
        link = path / shared
        if not link.exists():
            (REPO / shared).mkdir(exist_ok=True)
            link.symlink_to(REPO / shared)
    return path


def play(tree: Path, inventory: str, strategy: str, *extra: str) -> tuple[float, dict[str, int]]:
    """Run site.yml from `tree`; return the wall time and the summed per-host stats."""
    env = dict(os.environ, FORTRESS_STRATEGY=strategy)
    env.update(
        ANSIBLE_CONFIG=str(tree / "ansible.cfg"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        # Not empty (ansible refuses an empty name), and no profile_tasks lines in the JSON.
        ANSIBLE_CALLBACKS_ENABLED="ansible.posix.json",
        ANSIBLE_FORCE_COLOR="0",
    )
    argv = [str(REPO / ".venv/bin/ansible-playbook"), "-i", inventory, "playbooks/site.yml", *extra]
    start = time.monotonic()
    done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - start
    if done.returncode != 0:
        what = " ".join(extra) or "converge"
        sys.exit(
            f"{tree}: {what} failed (rc {done.returncode}):\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    stats = json.loads(done.stdout)["stats"]
    keys = ("ok", "changed", "failures", "skipped")
    return elapsed, {k: sum(h.get(k, 0) for h in stats.values()) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("refs", nargs="+", help="git refs, optionally REF@linear")
    parser.add_argument("--inventory", default="inventory/local")
    args = parser.parse_args()
    rows = []
    for ref in args.refs:
        name, _, strategy = ref.partition("@")
        tree = worktree(name)
        strategy = strategy or "mitogen"
        play(tree, args.inventory, strategy)  # converge: absorb what the previous ref left
        noop = play(tree, args.inventory, strategy)
        check = play(tree, args.inventory, strategy, "--check", "--diff")
        rows.append((ref, noop, check))
        print(
            f"{ref}: no-op {noop[0]:.1f} s {noop[1]}, check --diff {check[0]:.1f} s {check[1]}",
            flush=True,
        )
    print("\n| ref | no-op converge | tasks ok | changed | `--check --diff` | changed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for ref, (nt, ns), (ct, cs) in rows:
        print(
            f"| {ref} | {nt:.1f} s | {ns['ok']} | {ns['changed']} | {ct:.1f} s | {cs['changed']} |"
        )
    if len(rows) > 1:
        base = rows[0]
        for ref, (nt, _), (ct, _) in rows[1:]:
            ratio_noop, ratio_check = base[1][0] / nt, base[2][0] / ct
            print(
                f"\n{ref} vs {base[0]}: no-op x{ratio_noop:.2f} faster,"
                f" check x{ratio_check:.2f} faster"
            )


if __name__ == "__main__":
    main()
