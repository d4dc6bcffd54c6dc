"""The cached VM disk image: debootstrap into a directory, configure it, `mke2fs -d` into an ext4
image, qcow2; the image's own kernel and initrd beside it for direct kernel boot.

No loop device, no mount: everything happens in a directory as root, so this runs wherever
debootstrap does (containers included). The digest of the inputs (this file, the package list, the
suite, the host's apt sources) names the cache directory: a second build reuses it.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("FORTRESS_VM_CACHE", ROOT / ".cache" / "vm"))
SUITE = "bookworm"
DISK_SIZE = "16G"
USER = "ops"
HOSTNAME = "fortress-vm"
# What a minimal Debian cloud VM has. No apparmor: docker_engine must install it (dockerd on a
# systemd host with AppArmor enabled refuses to run containers without it; minimal images lack it).
PACKAGES = [
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "openssh-server",
    "sudo",
    "python3",
    "iproute2",
    "procps",
    "ca-certificates",
]
HOST_SOURCES = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
# Tools the build needs on the host (Debian packages).
HOST_PACKAGES = {
    "debootstrap": "debootstrap",
    "mke2fs": "e2fsprogs",
    "qemu-img": "qemu-utils",
    "qemu-system-x86_64": "qemu-system-x86",
    "ssh-keygen": "openssh-client",
}

# First boot of every VM (and every boot after): host keys of its own (the image has none), the
# per-run key of `ops` from the kernel command line (the stand-in for a cloud's metadata service),
# and the public host keys on the serial console, where the runbook reads them for known_hosts.
FIRSTBOOT = f"""#!/bin/sh
set -eu
ssh-keygen -A
key=$(tr ' ' '\\n' < /proc/cmdline | sed -n 's/^fortress.ssh_key=//p')
if [ -n "$key" ]; then
    install -d -m 0700 -o {USER} -g {USER} /home/{USER}/.ssh
    printf '%s\\n' "$key" | base64 -d > /home/{USER}/.ssh/authorized_keys
    chown {USER}:{USER} /home/{USER}/.ssh/authorized_keys
    chmod 0600 /home/{USER}/.ssh/authorized_keys
fi
echo "-----BEGIN SSH HOST KEY KEYS-----"
cat /etc/ssh/ssh_host_*_key.pub
echo "-----END SSH HOST KEY KEYS-----"
"""
FIRSTBOOT_UNIT = """[Unit]
Description=Fortress VM: host keys, the ops user's key, host keys on the console
Before=ssh.service
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/fortress-firstboot
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
"""
NETWORK = """[Match]
Name=en*

[Network]
DHCP=ipv4
"""


def log(msg: str) -> None:
    print(f"[vm {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def ensure_host_tools() -> None:
    """Install the Debian packages the build and the runner need (once)."""
    missing = sorted({pkg for tool, pkg in HOST_PACKAGES.items() if not shutil.which(tool)})
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        quiet = {"env": env, "stdout": subprocess.DEVNULL}
        run(["apt-get", "update", "-qq"], **quiet)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], **quiet)


def host_sources() -> dict[str, str]:
    """The host's apt sources (the VM reaches the same mirrors through QEMU's user network)."""
    return {str(p): p.read_text() for p in HOST_SOURCES if p.is_file()}


def release_mirror(sources: dict[str, str]) -> str:
    """The first non-security mirror URL of the host's apt sources."""
    for text in sources.values():
        for line in text.splitlines():
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            urls = [w for w in words if w.startswith(("http://", "https://"))]
            if urls and "security" not in urls[0]:
                return urls[0]
    raise SystemExit("no Debian mirror in the host's apt sources (/etc/apt/sources.list*)")


def digest() -> str:
    """Of what ends up in the image: packages, suite, size, the configuration code and files, and
    the host's apt sources (not of the rest of this file: a log line does not rebuild the image)."""
    parts = [SUITE, DISK_SIZE, USER, HOSTNAME, *PACKAGES, FIRSTBOOT, FIRSTBOOT_UNIT, NETWORK]
    h = hashlib.sha256("\0".join([*parts, inspect.getsource(configure)]).encode())
    for path, text in sorted(host_sources().items()):
        h.update(f"{path}\0{text}".encode())
    return h.hexdigest()[:16]


def configure(rootfs: Path, sources: dict[str, str]) -> None:
    """Turn the debootstrapped directory into a VM's root file system."""

    def write(rel: str, text: str, mode: int = 0o644) -> None:
        path = rootfs / rel.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    def chroot(*cmd: str) -> None:
        run(["chroot", str(rootfs), *cmd], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

    write("/etc/hostname", f"{HOSTNAME}\n")
    write("/etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n")
    write("/etc/fstab", "/dev/vda / ext4 defaults,errors=remount-ro 0 1\n")
    # QEMU's user network: DHCP, and its DNS forwarder (resolved is not in a minimal image).
    write("/etc/systemd/network/80-dhcp.network", NETWORK)
    write("/etc/resolv.conf", "nameserver 10.0.2.3\n")
    # The host's apt sources, as a VM built from the same mirrors would have them.
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    for path, text in sources.items():
        write(path, text)
    write("/usr/local/sbin/fortress-firstboot", FIRSTBOOT, 0o755)
    write("/etc/systemd/system/fortress-firstboot.service", FIRSTBOOT_UNIT)
    chroot("useradd", "--create-home", "--shell", "/bin/bash", "--groups", "sudo", USER)
    write(f"/etc/sudoers.d/{USER}", f"{USER} ALL=(ALL) NOPASSWD:ALL\n", 0o440)
    chroot("systemctl", "enable", "systemd-networkd.service", "fortress-firstboot.service")
    # Host keys are made at each VM's first boot, never shared through the cached image.
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (rootfs / "etc/machine-id").write_text("")  # systemd makes one per VM
    shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True)


def build(force: bool = False) -> Path:
    """The image directory (disk.qcow2, vmlinuz, initrd.img), built unless cached."""
    ensure_host_tools()
    out = CACHE / digest()
    if (out / "disk.qcow2").exists() and not force:
        log(f"image cached: {out}")
        return out
    started = time.monotonic()
    work = CACHE / f"{out.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    sources = host_sources()
    mirror = release_mirror(sources)
    log(f"debootstrap {SUITE} into {rootfs}")
    run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs),
         mirror], stdout=subprocess.DEVNULL)  # fmt: skip
    configure(rootfs, sources)
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    initrds = sorted((rootfs / "boot").glob("initrd.img-*"))
    if not kernels or not initrds:
        raise SystemExit(f"no kernel or initrd in {rootfs / 'boot'}")
    shutil.copy(kernels[-1], work / "vmlinuz")
    shutil.copy(initrds[-1], work / "initrd.img")
    raw = work / "disk.raw"
    log(f"mke2fs -d ({DISK_SIZE}) and qemu-img convert")
    run(
        [
            "mke2fs",
            "-q",
            "-t",
            "ext4",
            "-L",
            "fortress-root",
            "-d",
            str(rootfs),
            str(raw),
            DISK_SIZE,
        ]
    )
    run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(work / "disk.qcow2")])
    raw.unlink()
    shutil.rmtree(rootfs)
    shutil.rmtree(out, ignore_errors=True)
    work.rename(out)
    log(f"image built in {time.monotonic() - started:.0f} s: {out}")
    return out
