"""A model of your own: the ONNX contract's errors, metadata overrides, known answers (the
build's gate and the live self-check), and the OpenAPI example taken from them."""

import json
import types

import falcon.testing
import pytest

from falcon_app import openapi
from falcon_app.app import create_app
from falcon_app.model import ModelError, ModelSpec, load_predictor
from falcon_app.model import known_answers
from falcon_app.settings import Settings, SettingsError

from app_testkit import KEY, KNOWN_ANSWERS, infer
from iris_onnx import build_model


def _int64_model(path):
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
         helper.make_node("Softmax", ["xf"], ["probabilities"], axis=1)], "ints",
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["batch", 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_a_model_whose_input_is_not_a_float_batch_is_refused(tmp_path):
    with pytest.raises(ModelError, match=r"input x is tensor\(int64\); expected a float batch"):
        load_predictor(str(_int64_model(tmp_path / "ints.onnx")))
    with pytest.raises(ModelError, match="fixed batch size of 1; export it with a dynamic batch axis"):
        load_predictor(str(build_model(tmp_path / "one.onnx", batch=1)))


def test_config_names_override_the_models_metadata(tmp_path):
    path = str(build_model(tmp_path / "iris.onnx"))
    model = load_predictor(ModelSpec(path=path, model_id="mine", features=("a", "b", "c", "d"),
                                     classes=("x", "y", "z")))
    assert (model.model_id, model.features, model.classes) == ("mine", ["a", "b", "c", "d"], ["x", "y", "z"])
    with pytest.raises(ModelError, match="'classes' lists 2 names but the model has 3"):
        load_predictor(ModelSpec(path=path, classes=("x", "y")))
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(ModelError, match="apply to .onnx models"):
        load_predictor(ModelSpec(path=str(tmp_path / "m.json"), model_id="x"))
    with pytest.raises(ModelError, match="need MODEL_PATH"):
        load_predictor(ModelSpec(model_id="x"))


def test_an_open_width_needs_names(tmp_path):
    path = str(build_model(tmp_path / "open.onnx", metadata=False, width="n"))
    with pytest.raises(ModelError, match="features count is not fixed"):
        load_predictor(path)
    model = load_predictor(ModelSpec(path=path, features=("a", "b", "c", "d")))
    assert model.features == ["a", "b", "c", "d"] and len(model.predict_proba([[1, 2, 3, 4]])[0]) == 3


def test_a_class_count_the_names_miss_fails_the_prediction(tmp_path):
    """An output width only known at run time, named wrongly: an error, never a silent zip."""
    model = load_predictor(str(build_model(tmp_path / "iris.onnx")))
    model.classes = ["x", "y"]
    with pytest.raises(ModelError, match="3 probabilities for 2 classes"):
        model.predict_proba([[1, 2, 3, 4]])


def test_model_settings_from_the_environment():
    env = {"ALLOW_ANONYMOUS": "true", "MODEL_PATH": "/m.onnx", "MODEL_ID": "m1", "MODEL_FEATURES": "a, b",
           "MODEL_CLASSES": "x,y", "MODEL_INTRA_OP_THREADS": "2", "KNOWN_ANSWERS": "/a.json"}
    settings = Settings.from_env(env)
    assert settings.model == ModelSpec(path="/m.onnx", model_id="m1", features=("a", "b"), classes=("x", "y"),
                                       intra_op_threads=2)
    assert settings.known_answers == "/a.json"
    for bad in ({"MODEL_FEATURES": "a,,b"}, {"MODEL_CLASSES": "x,x"}, {"MODEL_INTRA_OP_THREADS": "0"}):
        with pytest.raises(SettingsError):
            Settings.from_env({"ALLOW_ANONYMOUS": "true", **bad})


# --- known answers --------------------------------------------------------------------------

ANSWERS = {"tolerance": 1e-4, "answers": [
    {"features": KNOWN_ANSWERS[0]["features"], "label": KNOWN_ANSWERS[0]["label"],
     "probabilities": dict(zip(["setosa", "versicolor", "virginica"], KNOWN_ANSWERS[0]["probabilities"]))},
    {"features": KNOWN_ANSWERS[-1]["features"], "label": KNOWN_ANSWERS[-1]["label"]}]}


@pytest.mark.parametrize("text,problem", [
    ("nope", "not JSON"),
    ("[]", "non-empty 'answers' list"),
    ('{"answers": [{"features": [1], "label": "a"}], "tolerance": 2}', "tolerance 2 must be"),
    ('{"answers": [{"features": [], "label": "a"}]}', r"answers\[0\]: 'features' must be"),
    ('{"answers": [{"features": [1, true], "label": "a"}]}', r"answers\[0\]: 'features' must be"),
    ('{"answers": [{"features": [1]}]}', r"answers\[0\]: give a 'label', 'probabilities' or both"),
    ('{"answers": [{"features": [1], "probabilities": {"a": "x"}}]}', "'probabilities' must map"),
])
def test_malformed_answers_say_what_is_wrong(text, problem):
    with pytest.raises(ModelError, match=problem):
        known_answers.parse(text, "a.json")


def test_answers_catch_a_wrong_label_and_a_wrong_probability(predictor):
    known = known_answers.parse(json.dumps(ANSWERS), "a.json")
    from falcon_app.model import predictions
    got = predictions(predictor, known.instances)
    assert known.mismatches(got, predictor.classes) == []
    wrong_label = [dict(got[0]), {**got[1], "label": "setosa"}]
    assert "label 'setosa'" in known.mismatches(wrong_label, predictor.classes)[0]
    shifted = [{**got[0], "probabilities": {c: p + 2e-4 for c, p in got[0]["probabilities"].items()}}, got[1]]
    assert "tolerance 0.0001" in known.mismatches(shifted, predictor.classes)[0]
    assert "expected 2 predictions" in known.mismatches(got[:1], predictor.classes)[0]
    with pytest.raises(ModelError, match=r"answers\[0\] has 4 features; the model takes 8"):
        known.check_width([f"f{i}" for i in range(8)])


def test_the_check_command_in_process(tmp_path, monkeypatch, capsys):
    model = build_model(tmp_path / "iris.onnx")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(ANSWERS))
    monkeypatch.setenv("MODEL_PATH", str(model))
    monkeypatch.setenv("KNOWN_ANSWERS", str(good))
    assert known_answers.main([]) == 0
    assert "gives all 2 answers" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"answers": [{**ANSWERS["answers"][0], "label": "virginica"}]}))
    monkeypatch.setenv("KNOWN_ANSWERS", str(bad))
    assert known_answers.main([]) == 1
    assert "1 wrong answer(s) of 1" in capsys.readouterr().err
    monkeypatch.delenv("KNOWN_ANSWERS")
    assert known_answers.main([]) == 2
    assert "KNOWN_ANSWERS names no answers" in capsys.readouterr().err


