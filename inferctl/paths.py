"""Where things live: the repository, its build folder and the machine-wide cache."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IMAGE_DIR = REPO / "image"
PACKER_DIR = REPO / "packer"
TERRAFORM_DIR = REPO / "terraform"
APP_DIR = REPO / "falcon_app"

# Rendered templates, manifests, reports: per checkout, never committed.
BUILD_DIR = Path(os.environ.get("INFERCTL_BUILD_DIR", REPO / "build"))

# Slow-to-make artefacts (debootstrap rootfs tarballs, base images) are cached per
# machine so a second clone or a CI run right after a session reuses them.
CACHE_DIR = Path(os.environ.get("INFERCTL_CACHE_DIR",
                                Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "inferctl"))

# Runtime state of the local stack (pids, netns names, ports): one place to tear down from.
STATE_DIR = Path(os.environ.get("INFERCTL_STATE_DIR", "/run/inferctl"))


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
