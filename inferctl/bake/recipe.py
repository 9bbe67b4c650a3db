"""What goes into an image: the recipe's files, their hash, the provisioning order, the git revision.

The recipe hash covers every file that changes the image (image/ and packer/, which include the
package lists and the provisioning scripts); caches and editor droppings are ignored, paths are
sorted, so the same tree gives the same hash on every machine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import UserError
from ..paths import IMAGE_DIR, PACKER_DIR, REPO
from ..shell import run

RECIPE_DIRS = (IMAGE_DIR, PACKER_DIR)
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".cache"}
IGNORED_SUFFIXES = (".pyc", ".pyo", ".swp", "~", ".orig", ".rej")

REMOTE_IMAGE_DIR = "/tmp/image"
PROVISION_DIR = "provision"


def recipe_files(roots: tuple[Path, ...] = RECIPE_DIRS) -> list[Path]:
    """Every file that affects the image, sorted by path relative to the repo."""
    files = []
    for root in roots:
        for path in root.rglob("*"):
            rel = path.relative_to(root)
            if (path.is_dir() or IGNORED_PARTS.intersection(rel.parts) or path.name.endswith(IGNORED_SUFFIXES)):
                continue
            files.append(path)
    return sorted(files, key=lambda p: p.relative_to(REPO).as_posix())


def recipe_hash(roots: tuple[Path, ...] = RECIPE_DIRS) -> str:
    """sha256 over (path, executable bit, content) of every recipe file; first 16 hex digits."""
    digest = hashlib.sha256()
    for path in recipe_files(roots):
        mode = "x" if path.stat().st_mode & 0o111 else "-"
        digest.update(f"{path.relative_to(REPO).as_posix()}\0{mode}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def provision_steps(image_dir: Path = IMAGE_DIR) -> tuple[list[str], list[str]]:
    """Remote commands for the recipe and for cleanup, from image/provision/ in name order.

    The scripts run in order; the one named *cleanup* and everything after it (the leftover
    state check) run only after the testinfra suite has passed.
    """
    scripts = sorted(p.name for p in (image_dir / PROVISION_DIR).glob("*.sh"))
    if not scripts:
        raise UserError(f"no provisioning scripts in {image_dir / PROVISION_DIR}",
                        hint="the image recipe (image/provision/*.sh) is missing from this checkout")
    cleanup_at = next((i for i, name in enumerate(scripts) if "cleanup" in name), None)
    if cleanup_at is None:
        raise UserError(f"no cleanup script in {image_dir / PROVISION_DIR}",
                        hint="the recipe must end with a *cleanup*.sh script")
    command = [f"bash {REMOTE_IMAGE_DIR}/{PROVISION_DIR}/{name}" for name in scripts]
    return command[:cleanup_at], command[cleanup_at:]


def recipe_env(tracked: str, pinned: str, insecure_registry: str = "") -> dict[str, str]:
    """The recipe's inputs (see image/provision/lib.bash): the tag hosts track, the digest-pinned
    image to pre-pull, and (local only) the plain-HTTP registry."""
    env = {"INFERENCE_IMAGE": tracked, "INFERENCE_PIN": pinned}
    if insecure_registry:
        env["INSECURE_REGISTRY"] = insecure_registry
    return env


def git_revision(repo: Path = REPO) -> tuple[str, bool]:
    """(HEAD commit, dirty?) of the checkout, untracked files included; ("unknown", True) outside git."""
    head = run(["git", "-C", repo, "rev-parse", "HEAD"], capture=True, check=False)
    status = run(["git", "-C", repo, "status", "--porcelain"], capture=True, check=False)
    if head.returncode or status.returncode:
        return "unknown", True
    return head.stdout.strip(), bool(status.stdout.strip())
