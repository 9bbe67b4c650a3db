"""Last: `invoke demo --down` leaves nothing behind (no process, namespace, veth, NAT rule,
instance route or mount)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from e2e_cli import invoke

LEFTOVER_PROCESSES = ("systemd-nspawn", "docker-registry", "containerd-shim")


def processes() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        exe = os.path.basename(argv[0].decode(errors="replace"))
        if any(exe.startswith(p) for p in LEFTOVER_PROCESSES) or (
                exe.startswith("python") and any(b"inferctl.region.server" in a for a in argv)):
            found.append(f"{cmdline.parent.name}: {b' '.join(argv).decode(errors='replace')[:120]}")
    return found


def test_down_leaves_nothing_behind(demo):
    down = invoke("demo", "--down", timeout=600)
    assert down.returncode == 0, down.stderr
    assert processes() == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "inferctl" not in netns and not re.search(r"\bi-[0-9a-f]+\b", netns), netns
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not re.search(r"\binf-(br0|v\d+)\b", links), links
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "inf-br0" not in routes and "unreachable" not in routes, routes
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    rules += subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    assert "10.99.0.0/24" not in rules, rules
    mounts = Path("/proc/mounts").read_text()
    assert "/inferctl/hosts/" not in mounts, mounts
