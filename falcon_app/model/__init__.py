"""Predictors: the interface the API uses, and how a ModelSpec (MODEL_PATH and friends) picks one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .base import ModelError, Predictor
from .softmax import SoftmaxPredictor

__all__ = ["ForkSafePredictor", "ModelError", "ModelSpec", "Predictor", "load_predictor", "predictions"]

BUILTIN = "iris_softmax.json"


@dataclass(frozen=True)
class ModelSpec:
    """What to load and how. ``path`` empty: the built-in iris model. ``model_id``, ``features`` and
    ``classes`` override an ONNX model's own metadata (MODEL_ID, MODEL_FEATURES, MODEL_CLASSES);
    the threads are onnxruntime's per session (MODEL_INTRA_OP_THREADS, MODEL_INTER_OP_THREADS)."""

    path: str = ""
    model_id: str = ""
    features: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    intra_op_threads: int = 1
    inter_op_threads: int = 1

    @property
    def overrides(self) -> dict[str, str]:
        """The metadata overrides, in the ONNX metadata's own form (names comma-separated)."""
        named = {"model_id": self.model_id, "features": ",".join(self.features), "classes": ",".join(self.classes)}
        return {key: value for key, value in named.items() if value}


def load_predictor(spec: ModelSpec | str = "") -> Predictor:
    """The built-in model when the path is empty, else the file's (.json softmax or .onnx)."""
    spec = ModelSpec(path=spec) if isinstance(spec, str) else spec
    if not spec.path:
        if spec.overrides:
            raise ModelError("MODEL_ID, MODEL_FEATURES and MODEL_CLASSES need MODEL_PATH (an .onnx model)")
        return SoftmaxPredictor.from_text(resources.files(__package__).joinpath(BUILTIN).read_text())
    path = Path(spec.path)
    if not path.is_file():
        raise ModelError(f"MODEL_PATH {path} is not a file")
    if path.suffix == ".onnx":
        from .onnx_model import OnnxPredictor
        return OnnxPredictor(path, intra_op_threads=spec.intra_op_threads,
                             inter_op_threads=spec.inter_op_threads, overrides=spec.overrides)
    if path.suffix == ".json":
        if spec.overrides:
            raise ModelError(f"MODEL_PATH {path}: a .json model names its own id, features and classes; "
                             "MODEL_ID, MODEL_FEATURES and MODEL_CLASSES apply to .onnx models")
        return SoftmaxPredictor.from_text(path.read_text())
    raise ModelError(f"MODEL_PATH {path}: unknown model format (expected .json or .onnx)")


def predictions(predictor: Predictor, rows) -> list[dict]:
    """What /api/infer answers for ``rows``: per row the likeliest label and every class's probability."""
    classes = predictor.classes
    out = []
    for probs in predictor.predict_proba(rows):
        best = max(range(len(probs)), key=probs.__getitem__)
        out.append({"label": classes[best], "probabilities": dict(zip(classes, probs))})
    return out


class ForkSafePredictor:
    """Loads the model once per process, so gunicorn --preload cannot share it across a fork.

    The master loads it first (a broken model stops the service before any worker
    starts); each worker loads its own copy after the fork (onnxruntime sessions hold
    threads that do not survive fork), normally in gunicorn's post_fork hook.
    """

    def __init__(self, spec: ModelSpec = ModelSpec()):
        self.spec = spec
        self._predictor: Predictor | None = None
        self._pid = 0
        # The copy inherited from the parent is kept, never used: freeing an onnxruntime session
        # in a forked child joins thread-pool threads that live only in the parent, and with
        # intra-op threads > 1 that join never returns (the worker hangs at boot).
        self._inherited: Predictor | None = None

    @property
    def ready(self) -> bool:
        return self._predictor is not None and self._pid == os.getpid()

    def load(self) -> Predictor:
        if not self.ready:
            if self._predictor is not None:
                self._inherited = self._predictor
            self._predictor = load_predictor(self.spec)
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
