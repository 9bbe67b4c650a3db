"""Cached debootstrap root filesystems: the local stand-ins for base AMIs and base images.

Making one takes ~90 s, so each is made once per machine and kept as a tarball in the
cache, keyed by suite, variant and package list; unpacking takes about a second.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from ..errors import UserError
from ..paths import CACHE_DIR, ensure
from ..shell import log_tail, require, run, run_with_heartbeat

DEFAULT_MIRROR = "http://deb.debian.org/debian"
APT_SOURCES = [Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")]


def configured_mirror() -> str:
    """The Debian mirror this machine's apt uses (so a proxy or local mirror is honoured)."""
    for source in APT_SOURCES:
        if not source.exists():
            continue
        text = source.read_text()
        deb822 = re.search(r"^URIs:\s*(\S+/debian)\s*$", text, re.M)
        oneline = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+/debian)\s+\S+", text, re.M)
        match = deb822 or oneline
        if match:
            return match.group(1)
    return DEFAULT_MIRROR


def rootfs_tar(name: str, packages: list[str], *, suite: str = "bookworm",
               variant: str = "minbase", mirror: str | None = None) -> Path:
    """Return a cached tarball of a debootstrapped rootfs, making it on first use."""
    mirror = mirror or configured_mirror()
    key = hashlib.sha256(f"{suite}|{variant}|{','.join(sorted(packages))}".encode()).hexdigest()[:12]
    tar = ensure(CACHE_DIR / "rootfs") / f"{name}-{suite}-{key}.tar"
    if tar.exists():
        return tar
    require("debootstrap")
    print(f"rootfs: debootstrap {suite} ({variant}, {len(packages)} extra packages) from {mirror}; "
          "about 90 s, cached afterwards", flush=True)
    log = tar.with_suffix(".log")
    with tempfile.TemporaryDirectory(prefix=f"rootfs-{name}-", dir=tar.parent) as tmp:
        root = Path(tmp) / "root"
        code = run_with_heartbeat(["debootstrap", f"--variant={variant}", f"--include={','.join(packages)}",
                                   suite, root, mirror], log, label=f"rootfs: debootstrap {suite}")
        if code != 0:
            raise UserError(f"debootstrap of {suite} from {mirror} failed (exit {code}): {log_tail(log)}",
                            hint=f"check the Debian mirror is reachable (apt-get update works?); full log: {log}")
        partial = tar.with_suffix(".partial")
        run(["tar", "-C", root, "--numeric-owner", "-cf", partial, "."])
        partial.rename(tar)
    return tar


def unpack(tar: Path, dest: Path) -> Path:
    """Unpack a rootfs tarball into an empty (or new) directory."""
    if dest.exists():
        shutil.rmtree(dest)
    ensure(dest)
    run(["tar", "-C", dest, "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", tar])
    return dest
