"""verify's known answers: the built-in model's, or the config's for a model of your own."""

import json

import pytest

from inferctl import config
from inferctl.errors import UserError
from inferctl.verify import known

ANSWERS = {"model_id": "mlp-1", "tolerance": 1e-3, "answers": [
    {"features": [1.0, 2.0], "label": "b", "probabilities": {"a": 0.2, "b": 0.8}},
    {"features": [3.0, 4.0], "probabilities": [0.9, 0.1]}]}


def _config(tmp_path, answers) -> config.Config:
    (tmp_path / "answers.json").write_text(answers if isinstance(answers, str) else json.dumps(answers))
    file = tmp_path / "inferctl.toml"
    file.write_text('[app]\nmodel = "model.onnx"\nknown_answers = "answers.json"\n')
    return config.load(file)


def _body(model="mlp-1", first=("b", 0.2, 0.8), second=("a", 0.9, 0.1)):
    return {"model": model, "predictions": [
        {"label": label, "probabilities": {"a": pa, "b": pb}} for label, pa, pb in (first, second)]}


def test_the_configs_answers_are_sent_and_checked(tmp_path):
    answer = known.load(_config(tmp_path, ANSWERS))
    assert answer.payload == {"instances": [[1.0, 2.0], [3.0, 4.0]]}
    assert answer.mismatch(_body()) is None
    assert answer.mismatch(_body(first=("b", 0.2005, 0.7995))) is None           # within the tolerance
    assert "expected 'b'" in answer.mismatch(_body(first=("a", 0.2, 0.8)))
    assert "tolerance 0.001" in answer.mismatch(_body(second=("a", 0.8, 0.2)))  # a list, in class order
    assert "runs model 'iris'" in answer.mismatch(_body(model="iris"))
    assert "1 predictions for 2 rows" in answer.mismatch({"model": "mlp-1", "predictions": [{}]})


def test_without_a_model_the_builtin_answers(tmp_path):
    answer = known.load(config.load(overrides={}))
    assert len(answer.payload["instances"]) == 30
    assert "iris-softmax-v1" in answer.mismatch({"model": "other", "predictions": []})


@pytest.mark.parametrize("text", ["not json", "[]", '{"answers": [{"label": "a"}]}'])
def test_unreadable_answers_are_one_clear_error(tmp_path, text):
    with pytest.raises(UserError, match="known answers"):
        known.load(_config(tmp_path, text))
