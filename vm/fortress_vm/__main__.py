"""python -m fortress_vm build | up [NAME] [--air-gapped] | down [NAME] | ssh [NAME] [COMMAND]"""

from __future__ import annotations

import sys

from . import image, machine


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"build", "up", "down", "ssh"}:
        print(__doc__)
        return 2
    verb, name = argv[0], (argv[1] if len(argv) > 1 else "fortress-vm")
    if verb == "build":
        print(image.build(force="--force" in argv))
    elif verb == "up":
        vm = machine.Machine(name=name, air_gapped="--air-gapped" in argv)
        vm.create(image.build())
        seconds = vm.wait_ssh()
        inventory, env = vm.inventory()
        image.log(f"{name}: SSH after {seconds:.0f} s; inventory {inventory} ({env})")
    elif verb == "down":
        machine.load(name).destroy()
    else:
        vm = machine.load(name)
        return vm.ssh(" ".join(argv[2:]) or "true", check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
