"""A model's known answers: inputs with the label and probabilities the service must give.

The image carries its model's answers (KNOWN_ANSWERS; the built-in model's by default) and
checks them twice: in its own build, against the model loaded in-process (a model that
answers wrongly never becomes an image), and on a live host, against the running service
(the host spec runs ``python -m falcon_app.model.known_answers --url ...`` in the slot's
container). The same rows give the OpenAPI document its example request.

File format (JSON): {"tolerance": 1e-4, "answers": [{"features": [...], "label": "...",
"probabilities": {"<class>": p, ...}}, ...]}; a bare list of answers takes the default
tolerance; "probabilities" may also be a list in class order. Each answer needs a label,
probabilities or both.

    python -m falcon_app.model.known_answers [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..settings import Settings, SettingsError, model_from_env
from . import load_predictor, predictions
from .base import ModelError

BUILTIN = "iris_known_answers.json"
DEFAULT_TOLERANCE = 1e-4
LIVE_BATCH = 64      # rows per request to a live service


@dataclass(frozen=True)
class Answer:
    features: list[float]
    label: str | None
    probabilities: dict[str, float] | list[float] | None


@dataclass(frozen=True)
class KnownAnswers:
    answers: tuple[Answer, ...]
    tolerance: float
    source: str

    @property
    def instances(self) -> list[list[float]]:
        return [answer.features for answer in self.answers]

    def check_width(self, features: list[str]) -> None:
        """A ModelError unless every answer's row has one value per feature of the model."""
        for i, answer in enumerate(self.answers):
            if len(answer.features) != len(features):
                raise ModelError(f"{self.source}: answers[{i}] has {len(answer.features)} "
                                 f"features; the model takes {len(features)} ({', '.join(features)})")

    def mismatches(self, predictions, classes: list[str]) -> list[str]:
        """Why ``predictions`` (the API's: [{"label", "probabilities": {class: p}}]) are not the
        known answers; empty when they are."""
        if not isinstance(predictions, list) or len(predictions) != len(self.answers):
            return [f"expected {len(self.answers)} predictions, got {str(predictions)[:200]}"]
        found = []
        for answer, got in zip(self.answers, predictions):
            label = got.get("label") if isinstance(got, dict) else None
            probs = got.get("probabilities") if isinstance(got, dict) else None
            if answer.label is not None and label != answer.label:
                found.append(f"{answer.features}: label {label!r}, expected {answer.label!r}")
            if answer.probabilities is not None:
                expected = (answer.probabilities if isinstance(answer.probabilities, dict)
                            else dict(zip(classes, answer.probabilities)))
                if not isinstance(probs, dict) or set(probs) != set(expected) or not all(
                        math.isclose(probs[c], p, abs_tol=self.tolerance) for c, p in expected.items()):
                    found.append(f"{answer.features}: probabilities {probs}, expected {expected} "
                                 f"(tolerance {self.tolerance:g})")
        return found


def parse(text: str, source: str) -> KnownAnswers:
    """The answers in ``text``, or a ModelError saying what is wrong with them."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ModelError(f"{source}: not JSON ({exc})") from None
    if isinstance(doc, list):
        doc = {"answers": doc}
    if not isinstance(doc, dict) or not isinstance(doc.get("answers"), list) or not doc["answers"]:
        raise ModelError(f"{source}: expected an object with a non-empty 'answers' list")
    tolerance = doc.get("tolerance", DEFAULT_TOLERANCE)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 1:
        raise ModelError(f"{source}: tolerance {tolerance!r} must be a number in [0, 1)")
    answers = []
    for i, item in enumerate(doc["answers"]):
        where = f"{source}: answers[{i}]"
        if not isinstance(item, dict):
            raise ModelError(f"{where}: expected an object")
        features, label, probs = item.get("features"), item.get("label"), item.get("probabilities")
        if not isinstance(features, list) or not features or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in features):
            raise ModelError(f"{where}: 'features' must be a non-empty list of numbers")
        if label is None and probs is None:
            raise ModelError(f"{where}: give a 'label', 'probabilities' or both")
        if label is not None and not isinstance(label, str):
            raise ModelError(f"{where}: 'label' must be a string")
        if probs is not None and not (isinstance(probs, (dict, list)) and probs and all(
                isinstance(v, (int, float)) and not isinstance(v, bool)
                for v in (probs.values() if isinstance(probs, dict) else probs))):
            raise ModelError(f"{where}: 'probabilities' must map classes (or list them in order) to numbers")
        answers.append(Answer(features=[float(v) for v in features], label=label, probabilities=probs))
    return KnownAnswers(answers=tuple(answers), tolerance=float(tolerance), source=source)


def load(path: str = "", model_path: str = "") -> KnownAnswers | None:
    """The answers at ``path``; when empty, the built-in model's (no ``model_path``) or None."""
    if not path:
        if model_path:
            return None
        return parse(resources.files(__package__).joinpath(BUILTIN).read_text(), BUILTIN)
    try:
        return parse(Path(path).read_text(), path)
    except OSError as exc:
        raise ModelError(f"{path}: {exc.strerror}") from None


def _live(url: str, api_key: str, path: str, body: dict | None = None):
    """GET (or POST ``body`` to) the running service; its JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url.rstrip('/')}{path}", data=data,
                                     headers={"Content-Type": "application/json", "X-API-Key": api_key})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise ModelError(f"{request.get_method()} {request.full_url}: HTTP {exc.code} {exc.read()[:200]!r}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{request.get_method()} {request.full_url}: {exc}") from None


def check(known: KnownAnswers, url: str = "") -> tuple[str, list[str]]:
    """(model id, mismatches): the model the settings name, loaded here, or the service at ``url``
    (its first API key from the settings)."""
    if url:
        key = Settings.from_env().api_keys[0]
        model = _live(url, key, "/")["model"]
        known.check_width(model["features"])
        rows, got = known.instances, []
        for start in range(0, len(rows), LIVE_BATCH):     # within the service's MAX_BATCH
            got += _live(url, key, "/api/infer", {"instances": rows[start:start + LIVE_BATCH]}).get("predictions") or []
        return model["id"], known.mismatches(got, model["classes"])
    predictor = load_predictor(model_from_env(os.environ))
    known.check_width(predictor.features)
    return predictor.model_id, known.mismatches(predictions(predictor, known.instances), predictor.classes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check the model against its known answers "
                                                 "(settings from the environment, as the service reads them).")
    parser.add_argument("--url", default="", help="check the running service at this address, not the model in-process")
    args = parser.parse_args(argv)
    try:
        known = load(os.environ.get("KNOWN_ANSWERS", "").strip(), os.environ.get("MODEL_PATH", "").strip())
        if known is None:
            raise ModelError("MODEL_PATH names a model but KNOWN_ANSWERS names no answers to check it with")
        model_id, found = check(known, args.url)
    except (ModelError, SettingsError) as exc:
        print(f"known answers: {exc}", file=sys.stderr)
        return 2
    where = args.url or "in-process"
    if found:
        print(f"known answers: model {model_id} ({where}) gives {len(found)} wrong answer(s) "
              f"of {len(known.answers)}: {found[0]}", file=sys.stderr)
        return 1
    print(f"known answers: model {model_id} ({where}) gives all {len(known.answers)} answers of {known.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
