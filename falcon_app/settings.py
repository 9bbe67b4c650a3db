"""Runtime settings, all from the environment (the container's only input)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .model import ModelSpec


class SettingsError(ValueError):
    """A setting has a bad value: the service refuses to start and says which."""


def _int(env, name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _bool(env, name: str, default: bool = False) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _names(env, name: str) -> tuple[str, ...]:
    """A comma-separated list of distinct, non-empty names."""
    raw = env.get(name, "").strip()
    if not raw:
        return ()
    names = tuple(n.strip() for n in raw.split(","))
    if not all(names) or len(set(names)) != len(names):
        raise SettingsError(f"{name}={raw!r}: expected distinct, non-empty names separated by commas")
    return names


def model_from_env(env) -> ModelSpec:
    """The model settings alone (the build's known-answers check has no API keys)."""
    return ModelSpec(path=env.get("MODEL_PATH", "").strip(),
                     model_id=env.get("MODEL_ID", "").strip(),
                     features=_names(env, "MODEL_FEATURES"),
                     classes=_names(env, "MODEL_CLASSES"),
                     intra_op_threads=_int(env, "MODEL_INTRA_OP_THREADS", 1),
                     inter_op_threads=_int(env, "MODEL_INTER_OP_THREADS", 1))


def read_keys_file(path: Path) -> list[str]:
    """One key per line; blank lines and lines starting with # are ignored."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SettingsError(f"API_KEYS_FILE {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class Settings:
    name: str = "inference"
    version: str = __version__
    revision: str = ""
    model: ModelSpec = ModelSpec()       # path empty: the built-in iris model
    known_answers: str = ""              # the model's known answers (JSON); empty: the built-in model's
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    allow_anonymous: bool = False        # only for local experiments: no key needed
    max_body_bytes: int = 1 << 20
    max_batch: int = 256
    log_level: str = "INFO"
    access_log: bool = True              # one JSON line per request on stdout
    metrics_dir: str = ""                # shared by gunicorn workers so /metrics sums them all

    @classmethod
    def from_env(cls, env=None) -> "Settings":
        env = os.environ if env is None else env
        keys = [k.strip() for k in env.get("API_KEYS", "").replace(",", "\n").splitlines() if k.strip()]
        if env.get("API_KEYS_FILE", "").strip():
            keys += read_keys_file(Path(env["API_KEYS_FILE"].strip()))
        settings = cls(
            name=env.get("APP_NAME", "").strip() or cls.name,
            version=env.get("APP_VERSION", "").strip() or __version__,
            revision=env.get("APP_REVISION", "").strip(),
            model=model_from_env(env),
            known_answers=env.get("KNOWN_ANSWERS", "").strip(),
            api_keys=tuple(dict.fromkeys(keys)),
            allow_anonymous=_bool(env, "ALLOW_ANONYMOUS"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", cls.max_body_bytes, minimum=64),
            max_batch=_int(env, "MAX_BATCH", cls.max_batch),
            log_level=(env.get("LOG_LEVEL", "").strip() or cls.log_level).upper(),
            access_log=_bool(env, "ACCESS_LOG", default=True),
            metrics_dir=env.get("METRICS_DIR", "").strip(),
        )
        settings.check()
        return settings

    def check(self) -> None:
        if not self.api_keys and not self.allow_anonymous:
            raise SettingsError("no API keys: set API_KEYS (comma-separated) or API_KEYS_FILE "
                                "(one key per line), or ALLOW_ANONYMOUS=true for a local experiment")
        short = [k for k in self.api_keys if len(k) < 16]
        if short:
            raise SettingsError(f"{len(short)} API key(s) shorter than 16 characters; use long random keys")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"LOG_LEVEL={self.log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
