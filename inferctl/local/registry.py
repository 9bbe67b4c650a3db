"""The local container registry: the stand-in for ECR.

Debian's ``docker-registry`` (distribution v2) on 10.99.0.1:5000, the host side of the local
network, so both this machine and the guests pull from the same address. Plain HTTP, auth off
(Debian's default config turns htpasswd on, which answers 401 to everything); the host
dockerd trusts it through ``--insecure-registry`` (see inferctl.local.docker), a guest's
dockerd through its daemon.json. Blobs live under CACHE_DIR, so a push survives a restart.

The registry is shared: every process that starts or pushes registers as a user (its pid under
STATE_DIR/registry-users), and ``stop()`` leaves the registry running while another live process
uses it (``force=True`` stops it anyway: ``local.registry-stop``, ``host-down --all``).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import UserError
from ..paths import CACHE_DIR, STATE_DIR, ensure
from ..shell import output, require, run
from . import docker, netns
from .daemon import Daemon

ADDRESS = docker.LOCAL_REGISTRY
PIDFILE = STATE_DIR / "registry.pid"
LOGFILE = STATE_DIR / "registry.log"
CONFIG = STATE_DIR / "registry.yml"
STORAGE = CACHE_DIR / "registry"
USERS = STATE_DIR / "registry-users"
START_TIMEOUT = 20.0

CONFIG_TEXT = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {address}
"""


def is_up(timeout: float = 2.0) -> bool:
    """True when the registry answers the v2 API with 200 (so auth is really off)."""
    try:
        with urllib.request.urlopen(f"http://{ADDRESS}/v2/", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


DAEMON = Daemon("docker-registry", PIDFILE, LOGFILE,
                lambda pid: Path(f"/proc/{pid}/comm").read_text().strip().startswith("docker-registr"))


def _register() -> None:
    ensure(USERS).joinpath(str(os.getpid())).touch()


def _other_users() -> list[int]:
    """Live processes other than this one that use the registry (stale entries are dropped)."""
    others = []
    for entry in USERS.glob("*") if USERS.exists() else []:
        pid = int(entry.name) if entry.name.isdigit() else 0
        if pid == os.getpid():
            continue
        if pid and Path(f"/proc/{pid}").exists():
            others.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return others


def start() -> None:
    """Start the registry (and the network it listens on) unless it already answers."""
    netns.hold("registry")
    _register()
    if is_up():
        return
    if DAEMON.pid() is not None:
        raise UserError(f"docker-registry (pid {DAEMON.pid()}) runs but does not answer on {ADDRESS}",
                        hint=f"see {LOGFILE}; or run: invoke local.registry-stop")
    binary = require("docker-registry")
    ensure(STATE_DIR)
    CONFIG.write_text(CONFIG_TEXT.format(storage=ensure(STORAGE), address=ADDRESS))
    DAEMON.start([binary, "serve", str(CONFIG)], is_up, START_TIMEOUT)


def stop(force: bool = False) -> bool:
    """Stop the registry unless another live process uses it (``force``: regardless); True if stopped.

    The network goes too if nothing else uses it.
    """
    (USERS / str(os.getpid())).unlink(missing_ok=True)
    if not force and _other_users():
        return False
    DAEMON.stop()
    for entry in USERS.glob("*") if USERS.exists() else []:
        entry.unlink(missing_ok=True)
    netns.unhold("registry")
    netns.teardown_if_idle()
    return True


def push(local_image_ref: str, name: str, tag: str) -> str:
    """Push a local image as ``<registry>/<name>:<tag>``; return the digest reference
    ``10.99.0.1:5000/<name>@sha256:...`` (what the hosts pin)."""
    start()  # also registers this process as a user
    docker.ensure_daemon()
    target = f"{ADDRESS}/{name}:{tag}"
    run(["docker", "tag", local_image_ref, target], capture=True)
    run(["docker", "push", "--quiet", target], capture=True)
    digests = output(["docker", "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}",
                      target]).split()
    mine = [d for d in digests if d.startswith(f"{ADDRESS}/{name}@sha256:")]
    if not mine:
        raise UserError(f"pushed {target} but docker reports no digest for it ({digests})")
    return mine[0]


MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json"])


def digest(repository: str, tag: str) -> str | None:
    """The digest the registry holds for repository:tag (a HEAD request, as ECR's lookup on AWS:
    what is published, nothing is built); None when the tag is absent."""
    start()
    request = urllib.request.Request(f"http://{ADDRESS}/v2/{repository}/manifests/{tag}", method="HEAD",
                                     headers={"Accept": MANIFEST_TYPES})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise UserError(f"local registry {ADDRESS}: HEAD {repository}:{tag} -> {exc.code}") from None


def catalog() -> list[str]:
    """Repository names in the registry (a quick check that pushes landed)."""
    with urllib.request.urlopen(f"http://{ADDRESS}/v2/_catalog", timeout=5) as resp:
        return json.load(resp)["repositories"]
