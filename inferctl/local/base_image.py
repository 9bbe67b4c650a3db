"""A local Python base image made without Docker Hub: debootstrap + `docker import`.

Docker Hub is unreachable here, so `python:3.11-slim` cannot be pulled. Debian
bookworm's python3 is 3.11 too, so a minbase rootfs with python3 and python3-venv
(the venv module the Dockerfile's builder stage uses) stands in for it. Docs, man
pages, locales and apt lists are dropped before import to keep the image small.
The image is labelled with the rootfs it came from and rebuilt only when that changes.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..paths import CACHE_DIR, ensure
from ..shell import output, require, run
from .docker import ensure_daemon
from .rootfs import rootfs_tar, unpack

TAG = "inferctl/python:3.11-bookworm"
PACKAGES = ["python3", "python3-venv"]
SOURCE_LABEL = "io.inferctl.rootfs"
# Paths (relative to the rootfs) nobody needs at run time.
TRIM = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
        "var/cache/apt", "var/lib/apt/lists", "var/log", "usr/share/lintian"]
CHANGES = ["ENV LANG=C.UTF-8", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           'CMD ["python3"]']


def _label_of(tag: str) -> str | None:
    probe = subprocess.run([require("docker"), "image", "inspect", "--format",
                            f'{{{{index .Config.Labels "{SOURCE_LABEL}"}}}}', tag],
                           capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_base_image(tag: str = TAG) -> str:
    """Return the tag of the local base image, building it on first use (~90 s cold)."""
    ensure_daemon()
    tar = rootfs_tar("python", PACKAGES)
    if _label_of(tag) == tar.name:
        return tag
    print(f"base image: importing {tar.name} as {tag}", flush=True)
    with tempfile.TemporaryDirectory(prefix="base-image-", dir=ensure(CACHE_DIR)) as tmp:
        root = unpack(tar, Path(tmp) / "root")
        for rel in TRIM:
            run(["rm", "-rf", root / rel])
        (root / "var/log").mkdir()
        changes = [*CHANGES, f"LABEL {SOURCE_LABEL}={tar.name}"]
        trimmed = Path(tmp) / "trimmed.tar"
        run(["tar", "-C", root, "--numeric-owner", "-cf", trimmed, "."])
        run(["docker", "import", *[arg for c in changes for arg in ("--change", c)], trimmed, tag],
            capture=True)
    version = output(["docker", "run", "--rm", "--network", "none", tag, "python3", "-V"])
    print(f"base image: {tag} ready ({version})", flush=True)
    return tag
