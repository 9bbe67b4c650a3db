"""A local host set up to exercise the on-host updater: app variants, a tracked tag, runs.

Shared by tests/host/test_updater.py and benchmarks/update_bench.py:
- ``variant``: a tiny image derived from the app image, reporting its own version in GET /,
  or broken (its process exits at once, so /health never answers), or broken only in its
  inference path (/health answers, every POST /api/infer fails);
- ``updater_host``: a LocalHost provisioned with the image recipe, tracking its own tag in the
  local registry (so pushes here never move the tag other hosts track), with the updater's timer
  stopped so only the caller triggers updates;
- ``run_updater`` / ``run_as_timer``: the updater inside the guest (JSON lines parsed), or its
  timer's service.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..errors import UserError
from ..shell import require
from . import host as local_host
from . import provision, registry
from .host import LocalHost

REPOSITORY = "inference"
BROKEN_CMD = '["python3", "-c", "raise SystemExit(\'this build is broken on purpose\')"]'
# The model's predictions raise (a build whose model or inference code is broken): the process
# and /health are fine, POST /api/infer answers 500.
BROKEN_INFERENCE = ["USER root",
                    "RUN printf '\\nSoftmaxPredictor.predict_proba = lambda self, rows: 1 / 0\\n'"
                    " >> /app/falcon_app/model/softmax.py",
                    "USER 10001:10001"]
# An iris row and the label the built-in model gives it (falcon_app/model/iris_known_answers.json).
EXAMPLE_ROW, EXAMPLE_LABEL = [5.1, 3.5, 1.4, 0.2], "setosa"


def variant(version: str, *, broken: bool = False, broken_inference: bool = False, layer: bool = False,
            base: str = provision.APP_BUILD_TAG) -> str:
    """Build ``inference-variant:<version>`` FROM the app image; returns the local tag. ``layer``
    adds a filesystem layer of its own (otherwise a pull of it fetches only a new config)."""
    lines = [f"FROM {base}", f"ENV APP_VERSION={version}"]
    if layer:
        lines.append(f"RUN echo {version} > /tmp/variant-layer")
    if broken:
        lines.append(f"CMD {BROKEN_CMD}")
    if broken_inference:
        lines += BROKEN_INFERENCE
    tag = f"inference-variant:{version}"
    proc = subprocess.run([require("docker"), "build", "--quiet", "-t", tag, "-"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))
    if proc.returncode:
        raise UserError(f"building variant {tag} failed: {proc.stderr.strip()[-300:]}")
    return tag


def push(local_tag: str, tag: str) -> str:
    """Push to the local registry as inference:<tag>; return the pinned repo@sha256 reference."""
    return registry.push(local_tag, REPOSITORY, tag)


def tracked(tag: str) -> str:
    return f"{registry.ADDRESS}/{REPOSITORY}:{tag}"


def updater_host(name: str, tag: str, first_image: str) -> LocalHost:
    """A fresh provisioned host tracking inference:<tag>, which first points at ``first_image``."""
    pinned = push(first_image, tag)
    local_host.down(name)
    host = LocalHost.create(name)
    try:
        host.boot()
        provision.provision(host, tracked(tag), pinned, log=lambda line: None)
        host.exec(["systemctl", "stop", "inference-update.timer"])  # only the caller triggers updates
    except BaseException:
        host.down()
        raise
    return host


@dataclass
class Run:
    code: int
    records: list[dict]
    seconds: float
    stderr: str

    @property
    def events(self) -> list[str]:
        return [r["event"] for r in self.records]

    def last(self) -> dict:
        return self.records[-1] if self.records else {}


def _parse(proc: subprocess.CompletedProcess, seconds: float) -> Run:
    records = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return Run(proc.returncode, records, seconds, proc.stderr)


def run_updater(host: LocalHost, *args: str, timeout: float = 600, env: dict[str, str] | None = None) -> Run:
    """``inference-update ARGS`` inside the guest (``env`` added to its environment); JSON lines
    parsed, wall time measured."""
    started = time.monotonic()
    prefix = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
    proc = host.exec([*prefix, "/usr/local/sbin/inference-update", *args], check=False, timeout=timeout)
    return _parse(proc, time.monotonic() - started)


def timer_schedule(host: LocalHost) -> str:
    """The updater timer's calendar as systemd has loaded it (after the drop-in)."""
    return host.exec(["systemctl", "show", "inference-update.timer", "-p", "TimersCalendar",
                      "--value"]).stdout.strip()


def run_as_timer(host: LocalHost, timeout: float = 600) -> Run:
    """Trigger the run exactly as the timer would: its service, in systemd's environment."""
    started = time.monotonic()
    proc = host.exec(["systemctl", "start", "inference-update.service"], check=False, timeout=timeout)
    return Run(proc.returncode, [], time.monotonic() - started, proc.stderr)


def api_key(host: LocalHost) -> str:
    """The host's own API key (made at its first boot)."""
    for line in host.exec(["cat", "/etc/inference/api-keys"]).stdout.splitlines():
        if line.strip() and not line.startswith("#"):
            return line.strip()
    raise UserError(f"{host.name}: /etc/inference/api-keys holds no key")


def served_version(host: LocalHost, key: str, timeout: float = 3.0) -> str | None:
    """The version GET / through Caddy reports, or None when it does not answer 200."""
    request = urllib.request.Request(f"http://{host.address}/", headers={"X-API-Key": key})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response).get("version")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def infers(host: LocalHost, key: str, timeout: float = 3.0) -> str:
    """'' when POST /api/infer through Caddy gives the known answer for an iris row; else why not."""
    request = urllib.request.Request(f"http://{host.address}/api/infer", method="POST",
                                     data=json.dumps({"instances": [EXAMPLE_ROW]}).encode(),
                                     headers={"X-API-Key": key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            labels = [p.get("label") for p in json.load(response).get("predictions", [])]
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return "" if labels == [EXAMPLE_LABEL] else f"wrong answer: {labels}"


def _seconds_until(done, timeout: float, interval: float) -> float | None:
    """Seconds until ``done()`` is true, polled every ``interval``; None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if done():
            return time.monotonic() - started
        time.sleep(interval)
    return None


def wait_infers(host: LocalHost, key: str, timeout: float) -> float | None:
    """Seconds until POST /api/infer answers correctly; None after ``timeout``."""
    return _seconds_until(lambda: not infers(host, key), timeout, 0.2)


def wait_version(host: LocalHost, key: str, version: str, timeout: float) -> float | None:
    """Seconds until GET / reports ``version``; None after ``timeout``."""
    return _seconds_until(lambda: served_version(host, key) == version, timeout, 0.1)


def state(host: LocalHost) -> dict:
    return json.loads(host.exec(["cat", "/var/lib/inference/state.json"]).stdout)


def pulls_since(host: LocalHost, since: float) -> list[str]:
    """Images the guest's dockerd pulled since the epoch time ``since``."""
    out = host.exec(["docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time() + 1:.3f}",
                     "--filter", "type=image", "--filter", "event=pull", "--format", "{{.Actor.ID}}"]).stdout
    return out.split()


def plain_restart(host: LocalHost, pinned: str) -> None:
    """The naive update the updater replaces: stop the serving container, pull, start it again."""
    slot = state(host)["active_slot"]
    script = (f"systemctl stop inference@{slot}.service && docker pull --quiet {shlex.quote(pinned)} >/dev/null"
              f" && printf 'IMAGE=%s\\n' {shlex.quote(pinned)} > /var/lib/inference/slot-{slot}.env"
              f" && systemctl start inference@{slot}.service")
    host.exec(script, timeout=600)
