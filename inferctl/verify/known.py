"""The known answer for /api/infer: the built-in iris model's reference predictions.

They live with the model, falcon_app/model/iris_known_answers.json (written by
falcon_app/model/train_iris.py from scikit-learn's predict_proba); the app's unit tests check
the predictor against the same file. verify sends one row of each class in one request. Both
files are read as data: the orchestration imports nothing from the app.
"""

from __future__ import annotations

import json
import math

from ..errors import UserError
from ..paths import APP_DIR
from .checks import KnownAnswer

MODEL_DIR = APP_DIR / "model"
KNOWN_ANSWERS = MODEL_DIR / "iris_known_answers.json"
BUILTIN_MODEL = MODEL_DIR / "iris_softmax.json"
PATH = "/api/infer"
TOLERANCE = 1e-6


def builtin_model_id() -> str:
    return json.loads(BUILTIN_MODEL.read_text())["model_id"]


def load() -> KnownAnswer:
    try:
        rows = json.loads(KNOWN_ANSWERS.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the known answers {KNOWN_ANSWERS}: {exc}",
                        hint="run verify from a full checkout of the repository") from None
    picked = list({row["label"]: row for row in rows}.values())  # one row per class
    model_id = builtin_model_id()

    def mismatch(body) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
            return f"no 'predictions' list in {str(body)[:120]}"
        if body.get("model") != model_id:
            return f"the service runs model {body.get('model')!r}; the known answer is for {model_id!r}"
        if len(body["predictions"]) != len(picked):
            return f"{len(body['predictions'])} predictions for {len(picked)} rows"
        for row, got in zip(picked, body["predictions"]):
            if got.get("label") != row["label"]:
                return f"{row['features']} -> {got.get('label')!r}, expected {row['label']!r}"
            probs = list((got.get("probabilities") or {}).values())
            if len(probs) != len(row["probabilities"]) or not all(
                    math.isclose(a, b, abs_tol=TOLERANCE) for a, b in zip(probs, row["probabilities"])):
                return f"{row['features']} -> probabilities {probs}, expected {row['probabilities']}"
        return None

    return KnownAnswer(path=PATH, payload={"instances": [row["features"] for row in picked]},
                       mismatch=mismatch, auth_header=lambda key: {"Authorization": f"Bearer {key}"})
