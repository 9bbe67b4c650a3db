"""The known answers for /api/infer: the model's reference predictions, checked from outside.

They are the config's `[app] known_answers` (your model's), else the built-in iris model's,
falcon_app/model/iris_known_answers.json (written by falcon_app/model/train_iris.py from
scikit-learn's predict_proba). The format is falcon_app/model/known_answers.py's, which the
image's build and the host spec check inside; here the file is read as data (the orchestration
imports nothing from the app) and the rows go to the live service in one request.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..config import Config
from ..errors import UserError
from ..paths import APP_DIR
from .checks import KnownAnswer

MODEL_DIR = APP_DIR / "model"
KNOWN_ANSWERS = MODEL_DIR / "iris_known_answers.json"
BUILTIN_MODEL = MODEL_DIR / "iris_softmax.json"
PATH = "/api/infer"
DEFAULT_TOLERANCE = 1e-4
MAX_ROWS = 64      # one request; the service takes up to 256 rows by default


def _read(path: Path):
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read the known answers {path}: {exc}",
                        hint="the [app] known_answers file, or run verify from a full checkout") from None
    doc = {"answers": doc} if isinstance(doc, list) else doc
    answers = doc.get("answers") if isinstance(doc, dict) else None
    if not isinstance(answers, list) or not answers or not all(
            isinstance(a, dict) and isinstance(a.get("features"), list) for a in answers):
        raise UserError(f"known answers {path}: expected {{\"answers\": [{{\"features\": [...], ...}}, ...]}}")
    return doc


def load(config: Config | None = None) -> KnownAnswer:
    """The answers the config names (the built-in model's without a model of your own)."""
    own = config is not None and config.app.model
    path = config.path(config.app.known_answers) if own else KNOWN_ANSWERS
    doc = _read(path)
    answers = doc["answers"][:MAX_ROWS]
    tolerance = float(doc.get("tolerance", DEFAULT_TOLERANCE))
    model_id = (config.app.model_id or doc.get("model_id")) if own else json.loads(BUILTIN_MODEL.read_text())["model_id"]

    def mismatch(body) -> str | None:
        if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
            return f"no 'predictions' list in {str(body)[:120]}"
        if model_id and body.get("model") != model_id:
            return f"the service runs model {body.get('model')!r}; the known answers are for {model_id!r}"
        if len(body["predictions"]) != len(answers):
            return f"{len(body['predictions'])} predictions for {len(answers)} rows"
        for row, got in zip(answers, body["predictions"]):
            if row.get("label") is not None and got.get("label") != row["label"]:
                return f"{row['features']} -> {got.get('label')!r}, expected {row['label']!r}"
            expected, probs = row.get("probabilities"), got.get("probabilities") or {}
            if expected is None:
                continue
            if isinstance(expected, dict):        # by class name
                have, want = [probs.get(c) for c in expected], list(expected.values())
            else:                                 # in class order
                have, want = list(probs.values()), expected
            if len(have) != len(want) or not all(
                    isinstance(a, (int, float)) and math.isclose(a, b, abs_tol=tolerance) for a, b in zip(have, want)):
                return f"{row['features']} -> probabilities {probs}, expected {expected} (tolerance {tolerance:g})"
        return None

    return KnownAnswer(path=PATH, payload={"instances": [row["features"] for row in answers]},
                       mismatch=mismatch, auth_header=lambda key: {"Authorization": f"Bearer {key}"})
