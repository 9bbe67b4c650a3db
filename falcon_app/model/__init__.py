"""Predictors: the interface the API uses, and how MODEL_PATH picks one."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from .base import ModelError, Predictor
from .softmax import SoftmaxPredictor

__all__ = ["ForkSafePredictor", "ModelError", "Predictor", "load_predictor"]

BUILTIN = "iris_softmax.json"


def load_predictor(model_path: str = "") -> Predictor:
    """The built-in model when model_path is empty, else the file's (.json softmax or .onnx)."""
    if not model_path:
        return SoftmaxPredictor.from_text(resources.files(__package__).joinpath(BUILTIN).read_text())
    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"MODEL_PATH {path} is not a file")
    if path.suffix == ".onnx":
        from .onnx_model import OnnxPredictor
        return OnnxPredictor(path)
    if path.suffix == ".json":
        return SoftmaxPredictor.from_text(path.read_text())
    raise ModelError(f"MODEL_PATH {path}: unknown model format (expected .json or .onnx)")


class ForkSafePredictor:
    """Loads the model once per process, so gunicorn --preload cannot share it across a fork.

    The master loads it first (a broken model stops the service before any worker
    starts); each worker loads its own copy after the fork (onnxruntime sessions hold
    threads that do not survive fork), normally in gunicorn's post_fork hook.
    """

    def __init__(self, model_path: str = ""):
        self.model_path = model_path
        self._predictor: Predictor | None = None
        self._pid = 0

    @property
    def ready(self) -> bool:
        return self._predictor is not None and self._pid == os.getpid()

    def load(self) -> Predictor:
        if not self.ready:
            self._predictor = load_predictor(self.model_path)
            self._pid = os.getpid()
        return self._predictor

    @property
    def model_id(self) -> str:
        return self.load().model_id

    @property
    def features(self) -> list[str]:
        return self.load().features

    @property
    def classes(self) -> list[str]:
        return self.load().classes

    def predict_proba(self, rows):
        return self.load().predict_proba(rows)
