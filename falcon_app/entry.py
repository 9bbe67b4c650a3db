"""Builds the app from the environment, once per process that imports an entry module."""

from __future__ import annotations

import logging
import sys

from . import logs
from .app import create_app
from .model import ForkSafePredictor, ModelError
from .settings import Settings, SettingsError

PREDICTOR: ForkSafePredictor | None = None


def build(asgi: bool):
    """Settings and model from the environment; a bad value exits with one clear line."""
    global PREDICTOR
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level)
        PREDICTOR = ForkSafePredictor(settings.model)
        PREDICTOR.load()   # fail fast in the master when --preload is on
        app = create_app(settings, PREDICTOR, asgi=asgi)     # reads the known answers
    except (SettingsError, ModelError) as exc:
        print(f"falcon_app: {exc}", file=sys.stderr)
        raise SystemExit(3) from None
    logging.getLogger("falcon_app").info("app built", extra={
        "model": PREDICTOR.model_id, "flavour": "asgi" if asgi else "wsgi", "version": settings.version})
    return app
