"""examples/make_mlp.py: the model it writes loads in the service's ONNX predictor and gives
the known answers it wrote (computed by numpy, not onnxruntime), and the same seed gives
the same bytes."""

import json
import time

import pytest

from falcon_app.model.onnx_model import OnnxPredictor
from inferctl.paths import REPO

import by_path

TINY = dict(features=5, classes=4, hidden=(16,), epochs=50, seed=3, answers=8)
BENCHMARK = dict(features=64, classes=10, hidden=(512, 512, 512), epochs=0, seed=0, answers=1)


make_mlp = by_path.load("make_mlp", REPO / "examples" / "make_mlp.py")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    model_path, answers_path = make_mlp.build(tmp_path_factory.mktemp("tiny"), **TINY)
    return OnnxPredictor(model_path), json.loads(answers_path.read_text())


def test_the_predictor_gives_the_known_answers(tiny):
    model, known = tiny
    assert len(known["answers"]) == TINY["answers"]
    assert {case["label"] for case in known["answers"]} == set(model.classes)     # every class covered
    got = model.predict_proba([case["features"] for case in known["answers"]])
    for probs, case in zip(got, known["answers"]):
        assert model.classes[probs.index(max(probs))] == case["label"]
        expected = [case["probabilities"][c] for c in model.classes]
        assert probs == pytest.approx(expected, abs=known["tolerance"])


def test_metadata_names(tiny):
    model, known = tiny
    assert model.model_id == known["model_id"] and model.model_id.startswith("example-mlp-")
    assert model.features == [f"sensor_{i}" for i in range(TINY["features"])]
    assert model.classes == ["alpha", "bravo", "charlie", "delta"]


def test_same_seed_same_bytes(tmp_path):
    first = make_mlp.build(tmp_path / "a", **TINY)
    second = make_mlp.build(tmp_path / "b", **TINY)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = make_mlp.build(tmp_path / "c", **dict(TINY, seed=4))
    assert other[0].read_bytes() != first[0].read_bytes()


def test_benchmark_configuration_is_a_few_megabytes(tmp_path):
    started = time.monotonic()
    model_path, _ = make_mlp.build(tmp_path, **BENCHMARK)
    if time.monotonic() - started > 3:
        pytest.skip("building the benchmark model took over 3 s on this machine")
    assert 1e6 <= model_path.stat().st_size <= 10e6
