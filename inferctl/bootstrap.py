"""Set up a fresh machine of this kind: host packages and the project's venv.

Stdlib only, so it runs with the system Python before anything is installed:
    python3 -m inferctl.bootstrap
It is idempotent and quick when everything is already there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"

# Debian packages the local stack and the test tiers use (the images install their own).
HOST_PACKAGES = [
    "ca-certificates", "git", "iproute2", "iptables", "openssh-client", "socat", "curl",
    "debootstrap", "systemd-container",      # the local EC2-like host
    "docker.io", "docker-registry",          # app image builds and the local registry
    "packer",                                # bake --local (1.6.6)
    "shellcheck", "wrk",                     # lint and benchmarks
    "caddy",                                 # the hosts' Caddyfile, adapted and run by the unit tier
]


def missing_packages(packages: list[str]) -> list[str]:
    missing = []
    for pkg in packages:
        probe = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg],
                               capture_output=True, text=True)
        if "install ok installed" not in probe.stdout:
            missing.append(pkg)
    return missing


def install_packages() -> None:
    missing = missing_packages(HOST_PACKAGES)
    if not missing:
        print("bootstrap: host packages present", flush=True)
        return
    if os.geteuid() != 0:
        sys.exit(f"bootstrap: missing packages {' '.join(missing)}; run as root or: "
                 f"sudo apt-get install -y {' '.join(missing)}")
    print(f"bootstrap: apt-get install {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                   check=True, env=env)


def install_venv() -> None:
    if not (VENV / "bin" / "python").exists():
        print(f"bootstrap: creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".installed-from"
    pyproject = (REPO / "pyproject.toml").read_text()
    if stamp.exists() and stamp.read_text() == pyproject:
        print("bootstrap: python dependencies present", flush=True)
        return
    print("bootstrap: pip install -e .[dev]", flush=True)
    subprocess.run([VENV / "bin" / "pip", "install", "-q", "-e", f"{REPO}[dev]"], check=True)
    stamp.write_text(pyproject)


def main() -> None:
    if shutil.which("dpkg-query") is None:
        sys.exit("bootstrap: this setup expects a Debian/Ubuntu machine (dpkg-query not found)")
    install_packages()
    install_venv()
    print(f"bootstrap: ready; run tasks with {VENV / 'bin' / 'invoke'}", flush=True)


if __name__ == "__main__":
    main()
