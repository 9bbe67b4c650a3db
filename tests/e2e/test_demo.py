"""The README's main command, end to end, as a new user runs it: `invoke demo`, then `--down`.

Drives the real CLI in a subprocess. The stack is taken down in a finalizer even when a check
fails, and the last test proves `--down` left no process, namespace, veth, NAT rule or mount.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke"]
DEMO_TIMEOUT = 25 * 60
LEFTOVER_PROCESSES = ("systemd-nspawn", "moto_server", "docker-registry", "containerd-shim")


def invoke(*args: str, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run([*INVOKE, *args], cwd=REPO, text=True, capture_output=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc


def processes() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        exe = os.path.basename(argv[0].decode(errors="replace"))
        if any(exe.startswith(p) for p in LEFTOVER_PROCESSES) or (
                exe.startswith("python") and any(b"moto_server" in a for a in argv)):
            found.append(f"{cmdline.parent.name}: {b' '.join(argv).decode(errors='replace')[:120]}")
    return found


@pytest.fixture(scope="module")
def demo():
    if os.geteuid() != 0:
        pytest.fail("the e2e tier needs root (network namespaces, systemd-nspawn)")
    try:
        proc = invoke("demo", timeout=DEMO_TIMEOUT)
        assert proc.returncode == 0, f"invoke demo failed:\n{proc.stderr[-2000:]}"
        yield proc.stdout
    finally:
        down = invoke("demo", "--down", timeout=300)
        assert down.returncode == 0, f"invoke demo --down failed:\n{down.stderr[-2000:]}"


def test_every_stage_reports_its_time(demo):
    for stage in ("prerequisites", "local AWS endpoint", "bake a local AMI", "terraform apply",
                  "boot the instance", "verify", "promote"):
        assert re.search(rf"^\[demo\] {re.escape(stage)}.*: done in \d+\.\ds$", demo, re.M), f"no timing for {stage}"


def test_the_printed_url_serves_the_model(demo):
    url = re.search(r"The service: (http://\S+)", demo).group(1)
    with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
        assert resp.status == 200
    key = re.search(r"Authorization: Bearer (\S+)'", demo).group(1)
    request = urllib.request.Request(f"{url}/api/infer", data=json.dumps({"instances": [[5.1, 3.5, 1.4, 0.2]]}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        body = json.load(resp)
    assert resp.status == 200 and body["predictions"][0]["label"] == "setosa", body


def test_verify_passed_and_the_ami_was_promoted(demo):
    assert "VERIFIED" in demo
    assert re.search(r"promote: /\S+/ami/latest -> ami-[0-9a-f]+", demo)


def test_down_leaves_nothing_behind(demo):
    down = invoke("demo", "--down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert processes() == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert "inferctl" not in netns, netns
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not re.search(r"\binf-(br0|v\d+)\b", links), links
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    rules += subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True).stdout
    assert "10.99.0.0/24" not in rules, rules
    mounts = Path("/proc/mounts").read_text()
    assert "/inferctl/hosts/" not in mounts, mounts
