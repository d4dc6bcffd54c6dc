"""Real virtual machines for the VM handoff rehearsal (issue 12): a cached Debian 12 disk image that
looks like a cloud VM (systemd, openssh-server, sudo, python3, a user `ops` with passwordless sudo
and a per-run SSH key), booted under QEMU as throw-away overlays reached only through port forwards
on 127.0.0.1.

    python -m fortress_vm build            # the cached image (.cache/vm/<digest>/)
    python -m fortress_vm up [NAME]        # boot an overlay, wait for SSH, write its inventory
    python -m fortress_vm down [NAME]      # power it off and remove the overlay
"""
