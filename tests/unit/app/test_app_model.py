"""The built-in iris model against known answers, and model loading."""

import json
import os

import pytest

from falcon_app.model import ForkSafePredictor, ModelError, load_predictor
from falcon_app.model.softmax import SoftmaxPredictor

from app_testkit import KNOWN_ANSWERS


def test_reproduces_reference_probabilities(predictor):
    """Probabilities equal scikit-learn's predict_proba for the same fitted model."""
    probs = predictor.predict_proba([case["features"] for case in KNOWN_ANSWERS])
    for case, got in zip(KNOWN_ANSWERS, probs):
        assert got == pytest.approx(case["probabilities"], abs=1e-9)
        assert sum(got) == pytest.approx(1.0)


def test_classifies_the_known_samples(predictor):
    """29 of these 30 iris samples are classified as their true species (as in training)."""
    probs = predictor.predict_proba([case["features"] for case in KNOWN_ANSWERS])
    labels = [predictor.classes[p.index(max(p))] for p in probs]
    correct = sum(label == case["true_label"] for label, case in zip(labels, KNOWN_ANSWERS))
    assert correct == 29 and len(KNOWN_ANSWERS) == 30


@pytest.mark.parametrize("features,label", [
    ([5.1, 3.5, 1.4, 0.2], "setosa"),        # Fisher's first sample of each species
    ([7.0, 3.2, 4.7, 1.4], "versicolor"),
    ([6.3, 3.3, 6.0, 2.5], "virginica"),
])
def test_canonical_samples(predictor, features, label):
    (probs,) = predictor.predict_proba([features])
    assert predictor.classes[probs.index(max(probs))] == label
    assert max(probs) > 0.8


def test_metadata(predictor):
    assert predictor.model_id == "iris-softmax-v1"
    assert predictor.classes == ["setosa", "versicolor", "virginica"]
    assert len(predictor.features) == 4


def test_extreme_inputs_stay_finite(predictor):
    (probs,) = predictor.predict_proba([[1e6, -1e6, 1e6, -1e6]])
    assert all(0.0 <= p <= 1.0 for p in probs) and sum(probs) == pytest.approx(1.0)


def test_json_model_file(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"model_id": "two", "features": ["x"], "classes": ["neg", "pos"],
                                "weights": [[-1.0], [1.0]], "bias": [0.0, 0.0]}))
    model = load_predictor(str(path))
    (low,), (high,) = [model.predict_proba([[v]]) for v in (-3.0, 3.0)]
    assert low[0] > 0.99 and high[1] > 0.99


@pytest.mark.parametrize("content,message", [
    ("{", "not a softmax model file"),
    ('{"model_id": "m", "features": ["a"], "classes": ["x", "y"], "weights": [[1]], "bias": [0, 0]}',
     "2 classes but 1 weight rows"),
    ('{"model_id": "m", "features": ["a", "b"], "classes": ["x"], "weights": [[1]], "bias": [0]}',
     "every weight row needs 2 values"),
])
def test_bad_model_files(tmp_path, content, message):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ModelError, match=message):
        load_predictor(str(path))


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(ModelError, match="is not a file"):
        load_predictor(str(tmp_path / "nope.onnx"))
    (tmp_path / "m.pkl").write_bytes(b"x")
    with pytest.raises(ModelError, match="unknown model format"):
        load_predictor(str(tmp_path / "m.pkl"))


def test_fork_safe_predictor_loads_once_per_process(monkeypatch):
    loads = []
    real = SoftmaxPredictor.from_text

    def counting(text):
        loads.append(os.getpid())
        return real(text)

    monkeypatch.setattr(SoftmaxPredictor, "from_text", staticmethod(counting))
    handle = ForkSafePredictor()
    assert not handle.ready
    handle.predict_proba([[5.1, 3.5, 1.4, 0.2]])
    handle.predict_proba([[5.1, 3.5, 1.4, 0.2]])
    assert handle.ready and len(loads) == 1
    pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: pid + 1)   # as seen from a forked worker
    assert not handle.ready
    assert handle.model_id == "iris-softmax-v1"
    assert len(loads) == 2
