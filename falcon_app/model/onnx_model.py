"""ONNX models through onnxruntime (the optional `onnx` extra).

Contract: one float input of shape [batch, n_features] with a dynamic batch axis; an
output of shape [batch, n_classes] holding probabilities (named `probabilities` or
`output_probability`, else the first rank-2 float output). Optional metadata
properties: `model_id`, `classes` and `features` (comma-separated); the service's
settings can override each (ModelSpec.overrides), and must name what the model leaves
open (a symbolic feature or class count).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Sequence

from .base import ModelError

PROBABILITY_OUTPUTS = ("probabilities", "output_probability")


def _import_runtime():
    try:
        import numpy
        import onnxruntime
    except ImportError:
        raise ModelError("MODEL_PATH is an .onnx file but onnxruntime is not installed "
                         "(install the `onnx` extra, or build the image with EXTRAS=onnx)") from None
    return numpy, onnxruntime


class OnnxPredictor:
    def __init__(self, path: Path, intra_op_threads: int = 1, inter_op_threads: int = 1,
                 overrides: Mapping[str, str] | None = None):
        """Threads per session: the default 1/1 suits one gunicorn worker per core (no thread
        fights); benchmarks/model_bench.py measures the alternatives."""
        self._np, ort = _import_runtime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = inter_op_threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"MODEL_PATH {path}: onnxruntime cannot load it: {exc}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 2:
            shapes = ", ".join(f"{i.name} {i.shape}" for i in inputs)
            raise ModelError(f"MODEL_PATH {path}: expected one input of shape [batch, n_features], found {shapes}")
        (entry,) = inputs
        if entry.type != "tensor(float)":
            raise ModelError(f"MODEL_PATH {path}: input {entry.name} is {entry.type}; "
                             "expected a float batch (tensor(float), shape [batch, n_features])")
        if isinstance(entry.shape[0], int):
            raise ModelError(f"MODEL_PATH {path}: input {entry.name} has a fixed batch size of {entry.shape[0]}; "
                             "export it with a dynamic batch axis")
        self._input = entry.name
        output = self._pick_output(path)
        self._output = output.name
        meta = {**self._session.get_modelmeta().custom_metadata_map, **(overrides or {})}
        self.model_id = meta.get("model_id") or path.stem
        self.features = _names(meta, "features", entry.shape[1], path)
        self.classes = _names(meta, "classes", output.shape[1], path)

    def _pick_output(self, path: Path):
        outputs = [o for o in self._session.get_outputs() if o.type == "tensor(float)" and len(o.shape) == 2]
        named = [o for o in outputs if o.name in PROBABILITY_OUTPUTS]
        if not (named or outputs):
            raise ModelError(f"MODEL_PATH {path}: no float output of shape [batch, n_classes]")
        return (named or outputs)[0]

    def predict_proba(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        batch = self._np.asarray(rows, dtype=self._np.float32)
        (probs,) = self._session.run([self._output], {self._input: batch})
        if probs.shape[1] != len(self.classes):     # a symbolic class count, named wrongly
            raise ModelError(f"the model answered {probs.shape[1]} probabilities for {len(self.classes)} classes")
        return probs.astype(float).tolist()


def _names(meta: dict, key: str, count, path: Path) -> list[str]:
    """Names from the metadata entry `key`, else numbered ones (feature_0, class_0, ...)."""
    count = count if isinstance(count, int) else 0
    if meta.get(key):
        names = [n.strip() for n in meta[key].split(",")]
        if count and len(names) != count:
            raise ModelError(f"MODEL_PATH {path}: metadata '{key}' lists {len(names)} names "
                             f"but the model has {count}")
        return names
    if not count:
        raise ModelError(f"MODEL_PATH {path}: the {key} count is not fixed; name them in the model's "
                         f"'{key}' metadata or in the settings (MODEL_{key.upper()})")
    prefix = "class" if key == "classes" else "feature"
    return [f"{prefix}_{i}" for i in range(count)]
