"""The ONNX predictor, on a tiny model built here with the onnx package (the iris
softmax as MatMul + Add + Softmax), so it must agree with the built-in model."""

import builtins

import falcon.testing
import pytest

from falcon_app.app import create_app
from falcon_app.model import ModelError, load_predictor

from app_testkit import KNOWN_ANSWERS, infer
from iris_onnx import build_model


@pytest.fixture
def onnx_path(tmp_path):
    return build_model(tmp_path / "iris.onnx")


def test_matches_the_builtin_model(onnx_path, predictor):
    model = load_predictor(str(onnx_path))
    rows = [case["features"] for case in KNOWN_ANSWERS]
    for got, case in zip(model.predict_proba(rows), KNOWN_ANSWERS):
        assert got == pytest.approx(case["probabilities"], abs=1e-5)    # float32 inside
    assert model.model_id == "iris-onnx"
    assert model.classes == predictor.classes and model.features == predictor.features


def test_numbered_names_without_metadata(tmp_path):
    model = load_predictor(str(build_model(tmp_path / "bare.onnx", metadata=False, output="out")))
    assert model.model_id == "bare"
    assert model.classes == ["class_0", "class_1", "class_2"]
    assert model.features == ["feature_0", "feature_1", "feature_2", "feature_3"]


def test_served_by_the_api(onnx_path, settings):
    client = falcon.testing.TestClient(create_app(settings, load_predictor(str(onnx_path))))
    result = infer(client, {"instances": [[6.3, 3.3, 6.0, 2.5], [5.1, 3.5, 1.4, 0.2]]})
    assert result.status_code == 200
    assert result.json["model"] == "iris-onnx"
    assert [p["label"] for p in result.json["predictions"]] == ["virginica", "setosa"]


def test_rejects_a_model_outside_the_contract(tmp_path):
    with pytest.raises(ModelError, match="one input"):
        load_predictor(str(build_model(tmp_path / "two.onnx", extra_input=True)))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="onnxruntime cannot load it"):
        load_predictor(str(junk))


def test_clear_error_without_onnxruntime(onnx_path, monkeypatch):
    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    with pytest.raises(ModelError, match="onnxruntime is not installed"):
        load_predictor(str(onnx_path))
