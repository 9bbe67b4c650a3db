"""What every predictor is, and the error a bad model file raises."""

from __future__ import annotations

from typing import Protocol, Sequence


class ModelError(ValueError):
    """The model file is missing, unreadable or not a model this service can run."""


class Predictor(Protocol):
    model_id: str
    features: list[str]     # input feature names, in order
    classes: list[str]      # output class labels, in order

    def predict_proba(self, rows: Sequence[Sequence[float]]) -> list[list[float]]:
        """One probability per class for each row."""
