"""A softmax (multinomial logistic regression) model in pure Python: no numpy needed."""

from __future__ import annotations

import json
import math
from operator import mul
from typing import Sequence

from .base import ModelError


class SoftmaxPredictor:
    def __init__(self, model_id: str, features: list[str], classes: list[str],
                 weights: list[list[float]], bias: list[float]):
        if len(weights) != len(classes) or len(bias) != len(classes):
            raise ModelError(f"softmax model {model_id}: {len(classes)} classes but "
                             f"{len(weights)} weight rows and {len(bias)} biases")
        if any(len(row) != len(features) for row in weights):
            raise ModelError(f"softmax model {model_id}: every weight row needs {len(features)} values")
        self.model_id = model_id
        self.features = features
        self.classes = classes
        self._weights = [tuple(float(w) for w in row) for row in weights]
        self._bias = tuple(float(b) for b in bias)

    @classmethod
    def from_text(cls, text: str) -> "SoftmaxPredictor":
        try:
            params = json.loads(text)
            return cls(params["model_id"], params["features"], params["classes"],
                       params["weights"], params["bias"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"not a softmax model file: {exc!r}") from None

    def predict_proba(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        out = []
        for row in rows:
            logits = [b + sum(map(mul, ws, row)) for ws, b in zip(self._weights, self._bias)]
            top = max(logits)
            exps = [math.exp(z - top) for z in logits]
            total = sum(exps)
            out.append([e / total for e in exps])
        return out
