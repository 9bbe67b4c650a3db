#!/usr/bin/env python3
"""Boot-to-healthy: a host from the baked image vs the seed's way (install at first boot).

    .venv/bin/python benchmarks/boot_bench.py [--runs 3] [--image build/local-ami.tar]

Both start from `systemd-nspawn` on the same machine and stop the clock at the first
`GET http://<host>/health` -> 200 from outside the host:
- baked: a snapshot of a host provisioned with the recipe and cleaned (the local AMI; made
  here unless --image names one): systemd starts the pre-pulled, pinned container behind Caddy;
- seed:  the bare Debian 12 host plus a first-boot unit doing what user-data did in the seed:
  apt-get install docker.io, pull the app image from the registry, `docker run -p 80:8000`.
Before each boot the unpacked root filesystem is flushed to disk (os.sync), as an EBS volume
is written before its instance starts: otherwise the first sync inside the boot (dockerd's
overlay check unmounts a test mount, which syncs the filesystem) pays for writing back the
whole just-unpacked image, ~2 s here.
Run as root. Traffic goes only to the hosts' addresses in the project's own namespaces.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inferctl import config  # noqa: E402
from inferctl.health import wait_for_200  # noqa: E402
from inferctl.local import docker, provision, registry  # noqa: E402
from inferctl.local.host import LocalHost, down  # noqa: E402
from inferctl.paths import BUILD_DIR  # noqa: E402

NAME = "inferctl-bench"
TIMEOUT = 600.0

SEED_USER_DATA = """#!/bin/bash
# The seed's user-data: install Docker, pull and start the app, at every new instance's first boot.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends docker.io
mkdir -p /etc/docker
echo '{{"insecure-registries": ["{registry}"]}}' > /etc/docker/daemon.json
systemctl restart docker
docker run -d --restart unless-stopped -p 80:8000 -e API_KEYS={key} {image}
"""

SEED_UNIT = """[Unit]
Description=First boot user-data (the seed's way)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/user-data

[Install]
WantedBy=multi-user.target
"""


def healthy_after(host: LocalHost, started: float) -> float:
    """Seconds from ``started`` to the host's first /health 200 (polled every 50 ms)."""
    if wait_for_200(f"http://{host.address}/health", TIMEOUT - (time.monotonic() - started), interval=0.05).seconds is None:
        raise SystemExit(f"{host.name}: no /health 200 within {TIMEOUT:.0f}s (console: {host.console_log})")
    return time.monotonic() - started


def make_baked_image(tracked: str, pin: str) -> Path:
    tar = BUILD_DIR / "bench-local-ami.tar"
    down(NAME)
    host = LocalHost.create(NAME)
    try:
        host.boot()
        provision.provision(host, tracked, pin, cleanup=True, log=lambda _: None)
        host.snapshot(tar)
    finally:
        host.down()
    return tar


def run_baked(image: Path) -> float:
    down(NAME)
    host = LocalHost.create(NAME, image)
    try:
        os.sync()
        started = time.monotonic()
        host.boot(wait=False)
        return healthy_after(host, started)
    finally:
        host.down()


def run_seed(tracked: str) -> float:
    down(NAME)
    host = LocalHost.create(NAME)
    try:
        root = Path(host.root)
        script = root / "usr/local/sbin/user-data"
        script.write_text(SEED_USER_DATA.format(registry=tracked.split("/")[0], image=tracked,
                                                key=secrets.token_urlsafe(24)))
        script.chmod(0o755)
        (root / "etc/systemd/system/user-data.service").write_text(SEED_UNIT)
        (root / "etc/systemd/system/multi-user.target.wants/user-data.service").symlink_to(
            "/etc/systemd/system/user-data.service")
        os.sync()
        started = time.monotonic()
        host.boot(wait=False)
        return healthy_after(host, started)
    finally:
        host.down()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="boots of each kind (default 1)")
    parser.add_argument("--image", type=Path, help="a baked local image (tarball); default: bake one now")
    args = parser.parse_args()
    docker_was_up = docker.answers()
    try:
        tracked, pin = provision.publish_app(config.load())
        image = args.image or make_baked_image(tracked, pin)
        baked = [run_baked(image) for _ in range(args.runs)]
        seed = [run_seed(tracked) for _ in range(args.runs)]
    finally:  # leave the machine as it was: the registry, its network and a dockerd we started
        registry.stop()
        if not docker_was_up:
            docker.stop_daemon()
    b, s = statistics.median(baked), statistics.median(seed)
    print(f"\nboot to /health 200 (median of {args.runs}; nspawn start -> first 200 via the host address)")
    print(f"{'':8}{'baked image':>14}{'seed (user-data)':>20}")
    print(f"{'seconds':8}{b:>14.2f}{s:>20.2f}")
    print(f"ratio: the baked host is {s / b:.1f}x faster (runs: baked {baked}, seed {seed})")


if __name__ == "__main__":
    main()
