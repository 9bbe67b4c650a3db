"""Provision a local host with the image recipe, the way the bake does on EC2, minus Packer.

The app image goes to the local registry first (the stand-in for ECR), so the host's pre-pull
takes the same path as on AWS: ``docker pull <registry>/<repo>:<tag>``, then pinned by digest.
``invoke bake --local`` runs the same scripts through Packer over SSH; this is the quick path
the host tier and ``invoke local.host-up`` use.
"""

from __future__ import annotations

import shlex
import time

from .. import app_image
from ..bake.recipe import REMOTE_IMAGE_DIR, provision_steps, recipe_env
from ..config import Config
from ..paths import IMAGE_DIR
from . import registry
from .host import LocalHost

APP_BUILD_TAG = "inference:dev"


def publish_app(cfg: Config, tag: str | None = None) -> tuple[str, str]:
    """Build the app image and push it to the local registry as <repository>:<tag>.

    Returns (tracked reference, digest-pinned reference).
    """
    built = app_image.build_for(cfg, APP_BUILD_TAG)
    tag = tag or cfg.app.tag
    pinned = registry.push(built.ref, cfg.app.repository, tag)
    return f"{registry.ADDRESS}/{cfg.app.repository}:{tag}", pinned


def provision(host: LocalHost, tracked: str, pin: str, *, cleanup: bool = False,
              log=print) -> dict[str, float]:
    """Run the recipe on a booted host (and, with ``cleanup``, the cleanup and its check).

    Returns seconds per step. A failing step raises UserError with its last output lines.
    """
    host.copy_in(IMAGE_DIR, REMOTE_IMAGE_DIR)
    recipe, final = provision_steps()
    return _run(host, recipe + (final if cleanup else []), recipe_env(tracked, pin, registry.ADDRESS), log)


def cleanup(host: LocalHost, tracked: str, pin: str = "", log=print) -> dict[str, float]:
    """Only the recipe's cleanup and leftover check (after ``provision`` and the bake-phase spec)."""
    _, final = provision_steps()
    return _run(host, final, recipe_env(tracked, pin, registry.ADDRESS), log)


def _run(host: LocalHost, commands: list[str], env: dict[str, str], log) -> dict[str, float]:
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    timings = {}
    for command in commands:
        step = command.rsplit("/", 1)[1]
        started = time.monotonic()
        host.exec(f"{prefix} {command}", timeout=1200)
        timings[step] = time.monotonic() - started
        log(f"provision: {step} done in {timings[step]:.1f}s")
    return timings
