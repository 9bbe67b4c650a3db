"""The updater's host paths (each movable with an INFERENCE_UPDATE_* variable, for tests) and its
settings (defaults.env, then inference.env on top)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .envfile import EnvFileError, read_env_files
from .errors import ConfigError
from .schedule import calendar

SPREAD_RE = re.compile(r"^\d+(s|sec|min|m|h)?$")


@dataclass(frozen=True)
class Paths:
    etc: Path = Path("/etc/inference")
    var: Path = Path("/var/lib/inference")
    run: Path = Path("/run/inference")
    lock: Path = Path("/run/lock/inference-update.lock")
    daemon_json: Path = Path("/etc/docker/daemon.json")
    docker_config: Path = Path("/root/.docker/config.json")
    timer_dropin: Path = Path("/etc/systemd/system/inference-update.timer.d/schedule.conf")

    @classmethod
    def from_env(cls, env=os.environ) -> "Paths":
        docker_dir = env.get("DOCKER_CONFIG") or (Path(env.get("HOME", "/root")) / ".docker")
        return cls(
            etc=Path(env.get("INFERENCE_UPDATE_ETC", cls.etc)),
            var=Path(env.get("INFERENCE_UPDATE_VAR", cls.var)),
            run=Path(env.get("INFERENCE_UPDATE_RUN", cls.run)),
            lock=Path(env.get("INFERENCE_UPDATE_LOCK", cls.lock)),
            daemon_json=Path(env.get("INFERENCE_UPDATE_DAEMON_JSON", cls.daemon_json)),
            docker_config=Path(env.get("INFERENCE_UPDATE_DOCKER_CONFIG", Path(docker_dir) / "config.json")),
            timer_dropin=Path(env.get("INFERENCE_UPDATE_TIMER_DROPIN", cls.timer_dropin)),
        )

    @property
    def state(self) -> Path:
        return self.var / "state.json"

    @property
    def active_socket(self) -> Path:
        """What Caddy proxies to: a symlink to the active slot's socket (the switch swaps it)."""
        return self.var / "active.sock"

    def slot_socket(self, slot: str) -> Path:
        """The slot's gunicorn socket (its folder is bind-mounted into the container)."""
        return self.run / f"slot-{slot}" / "app.sock"

    def slot_env(self, slot: str) -> Path:
        return self.var / f"slot-{slot}.env"


def read_env(*files: Path) -> dict[str, str]:
    """The env files' settings (envfile's rules); a line they break is a ConfigError (exit 2)."""
    try:
        return read_env_files(*files)
    except EnvFileError as exc:
        raise ConfigError(str(exc)) from None


@dataclass(frozen=True)
class Settings:
    image: str
    health_timeout: float
    drain_seconds: float
    schedule: str
    spread: str
    api_keys_file: Path
    bad_digests_path: str = ""    # the fleet's record (bad_digests.py); empty: this host decides alone
    pull_timeout: float = 900.0   # a stalled pull fails the run (pull_failed, not bad); the next run retries

    @classmethod
    def load(cls, paths: Paths) -> "Settings":
        """defaults.env (baked), then inference.env (user-data / local deploy) overrides it."""
        defaults = paths.etc / "defaults.env"
        if not defaults.exists():
            raise ConfigError(f"{defaults} is missing (the image bakes it)")
        override = paths.etc / "inference.env"
        values = read_env(defaults, override)
        image = values.get("INFERENCE_IMAGE", "")
        if not image:
            raise ConfigError(f"INFERENCE_IMAGE is not set in {defaults} or {override}")
        schedule = values.get("UPDATE_SCHEDULE", "") or "hourly"
        calendar(schedule)                      # a ConfigError here names what is wrong
        spread = values.get("UPDATE_SPREAD", "") or "15min"
        if not SPREAD_RE.match(spread):
            raise ConfigError(f"UPDATE_SPREAD={spread!r} is not a time span like 900s, 15min or 1h")
        return cls(image=image,
                   health_timeout=_seconds(values, "HEALTH_TIMEOUT", 90),
                   drain_seconds=_seconds(values, "DRAIN_SECONDS", 3),
                   schedule=schedule, spread=spread,
                   api_keys_file=Path(values.get("API_KEYS_FILE") or paths.etc / "api-keys"),
                   bad_digests_path=values.get("BAD_DIGESTS_PATH", ""),
                   pull_timeout=_seconds(values, "PULL_TIMEOUT", 900))


def _seconds(values: dict[str, str], key: str, default: float) -> float:
    raw = values.get(key, "") or str(default)
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number of seconds") from None
    if number < 0:
        raise ConfigError(f"{key}={raw!r} must not be negative")
    return number