def test_the_check_command_against_a_live_service(tmp_path, monkeypatch, capsys, predictor):
    """--url: the running service's answers (here the real app under gunicorn, on loopback)."""
    from inferctl.app_serve import running
    good = tmp_path / "good.json"
    good.write_text(json.dumps(ANSWERS))
    with running(workers=1, API_KEYS=KEY) as (url, _):
        monkeypatch.setenv("API_KEYS", KEY)
        monkeypatch.setenv("KNOWN_ANSWERS", str(good))
        assert known_answers.main(["--url", url]) == 0
        many = tmp_path / "many.json"            # more rows than one request may carry
        many.write_text(json.dumps({"tolerance": 1e-6, "answers": KNOWN_ANSWERS * 10}))
        monkeypatch.setenv("KNOWN_ANSWERS", str(many))
        assert known_answers.main(["--url", url]) == 0
        assert "gives all 300 answers" in capsys.readouterr().out
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"answers": [{**ANSWERS["answers"][0], "label": "virginica"}]}))
        monkeypatch.setenv("KNOWN_ANSWERS", str(bad))
        assert known_answers.main(["--url", url]) == 1
    assert f"({url}) gives 1 wrong answer(s)" in capsys.readouterr().err


def test_openapi_example_is_a_row_the_model_takes(tmp_path, predictor):
    settings = Settings(api_keys=(KEY,))
    assert openapi.example_rows(settings, predictor) == [KNOWN_ANSWERS[0]["features"]]
    wide = types.SimpleNamespace(features=[f"f{i}" for i in range(6)])    # a model without answers
    assert openapi.example_rows(Settings(api_keys=(KEY,), model=ModelSpec(path="x.onnx")), wide) == [[0.0] * 6]
    client = falcon.testing.TestClient(create_app(settings, predictor))
    example = client.simulate_get("/openapi.json", headers={"X-API-Key": KEY}).json[
        "paths"]["/api/infer"]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert infer(client, example).status_code == 200


def test_a_forked_worker_reloads_a_multithreaded_model_without_hanging(tmp_path):
    """gunicorn --preload: the master's session is inherited by each worker, which loads its own.
    Freeing the inherited one in the child hangs onnxruntime (intra-op threads > 1): it is kept."""
    import os
    import signal
    import time

    from falcon_app.model import ForkSafePredictor
    predictor = ForkSafePredictor(ModelSpec(path=str(build_model(tmp_path / "iris.onnx")), intra_op_threads=2))
    predictor.predict_proba([[1, 2, 3, 4]])          # the master's session, its threads started
    pid = os.fork()
    if pid == 0:                                      # the worker
        try:
            predictor.load()
            predictor.predict_proba([[1, 2, 3, 4]])
        finally:
            os._exit(0 if predictor.ready else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked worker hung reloading the model")
